/**
 * qXfer:osdata (GDB manual, "Operating System Information"): gdb's `info os`
 * lists the types gdbsock serves, `info os processes` and `info os threads`
 * the machine's processes and threads, as through gdbserver.
 */
import t from 'tap';
import { fixture } from '../helpers';
import { requireTool, runGdb, startGdbsock } from './gdb';

requireTool('gdb');
const binary = fixture('gdbsock');

t.test('info os, info os processes, info os threads', async (t) => {
  const server = await startGdbsock(['--once', '--listen', '127.0.0.1:0', '--', binary, 'count', '1']);
  t.teardown(() => server.stop());
  const out = await runGdb(`target extended-remote ${server.target}`, ['info os', 'info os processes', 'info os threads', 'kill']);
  t.match(out, /^processes +Listing of all processes/m);
  t.match(out, /^threads +Listing of all threads/m);
  t.match(out, /^pid +user +command +cores/m, 'the processes table');
  t.match(out, new RegExp(`^${server.pid} +root +${binary} count 1 +\\d`, 'm'), 'the program, its user, command line and core');
  t.match(out, /^1 +\S+ +\S/m, 'init');
  t.match(out, new RegExp(`^${server.pid} +gdbsock +${server.pid} +\\d+`, 'm'), 'its thread');
  t.notMatch(out, /Can not fetch data now/);
});
