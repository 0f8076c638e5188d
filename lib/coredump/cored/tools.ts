/** Programs cored runs, found by absolute path: the kernel starts handlers with no PATH. */
import fs from 'node:fs';
import path from 'node:path';

const DIRS = ['/usr/local/sbin', '/usr/local/bin', '/usr/sbin', '/usr/bin', '/sbin', '/bin'];

export function findTool(name: string): string {
  for (const dir of DIRS) {
    const file = `${dir}/${name}`;
    try {
      fs.accessSync(file, fs.constants.X_OK);
      return file;
    } catch {
      /* next */
    }
  }
  throw new Error(`${name} is not installed (looked in ${DIRS.join(', ')}); apt-get install ${name}`);
}

/** The entry point cored runs from (dist/coredump/cli.js): for the kernel's launcher and the daemon's worker. */
export function cliScript(): string {
  return path.resolve(__dirname, '..', 'cli.js');
}
