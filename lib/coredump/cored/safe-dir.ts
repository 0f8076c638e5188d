/**
 * A directory cored writes into, held open by fd so every later open is
 * relative to the directory it checked, like openat(2): names are resolved
 * through /proc/self/fd/N (the directory itself, not a path that could be
 * swapped), opened with O_NOFOLLOW | O_EXCL so a planted symlink or FIFO
 * makes the open fail instead of redirecting a root-owned write
 * (apport CVE-2019-11482, CVE-2020-8833; ABRT CVE-2015-1869).
 */
import fs from 'node:fs';
import path from 'node:path';
import { fromNodeError } from '../../errors';

const { O_WRONLY, O_CREAT, O_EXCL, O_NOFOLLOW, O_RDONLY, O_DIRECTORY, O_APPEND, O_NONBLOCK } = fs.constants;

export class SafeDir {
  private constructor(
    readonly path: string,
    readonly fd: number,
  ) {}

  /** Opens (creating it 0700 if missing) a directory whose last component must not be a symlink. */
  static open(dir: string, create = true): SafeDir {
    if (!path.isAbsolute(dir)) throw new TypeError(`directory must be absolute: ${dir}`);
    if (create) {
      try {
        fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
      } catch (err) {
        throw fromNodeError(err, { path: dir });
      }
    }
    let fd: number;
    try {
      fd = fs.openSync(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW);
    } catch (err) {
      throw fromNodeError(err, { path: dir });
    }
    return new SafeDir(dir, fd);
  }

  /** The path that reaches `name` inside the held directory. */
  at(name: string): string {
    if (name.includes('/') || name === '.' || name === '..' || name === '') throw new RangeError(`bad file name ${JSON.stringify(name)}`);
    return `/proc/self/fd/${this.fd}/${name}`;
  }

  /** What to show people. */
  shown(name: string): string {
    return path.join(this.path, name);
  }

  /** A new file, root's only (mode 0600): fails with EEXIST on anything already there, symlinks and FIFOs included. */
  createExclusive(name: string, mode = 0o600): number {
    try {
      // O_NONBLOCK: should a FIFO appear anyway, open must not wait for a reader.
      return fs.openSync(this.at(name), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_NONBLOCK, mode);
    } catch (err) {
      throw fromNodeError(err, { path: this.shown(name) });
    }
  }

  /** Appends one line to a log file in the directory (never through a symlink). */
  appendLine(name: string, line: string): void {
    let fd: number;
    try {
      fd = fs.openSync(this.at(name), O_WRONLY | O_CREAT | O_APPEND | O_NOFOLLOW | O_NONBLOCK, 0o600);
    } catch (err) {
      throw fromNodeError(err, { path: this.shown(name) });
    }
    try {
      if (!fs.fstatSync(fd).isFile()) throw new Error(`${this.shown(name)} is not a regular file`);
      fs.writeSync(fd, line.endsWith('\n') ? line : `${line}\n`);
    } finally {
      fs.closeSync(fd);
    }
  }

  /** Reads a regular file in the directory without following symlinks; undefined if missing. */
  readFile(name: string): Buffer | undefined {
    let fd: number;
    try {
      fd = fs.openSync(this.at(name), O_RDONLY | O_NOFOLLOW | O_NONBLOCK);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw fromNodeError(err, { path: this.shown(name) });
    }
    try {
      if (!fs.fstatSync(fd).isFile()) throw new Error(`${this.shown(name)} is not a regular file`);
      return fs.readFileSync(fd);
    } finally {
      fs.closeSync(fd);
    }
  }

  rename(from: string, to: string): void {
    try {
      fs.renameSync(this.at(from), this.at(to));
    } catch (err) {
      throw fromNodeError(err, { path: this.shown(to) });
    }
  }

  unlink(name: string): void {
    try {
      fs.unlinkSync(this.at(name));
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw fromNodeError(err, { path: this.shown(name) });
    }
  }

  list(): string[] {
    return fs.readdirSync(`/proc/self/fd/${this.fd}`);
  }

  lstat(name: string): fs.Stats | undefined {
    try {
      return fs.lstatSync(this.at(name));
    } catch {
      return undefined;
    }
  }

  /** Bytes free for root and the filesystem's size. */
  space(): { free: number; total: number } {
    const s = fs.statfsSync(`/proc/self/fd/${this.fd}`);
    return { free: s.bfree * s.bsize, total: s.blocks * s.bsize };
  }

  close(): void {
    fs.closeSync(this.fd);
  }
}
