/**
 * The gdbsock command's V8 settings (lib/gdbsock/jit-tiering.ts). V8 ignores a
 * flag it does not know, silently: a Node upgrade that renames one of
 * gdbsock's tiering flags would quietly make gdb sessions slower, so each flag
 * must still be one this node lists. And the threads that compile with them
 * run only on CPUs nothing else wants.
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import t from 'tap';
import { TIERING_FLAGS } from '../../lib/gdbsock/tiering-flags';
import { fixture } from '../helpers';
import { startGdbsock } from './gdb';

/** sched(7)'s policies as /proc shows them. */
const SCHED_OTHER = 0;
const SCHED_IDLE = 5;

const known = execFileSync(process.execPath, ['--v8-options'], { encoding: 'utf8' });

for (const flag of TIERING_FLAGS) {
  const name = flag.replace(/^--(no-)?/, '').replace(/=.*$/, '');
  t.match(known, new RegExp(`^\\s+--${name} `, 'm'), `node knows ${flag}`);
}

t.test("gdbsock's other threads, V8's compilers among them, run under SCHED_IDLE; its own thread does not", async (t) => {
  const server = await startGdbsock(['--once', '--listen', '127.0.0.1:0', '--', fixture('target')]);
  t.teardown(() => server.stop());
  const gdbsock = server.proc.pid!;
  // /proc/PID/task/TID/stat: `policy` is field 41 (proc(5)), the 39th after the command's closing parenthesis.
  const policyOf = (tid: string) =>
    Number(
      fs
        .readFileSync(`/proc/${gdbsock}/task/${tid}/stat`, 'utf8')
        .replace(/^.*\) /s, '')
        .split(' ')[38],
    );
  const others = fs.readdirSync(`/proc/${gdbsock}/task`).filter((tid) => Number(tid) !== gdbsock);
  t.ok(others.length >= 4, `V8's workers and Node's own threads are there (${others.length})`);
  t.equal(policyOf(String(gdbsock)), SCHED_OTHER, 'the JavaScript thread keeps the default policy');
  for (const tid of others) t.equal(policyOf(tid), SCHED_IDLE, `thread ${tid}: SCHED_IDLE`);
});
