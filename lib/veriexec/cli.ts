#!/usr/bin/env node
/**
 * veriexec gen DIR... -o FILE [--algorithm sha256|sha512] [--jobs N] [--json]
 * veriexec check -f FILE [PATH...] [--json]
 * veriexec query -f FILE PATH... [--json]
 * veriexec enforce -f FILE [--level 0..3] [--watch PATH]... [--fail open|closed] [--socket PATH] [--cache N] [--json]
 *
 * gen: fingerprint the executables, scripts and libraries beneath DIRs into
 * FILE (and FILE.pages), re-reading only what changed since the last run.
 * check: the listed files on disk against FILE (exit 1 if any differs).
 * query: what FILE says of PATH, and whether the file on disk matches.
 * enforce: a daemon deciding every exec and open on the filesystems of the
 * listed files (or of --watch PATHs) against FILE at a strict level (policy.ts);
 * one line per denial on stderr (a JSON record on stdout with --json);
 * SIGHUP reads FILE again, SIGTERM/SIGINT end it.
 * mount: SRC served read-only at MNT, every page the kernel loads from it
 * checked against FILE's page digests (EIO, SIGBUS for a mapped page, and a
 * log line when one does not match); a file changed in SRC loses its cached
 * pages at once; in the foreground until SIGTERM/SIGINT.
 * status: what this kernel gives veriexec (fanotify, FUSE, fs-verity), and
 * the verifying mounts in place.
 */
import fs from 'node:fs';
import path from 'node:path';
import { packageVersion, parseCommandLine, UsageError } from '../cli-args';
import { type CheckResult, checkAll, checkFile } from './check';
import { ALGORITHMS, type Algorithm } from './fingerprint';
import { verityOf } from './fsverity';
import { FSTYPE, mountVerified } from './fuse';
import { generate } from './gen';
import { tablePageVerifier } from './page-verifier';
import { libc } from '../native';
import { mounts } from '../procfs';
import { type FailMode, denialLine, guard } from './guard';
import { LEVELS, type Level, tableDecider } from './policy';
import { formatEntry } from './signatures';
import { VeriexecTable } from './table';

const USAGE = `usage: veriexec gen DIR... -o FILE [--algorithm ${ALGORITHMS.join('|')}] [--jobs N] [--json]
       veriexec check -f FILE [PATH...] [--json]
       veriexec query -f FILE PATH... [--json]
       veriexec enforce -f FILE [--level 0..3] [--watch PATH]... [--fail open|closed] [--socket PATH] [--cache N] [--json]
       veriexec mount -f FILE SRC MNT [--unlisted deny|read] [--json]
       veriexec status [-f FILE] [--json]`;

const OPTIONS = {
  output: { type: 'string', short: 'o' },
  file: { type: 'string', short: 'f' },
  algorithm: { type: 'string' },
  jobs: { type: 'string' },
  json: { type: 'boolean' },
  level: { type: 'string' },
  watch: { type: 'string', multiple: true },
  fail: { type: 'string' },
  socket: { type: 'string' },
  cache: { type: 'string' },
  unlisted: { type: 'string' },
  help: { type: 'boolean', short: 'h' },
  version: { type: 'boolean' },
} as const;

type Command =
  | { name: 'gen'; roots: string[]; output: string; algorithm: Algorithm; jobs?: number; json: boolean }
  | { name: 'check'; file: string; paths: string[]; json: boolean }
  | { name: 'query'; file: string; paths: string[]; json: boolean }
  | { name: 'enforce'; file: string; level: Level; watch: string[]; failMode: FailMode; socket?: string; cacheSize?: number; json: boolean }
  | { name: 'mount'; file: string; source: string; mountpoint: string; unlisted: 'deny' | 'read'; json: boolean }
  | { name: 'status'; file?: string; json: boolean };

