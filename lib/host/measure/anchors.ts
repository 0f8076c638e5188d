/**
 * The anchors: `perf bench syscall basic` (getppid in a loop) and `perf bench
 * sched pipe` (a pipe ping-pong between two processes), from Debian's
 * linux-perf, each run in the same process as our own measurement and parsed
 * for its usecs/op.
 */
import { spawnSync } from 'node:child_process';
import { HostkitError } from '../../errors';

export interface AnchorRun {
  command: string;
  /** Nanoseconds per operation, one per run. */
  samples: number[];
}

/** usecs/op from perf bench's output, in nanoseconds. */
export function parsePerfBench(output: string): number {
  const m = /([0-9.]+)\s+usecs\/op/.exec(output);
  if (!m) throw new HostkitError('ERR_HOSTKIT_ANCHOR_OUTPUT', `perf bench printed no usecs/op: ${JSON.stringify(output.slice(0, 200))}`);
  return Number(m[1]) * 1000;
}

export function runPerfBench(args: string[], runs: number, perf = 'perf'): AnchorRun {
  const command = [perf, 'bench', ...args].join(' ');
  const samples: number[] = [];
  for (let i = 0; i < runs; i++) {
    const r = spawnSync(perf, ['bench', ...args], { encoding: 'utf8', timeout: 60_000 });
    if (r.error) {
      const missing = (r.error as NodeJS.ErrnoException).code === 'ENOENT';
      throw new HostkitError(
        'ERR_HOSTKIT_ANCHOR_MISSING',
        missing ? `${perf} is not installed (Debian: apt-get install linux-perf); --no-anchors measures without it` : `${command}: ${r.error.message}`,
      );
    }
    if (r.status !== 0) throw new HostkitError('ERR_HOSTKIT_ANCHOR_FAILED', `${command} exited with ${r.status ?? r.signal}: ${r.stderr.trim().slice(0, 300)}`);
    samples.push(parsePerfBench(r.stdout));
  }
  return { command, samples };
}
