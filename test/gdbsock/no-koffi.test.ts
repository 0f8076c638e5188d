/**
 * The gdbsock command calls no libc through koffi on its way to serving: loading
 * koffi took about 35 ms, a third of the command's start-up (gdb's testsuite
 * starts gdbsock at every test), and a memory dump would pay it in its first
 * piece. Launching a program (its terminal), a signal gdb has delivered to a
 * thread, an interrupt and the read-ahead's mapping query go through the addon.
 * Oracle: the kernel's list of what gdbsock has mapped (/proc/PID/maps).
 */
import fs from 'node:fs';
import t from 'tap';
import { fixture } from '../helpers';
import { rspClient, startGdbsock } from './gdb';

t.test('launch, a delivered signal, an interrupt and a 64 KiB read leave koffi unloaded', async (t) => {
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
  // A 64 KiB read (a memory dump's first piece) plans the next piece: gdbsock asks the kernel which mapping it is in (PROCMAP_QUERY).
  const big = fs
    .readFileSync(`/proc/${server.pid}/maps`, 'utf8')
    .split('\n')
    .map((line) => /^([0-9a-f]+)-([0-9a-f]+) r/.exec(line))
    .find((m) => m && BigInt(`0x${m[2]}`) - BigInt(`0x${m[1]}`) >= 0x20000n);
  t.ok(big, 'the program has a readable mapping of 128 KiB or more');
  t.equal((await c.ask(`m${big![1]},10000`)).length, 0x20000, '64 KiB read');
  // The next piece is read after that reply has gone out: one more answer means it is done.
  t.match(await c.ask('qC'), /^QC/);
  const maps = fs.readFileSync(`/proc/${server.proc.pid}/maps`, 'utf8');
  t.ok(maps.includes('hostkit.node'), 'the addon is loaded');
  t.notMatch(maps, /koffi/, 'koffi is not');
});