function parse(argv: string[]): Command {
  const { values, positionals } = parseCommandLine(argv, OPTIONS, { positionals: Number.POSITIVE_INFINITY });
  if (values.help) {
    process.stdout.write(`${USAGE}\n`);
    process.exit(0);
  }
  if (values.version) {
    process.stdout.write(`veriexec (hostkit) ${packageVersion()}\n`);
    process.exit(0);
  }
  const [name, ...rest] = positionals;
  const json = values.json === true;
  if (name === 'gen') {
    if (rest.length === 0) throw new UsageError('gen: name at least one directory');
    if (!values.output) throw new UsageError('gen: -o FILE is needed');
    const algorithm = (values.algorithm ?? 'sha256') as Algorithm;
    if (!ALGORITHMS.includes(algorithm)) throw new UsageError(`--algorithm: ${JSON.stringify(values.algorithm)} is not one of ${ALGORITHMS.join(', ')}`);
    let jobs: number | undefined;
    if (values.jobs !== undefined) {
      jobs = Number(values.jobs);
      if (!Number.isInteger(jobs) || jobs < 1 || jobs > 256)
        throw new UsageError(`--jobs takes a whole number from 1 to 256, not ${JSON.stringify(values.jobs)}`);
    }
    return { name, roots: rest, output: values.output, algorithm, jobs, json };
  }
  if (name === 'check' || name === 'query') {
    if (!values.file) throw new UsageError(`${name}: -f FILE is needed`);
    if (name === 'query' && rest.length === 0) throw new UsageError('query: name a path');
    return { name, file: values.file, paths: rest, json };
  }
  if (name === 'enforce') {
    if (!values.file) throw new UsageError('enforce: -f FILE is needed');
    if (rest.length > 0) throw new UsageError(`enforce takes no arguments, got ${rest.join(' ')}`);
    const level = Number(values.level ?? '1') as Level;
    if (!LEVELS.includes(level)) throw new UsageError(`--level takes 0, 1, 2 or 3, not ${JSON.stringify(values.level)}`);
    const failMode = (values.fail ?? 'open') as FailMode;
    if (failMode !== 'open' && failMode !== 'closed') throw new UsageError(`--fail takes open or closed, not ${JSON.stringify(values.fail)}`);
    let cacheSize: number | undefined;
    if (values.cache !== undefined) {
      cacheSize = Number(values.cache);
      if (!Number.isInteger(cacheSize) || cacheSize < 0)
        throw new UsageError(`--cache takes a number of verdicts (0: none), not ${JSON.stringify(values.cache)}`);
    }
    return { name, file: values.file, level, watch: values.watch ?? [], failMode, socket: values.socket, cacheSize, json };
  }
  if (name === 'mount') {
    if (!values.file) throw new UsageError('mount: -f FILE is needed');
    if (rest.length !== 2) throw new UsageError('mount: name SRC and MNT');
    const unlisted = (values.unlisted ?? 'deny') as 'deny' | 'read';
    if (unlisted !== 'deny' && unlisted !== 'read') throw new UsageError(`--unlisted takes deny or read, not ${JSON.stringify(values.unlisted)}`);
    return { name, file: values.file, source: rest[0]!, mountpoint: rest[1]!, unlisted, json };
  }
  if (name === 'status') {
    if (rest.length > 0) throw new UsageError(`status takes no arguments, got ${rest.join(' ')}`);
    return { name, file: values.file, json };
  }
  throw new UsageError(name === undefined ? 'no command given' : `unknown command ${JSON.stringify(name)}`);
}

async function mount(command: Extract<Command, { name: 'mount' }>): Promise<void> {
  const table = VeriexecTable.load(command.file);
  const source = fs.realpathSync(command.source);
  const verity = verityOf(source);
  const mounted = await mountVerified({
    source,
    mountpoint: command.mountpoint,
    verifier: tablePageVerifier(table, source, { unlisted: command.unlisted }),
    log: {
      denied(record) {
        const line = `veriexec: refused ${record.page === undefined ? 'open' : `page ${record.page}`} of ${JSON.stringify(record.path)}${record.pid ? ` for pid ${record.pid}` : ''}: ${record.reason}`;
        process.stderr.write(`${line}\n`);
        if (command.json) process.stdout.write(`${JSON.stringify({ event: 'denied', ...record })}\n`);
      },
    },
  });
  // A file changed in the source loses its cached pages at once (FUSE_NOTIFY_INVAL_INODE, mapped pages
  // included): the next page anyone touches is read, and checked, again.
  const watcher = fs.watch(source, { recursive: true }, (_event, name) => {
    if (!name) return;
    const rel = name.toString();
    mounted.evict(rel).then(
      (had) => {
        if (had && command.json) process.stdout.write(`${JSON.stringify({ event: 'evicted', path: rel })}\n`);
      },
      (err: Error) => process.stderr.write(`veriexec: could not evict ${JSON.stringify(rel)}: ${err.message}\n`),
    );
  });
  const kernel =
    verity.state === 'supported'
      ? 'fs-verity is available on the source: files with verity enabled are checked by the kernel as well'
      : `no fs-verity on the source (${verity.errno || 'unknown'}): pages are checked here`;
  process.stderr.write(`veriexec: ${source} verified at ${mounted.mountpoint} against ${command.file} (${table.size} files); ${kernel}\n`);
  await new Promise<void>((resolve) => {
    for (const sig of ['SIGTERM', 'SIGINT', 'SIGHUP'] as const) process.once(sig, () => resolve());
  });
  watcher.close();
  const stats = mounted.stats();
  await mounted.unmount();
  process.stderr.write(`veriexec: unmounted ${mounted.mountpoint}: ${stats.pagesChecked} pages checked, ${stats.pagesRefused} refused\n`);
}

