/**
 * `cored snapshot <pid> [-o FILE|-] [--minimal] [--all]`: a gcore-style core
 * of a live process, to a file (sparse), or to stdout for a pipe or socket.
 */
import fs from 'node:fs';
import { parseCommandLine, UsageError } from '../cli-args';
import { snapshot, type SnapshotOptions } from './snapshot';
import type { CoreOutput } from './sink';

export const SNAPSHOT_USAGE = `usage: cored snapshot <pid> [-o FILE|-] [--minimal] [--all]

Writes a core of a running process (default ./core.PID) and lets it run on.
  -o FILE     where to write it; '-' for standard output (a pipe, a socket, a file)
  --minimal   only thread stacks, pages the registers point into and ELF headers
  --all       every mapping, whatever /proc/PID/coredump_filter says
`;

export interface SnapshotArgs {
  pid: number;
  output: string;
  mode: NonNullable<SnapshotOptions['mode']>;
}

const OPTIONS = {
  output: { type: 'string', short: 'o' },
  minimal: { type: 'boolean' },
  all: { type: 'boolean' },
} as const;

export function parseSnapshotArgs(argv: readonly string[]): SnapshotArgs {
  const { values, positionals } = parseCommandLine(argv, OPTIONS, { positionals: 1 });
  const [pidText] = positionals;
  if (values.output === '') throw new UsageError(`-o needs a file name or '-'`);
  if (pidText === undefined || !/^\d+$/.test(pidText))
    throw new UsageError(pidText === undefined ? 'a process id is required' : `unexpected argument '${pidText}'`);
  const pid = Number(pidText);
  if (pid <= 0 || pid > 0x3fffffff) throw new UsageError('a process id is required');
  if (values.minimal && values.all) throw new UsageError('--minimal and --all exclude each other');
  return { pid, output: values.output ?? `core.${pid}`, mode: values.minimal ? 'minimal' : values.all ? 'all' : 'filter' };
}

/** Standard output as a sink: the fd itself when it is a regular file (so the core can be sparse). */
function stdoutOutput(): CoreOutput {
  if (fs.fstatSync(1).isFile()) return 1;
  if (process.stdout.isTTY) throw new UsageError('refusing to write a core to a terminal: redirect standard output or use -o FILE');
  return process.stdout;
}

/** A one-line progress bar on a terminal's stderr, redrawn at most ten times a second. */
function progressBar(stream: NodeJS.WriteStream): (done: number, total: number) => void {
  let last = 0;
  return (done, total) => {
    const now = Date.now();
    if (now - last < 100 && done < total) return;
    last = now;
    const width = 30;
    const filled = total === 0 ? width : Math.round((done / total) * width);
    const mib = (n: number) => (n / 1048576).toFixed(0);
    stream.write(`\r[${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${mib(done)}/${mib(total)} MiB`);
    if (done >= total) stream.write('\n');
  };
}

export async function runSnapshot(argv: readonly string[]): Promise<number> {
  let args: SnapshotArgs;
  try {
    args = parseSnapshotArgs(argv);
  } catch (err) {
    if (!(err instanceof UsageError)) throw err;
    process.stderr.write(`${SNAPSHOT_USAGE}\ncored snapshot: ${err.message}\n`);
    return 2;
  }
  try {
    const out = args.output === '-' ? stdoutOutput() : args.output;
    const options: SnapshotOptions = { mode: args.mode };
    if (process.stderr.isTTY) options.onProgress = progressBar(process.stderr);
    const result = await snapshot(args.pid, out, options);
    if (args.output !== '-') {
      const holes = result.sparse ? `, ${(result.written / 1048576).toFixed(1)} MiB written (sparse)` : '';
      process.stderr.write(
        `saved core of pid ${result.pid} (${result.threads} threads) to ${args.output}: ${(result.size / 1048576).toFixed(1)} MiB${holes}\n`,
      );
    }
    return 0;
  } catch (err) {
    process.stderr.write(`cored snapshot: ${(err as Error).message}\n`);
    return err instanceof UsageError ? 2 : 1;
  }
}
