/**
 * Threads coming and going: with QThreadEvents:1 every new thread is a
 * `create` stop and every exit a `w` reply (GDB manual, "Stop Reply
 * Packets"), then W with ;process:PID; without it they pass silently. And a
 * storm of threads racing into a breakpoint under real gdb: no hit lost, no hang.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import t from 'tap';
import { fixture } from '../helpers';
import { requireTool, rspClient, runGdb, startGdbsock } from './gdb';

requireTool('gdb');
const storm = fixture('threadstorm');

t.test('QThreadEvents:1: a create stop per new thread, a w reply per exit, then W;process', async (t) => {
  const server = await startGdbsock(['--once', '--listen', '127.0.0.1:0', '--', storm, '3', '4']);
  t.teardown(() => server.stop());
  const rsp = await rspClient(server.target);
  t.teardown(rsp.close);
  t.equal(await rsp.ask('QStartNoAckMode'), 'OK');
  t.match(await rsp.ask('qSupported:multiprocess+;fork-events+;vfork-events+;exec-events+'), /multiprocess\+/);
  t.equal(await rsp.ask('QThreadEvents:1'), 'OK');
  const pid = server.pid.toString(16);
  const created = new Set<string>();
  const exited = new Set<string>();
  let end = '';
  for (let i = 0; i < 100 && !end; i++) {
    const reply = await rsp.ask('vCont;c');
    const create = /^T05create:;.*thread:(p[0-9a-f]+\.[0-9a-f]+);/.exec(reply);
    const gone = /^w00;(p[0-9a-f]+\.[0-9a-f]+)$/.exec(reply);
    if (create) created.add(create[1]!);
    else if (gone) exited.add(gone[1]!);
    else end = reply;
  }
  t.equal(end, `W00;process:${pid}`, 'the process end names the process');
  t.equal(created.size, 12, 'every thread (3 rounds of 4) was a create stop');
  t.same([...exited].sort(), [...created].sort(), 'and each of them a w reply');
  t.ok(
    [...created].every((id) => id.startsWith(`p${pid}.`)),
    'multiprocess thread ids',
  );
});

t.test('QThreadEvents:0 (the default): threads pass silently', async (t) => {
  const server = await startGdbsock(['--once', '--listen', '127.0.0.1:0', '--', storm, '3', '4']);
  t.teardown(() => server.stop());
  const rsp = await rspClient(server.target);
  t.teardown(rsp.close);
  await rsp.ask('QStartNoAckMode');
  await rsp.ask('qSupported:multiprocess+');
  t.equal(await rsp.ask('QThreadEvents:0'), 'OK');
  t.equal(await rsp.ask('vCont;c'), `W00;process:${server.pid.toString(16)}`);
});

t.test('thread storm: 240 threads, 8 at a time, racing into a breakpoint gdb continues from: every hit counted', async (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'gdbsock-storm-'));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  const script = path.join(dir, 'storm.gdb');
  fs.writeFileSync(script, ['break work', 'commands', 'silent', 'continue', 'end', 'continue', 'info breakpoints', ''].join('\n'));
  const server = await startGdbsock(['--once', '--listen', '127.0.0.1:0', '--', storm, '30', '8']);
  t.teardown(() => server.stop());
  let programOut = '';
  server.proc.stdout!.on('data', (d: Buffer) => (programOut += d.toString()));
  const out = await runGdb(`target extended-remote ${server.target}`, [`source ${script}`], { file: storm, timeout: 60000 });
  t.match(out, /\[Inferior 1 \(process \d+\) exited normally\]/, 'no hang, no stray SIGTRAP');
  t.match(out, /breakpoint already hit 240 times/, 'no hit lost');
  await server.exited;
  t.match(programOut, /total 240/, 'every thread did its work');
});