function status(command: Extract<Command, { name: 'status' }>): void {
  const table = command.file ? VeriexecTable.load(command.file) : undefined;
  const report = {
    table: table ? { file: table.file, files: table.size } : null,
    fanotify: fanotifyPermissionEvents(),
    fuse: fs.existsSync('/dev/fuse'),
    fsVerity: (table ? filesystemsOf(table) : ['/']).map((d) => ({ path: d, ...verityOf(d) })),
    mounts: verifiedMounts(),
  };
  if (command.json) {
    process.stdout.write(`${JSON.stringify(report, null, 2)}\n`);
    return;
  }
  const lines = [
    report.table ? `table:      ${report.table.file}, ${report.table.files} files` : 'table:      none given (-f FILE)',
    `fanotify:   ${report.fanotify === 'ok' ? 'permission events available (enforce)' : `no permission events: ${report.fanotify}`}`,
    `fuse:       ${report.fuse ? '/dev/fuse present (mount)' : 'no /dev/fuse: no verifying mount'}`,
    ...report.fsVerity.map((v) => `fs-verity:  ${v.path}: ${v.state}${v.errno ? ` (${v.errno})` : ''}`),
    ...(report.mounts.length ? report.mounts.map((m) => `mounted:    ${m}`) : ['mounted:    no verifying mount']),
  ];
  process.stdout.write(`${lines.join('\n')}\n`);
}

/** Whether this process may open a fanotify group for permission events: 'ok', or the errno that says why not. */
function fanotifyPermissionEvents(): string {
  const FAN_CLASS_CONTENT = 0x4;
  const FAN_CLOEXEC = 0x1;
  try {
    libc().close(libc().fanotifyInit(FAN_CLASS_CONTENT | FAN_CLOEXEC, fs.constants.O_RDONLY));
    return 'ok';
  } catch (err) {
    return (err as NodeJS.ErrnoException).code ?? 'error';
  }
}

/** Mount points of verifying filesystems (fuse.hostkit-veriexec) in this mount namespace. */
function verifiedMounts(): string[] {
  return mounts()
    .filter((m) => m.type === FSTYPE)
    .map((m) => m.mountPoint);
}

/** One directory of listed files per filesystem they live on (a directory that is gone has nothing to mark or ask). */
function filesystemsOf(table: VeriexecTable): string[] {
  const byDevice = new Map<number, string>();
  for (const dir of new Set([...table.all()].map((e) => path.dirname(e.path)))) {
    try {
      const dev = fs.statSync(dir).dev;
      if (!byDevice.has(dev)) byDevice.set(dev, dir);
    } catch {
      // gone
    }
  }
  return [...byDevice.values()];
}

/** The filesystems to mark: those of the --watch paths, else those of the listed files. */
function watchedPaths(table: VeriexecTable, watch: string[]): string[] {
  return watch.length > 0 ? watch : filesystemsOf(table);
}

async function enforce(command: Extract<Command, { name: 'enforce' }>): Promise<void> {
  let table = VeriexecTable.load(command.file);
  let decider = tableDecider(table, command.level);
  const paths = watchedPaths(table, command.watch);
  if (paths.length === 0) throw new UsageError(`enforce: ${command.file} lists no file that exists, and no --watch was given`);
  const running = await guard({
    paths,
    decider: { decide: (event) => decider.decide(event) },
    failMode: command.failMode,
    socket: command.socket,
    cacheSize: command.cacheSize,
    log: (record) => {
      process.stderr.write(`${denialLine(record)}\n`);
      if (command.json) process.stdout.write(`${JSON.stringify(record)}\n`);
    },
  });
  process.stderr.write(
    `veriexec: enforcing ${command.file} (${table.size} files) at level ${command.level} on ${paths.join(', ')}; fail ${command.failMode}\n`,
  );
  process.on('SIGHUP', () => {
    try {
      table = VeriexecTable.load(command.file);
      decider = tableDecider(table, command.level);
      running.clearCache();
      process.stderr.write(`veriexec: reloaded ${command.file} (${table.size} files)\n`);
    } catch (err) {
      process.stderr.write(`veriexec: reload failed, keeping the old table: ${(err as Error).message}\n`);
    }
  });
  await new Promise<void>((resolve) => {
    for (const sig of ['SIGTERM', 'SIGINT'] as const) process.once(sig, () => resolve());
  });
  await running.close();
  const stats = running.stats();
  process.stderr.write(
    `veriexec: stopped: ${stats.events + stats.nativeHits} events, ${stats.denied} denied, ${stats.cacheHits + stats.nativeHits} from the cache (${stats.nativeHits} on the reader thread)\n`,
  );
}

