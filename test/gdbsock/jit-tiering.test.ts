/**
 * The gdbsock command's V8 settings (lib/gdbsock/jit-tiering.ts). V8 ignores a
 * flag it does not know, silently: a Node upgrade that renames one of
 * gdbsock's tiering flags would quietly make gdb sessions slower, so each flag
 * must still be one this node lists. And every thread of gdbsock runs at the
 * default priority: under SCHED_IDLE, V8's workers took seconds to end on a
 * busy machine, and gdbsock's connection closed only then.
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import t from 'tap';
import { TIERING_FLAGS } from '../../lib/gdbsock/tiering-flags';
import { fixture } from '../helpers';
import { startGdbsock } from './gdb';

/** sched(7)'s default policy as /proc shows it. */
const SCHED_OTHER = 0;

const known = execFileSync(process.execPath, ['--v8-options'], { encoding: 'utf8' });

for (const flag of TIERING_FLAGS) {
  const name = flag.replace(/^--(no-)?/, '').replace(/=.*$/, '');
  t.match(known, new RegExp(`^\\s+--${name} `, 'm'), `node knows ${flag}`);
}

t.test("gdbsock's threads, V8's compilers among them, run at the default priority", async (t) => {
  const server = await startGdbsock(['--once', '--listen', '127.0.0.1:0', '--', fixture('target')]);
  t.teardown(() => server.stop());
  const gdbsock = server.proc.pid!;
  // /proc/PID/task/TID/stat (proc(5)): `nice` is field 19 and `policy` field 41, the 17th
  // and 39th after the command's closing parenthesis.
  const schedulingOf = (tid: string) => {
    const fields = fs
      .readFileSync(`/proc/${gdbsock}/task/${tid}/stat`, 'utf8')
      .replace(/^.*\) /s, '')
      .split(' ');
    return { policy: Number(fields[38]), nice: Number(fields[16]) };
  };
  const threads = fs.readdirSync(`/proc/${gdbsock}/task`);
  t.ok(threads.length >= 5, `V8's workers and Node's own threads are there (${threads.length})`);
  for (const tid of threads) t.same(schedulingOf(tid), { policy: SCHED_OTHER, nice: 0 }, `thread ${tid}: SCHED_OTHER, nice 0`);
});
