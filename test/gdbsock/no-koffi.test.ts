/**
 * The gdbsock command calls no libc through koffi on its way to serving: loading
 * koffi took about 35 ms, a third of the command's start-up (gdb's testsuite
 * starts gdbsock at every test). Launching a program (its terminal), a signal
 * gdb has delivered to a thread, and an interrupt go through the addon.
 * Oracle: the kernel's list of what gdbsock has mapped (/proc/PID/maps).
 */
import fs from 'node:fs';
import t from 'tap';
import { fixture } from '../helpers';
import { rspClient, startGdbsock } from './gdb';

t.test('launch, a delivered signal and an interrupt leave koffi unloaded', async (t) => {
  const server = await startGdbsock(['--listen', '127.0.0.1:0', '--', fixture('gdbsock'), 'sleep']);
  t.teardown(() => server.stop());
  const c = await rspClient(server.target);
  t.teardown(c.close);
  t.equal(await c.ask('QStartNoAckMode'), 'OK');
  await c.ask('qSupported:multiprocess+;swbreak+');
  // SIGWINCH (0x1c, ignored by default) to a thread stopped at its first instruction: gdbsock sends it (tgkill).
  c.send('vCont;C1c');
  await new Promise((resolve) => setTimeout(resolve, 100));
  c.interrupt();
  t.match(await c.next(10000, 'the stop after the interrupt'), /^T02/, 'stopped by the interrupt');
  const maps = fs.readFileSync(`/proc/${server.proc.pid}/maps`, 'utf8');
  t.ok(maps.includes('hostkit.node'), 'the addon is loaded');
  t.notMatch(maps, /koffi/, 'koffi is not');
});