/** A progress line on a terminal, redrawn at most every 100 ms. */
function progressBar(): ((done: number, total: number, bytes: number) => void) | undefined {
  if (!process.stderr.isTTY) return undefined;
  let last = 0;
  return (done, total, bytes) => {
    const now = Date.now();
    if (now - last < 100 && done < total) return;
    last = now;
    const width = 30;
    const filled = total ? Math.round((done / total) * width) : width;
    process.stderr.write(
      `\r[${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${done}/${total} files, ${(bytes / 2 ** 20).toFixed(0)} MiB hashed${done === total ? '\n' : ''}`,
    );
  };
}

function printChecks(results: CheckResult[], json: boolean): void {
  if (json) process.stdout.write(`${JSON.stringify(results, null, 2)}\n`);
  else for (const r of results) process.stdout.write(`${r.status.padEnd(10)} ${JSON.stringify(r.path)}${r.detail ? ` (${r.detail})` : ''}\n`);
  if (results.some((r) => r.status !== 'ok')) process.exitCode = 1;
}

async function run(command: Command): Promise<void> {
  if (command.name === 'enforce') return enforce(command);
  if (command.name === 'mount') return mount(command);
  if (command.name === 'status') return status(command);
  if (command.name === 'gen') {
    const started = process.hrtime.bigint();
    const report = await generate({ roots: command.roots, output: command.output, algorithm: command.algorithm, jobs: command.jobs, progress: progressBar() });
    const seconds = Number(process.hrtime.bigint() - started) / 1e9;
    if (command.json) process.stdout.write(`${JSON.stringify({ ...report, seconds }, null, 2)}\n`);
    else {
      process.stdout.write(
        `${command.output}: ${report.listed} files listed (${report.hashed} fingerprinted, ${(report.bytesHashed / 2 ** 20).toFixed(1)} MiB; ${report.reused} unchanged) in ${seconds.toFixed(2)} s\n`,
      );
      for (const p of report.problems) process.stderr.write(`veriexec gen: ${p.message}\n`);
    }
    if (report.problems.length > 0) process.exitCode = 1;
    return;
  }
  const table = VeriexecTable.load(command.file);
  // The table lists files where they are; a path through a symlink is looked up as the file it names (as exec does).
  const paths = command.paths.map(realOrSame);
  if (command.name === 'check') {
    printChecks(paths.length ? paths.map((p) => checkFile(table, p)) : checkAll(table), command.json);
    return;
  }
  const answers = paths.map((p) => ({ entry: table.get(p), check: checkFile(table, p) }));
  if (command.json) {
    const plain = answers.map(({ entry, check }) => ({ ...check, entry: entry && { ...entry, flags: [...entry.flags] } }));
    process.stdout.write(`${JSON.stringify(plain, null, 2)}\n`);
  } else {
    for (const { entry, check } of answers)
      process.stdout.write(
        entry
          ? `${formatEntry(entry)}\n  on disk: ${check.status}${check.detail ? ` (${check.detail})` : ''}\n`
          : `${JSON.stringify(check.path)}: not in ${command.file}\n`,
      );
  }
  if (answers.some((a) => a.check.status !== 'ok')) process.exitCode = 1;
}

function realOrSame(file: string): string {
  try {
    return fs.realpathSync(path.resolve(file));
  } catch {
    return path.resolve(file);
  }
}

function main(): void {
  let command: Command;
  try {
    command = parse(process.argv.slice(2));
  } catch (err) {
    process.stderr.write(`veriexec: ${(err as Error).message}\n${USAGE}\n`);
    process.exit(2);
  }
  run(command).catch((err: Error) => {
    process.stderr.write(`veriexec ${command.name}: ${err.message}\n`);
    process.exit(1);
  });
}

main();
