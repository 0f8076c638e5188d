/**
 * gdb's tracepoints through gdbsock (lib/gdbsock/tracing/), with the host's
 * gdb and with gdb 16.3, each against gdbserver of its own version, started
 * alike with gdbserver's command line. Two tracepoints at one address (one
 * conditional), memory, registers, a trace state variable, tstart, tstop,
 * tstatus, tfind by number and by tracepoint, tdump, tsave.
 *
 * Oracles: the program (frame k of tracepoint 2 is trace_me's k-th call, so
 * a = k, b = 10k, counter = k(k-1)/2); gdb's own trace-file reader (`tsave`
 * through gdbsock, then `target tfile`, reads back the same frames); and
 * gdbserver for the rest: the same output once pids and times are set aside.
 * `info tracepoints` is not compared: gdbserver sends qTP's hit count in
 * decimal where gdb reads hex (its 10 hits print as 16); gdbsock sends hex.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import t from 'tap';
import { fixture, symbol } from '../helpers';
import { debian13Tools } from './debian13';
import { GDBSOCK_AS_GDBSERVER, type GdbTools, HOST_TOOLS, requireTool, rspClient, runGdb, startGdbserver, startListening, startServer } from './gdb';

requireTool('gdb');
requireTool('gdbserver');
const program = fixture('tracepoints');
const scratch = fs.mkdtempSync(path.join(os.tmpdir(), 'gdbsock-trace-'));
t.teardown(() => fs.rmSync(scratch, { recursive: true, force: true }));

const SESSION = `break main
run
tvariable $hits = 0
trace trace_me
actions
collect counter, a, b, message, pt, $regs
teval $hits = $hits + 1
end
trace trace_me if a >= 7
actions
collect a
end
break end
tstart
continue
tstop
tstatus
tfind start
print a
print b
print counter
print message
print pt
print $trace_func
tfind 5
print a
print b
print counter
tfind tracepoint 3
print a
print counter
tdump
tfind none
print $hits
info tracepoints
`;

/** The output with what differs run to run (pids, ports, times) replaced, and the stderr gdbserver adds at `run` dropped. */
function normalize(out: string): string {
  return out
    .replace(/127\.0\.0\.1:\d+/g, 'HOST:PORT')
    .replace(/\b(process|Thread|LWP|pid =?) \d+/g, '$1 N')
    .replace(/^Trace started at .*$/m, 'Trace started at TIME')
    .replace(/^\s*tracepoint already hit \d+ times?\n/gm, '')
    .replace(/^\s*trace buffer usage \d+ bytes\n/gm, '')
    .split('\n')
    .filter((line) => !/^(stdin\/stdout redirected|Process .* created; pid = N)$/.test(line))
    .join('\n');
}

/**
 * gdb (`tools`) runs the script `script` (written to NAME.gdb) against `gdbserver`, a
 * gdbserver or gdbsock started with gdbserver's command line and --multi.
 */
async function session(tools: GdbTools, gdbserver: readonly string[], name: string, script: string): Promise<string> {
  const commands = path.join(scratch, `${name}.gdb`);
  fs.writeFileSync(commands, script);
  const server = await startGdbserver([], { multi: true, tools: { ...tools, gdbserver } });
  try {
    return await runGdb(`target extended-remote ${server.target}`, ['set sysroot', `set remote exec-file ${program}`, `source ${commands}`], {
      file: program,
      tools,
      timeout: 120_000,
    });
  } finally {
    server.stop();
    await server.exited;
  }
}

const clients = [
  ["the host's gdb", HOST_TOOLS],
  ['gdb 16', debian13Tools()],
] as const;

for (const [client, tools] of clients) {
  t.test(`${client}: tracepoints collect what the program had, and gdb reads it as through gdbserver`, async (t) => {
    const saved = path.join(scratch, `${client.replace(/\W/g, '')}.tf`);
    const ours = await session(tools, GDBSOCK_AS_GDBSERVER, 'ours', `${SESSION}tsave ${saved}\n`);
    const theirs = await session(tools, tools.gdbserver, 'theirs', SESSION);
    t.match(ours, /Trace stopped by a tstop command/, 'tstatus: stopped by tstop');
    t.match(ours, /Collected 13 trace frames\./, 'ten hits of tracepoint 2, three of tracepoint 3 (a >= 7)');
    t.match(ours, /Found trace frame 0, tracepoint 2\n\$1 = 0\n\$2 = 0\n\$3 = 0\n\$4 = "hello tracepoint"/, 'frame 0: the first call');
    t.match(ours, /\$5 = \{x = 3, y = 4\}\n\$6 = "trace_me"/, 'a struct and $trace_func');
    t.match(ours, /Found trace frame 5, tracepoint 2\n\$7 = 5\n\$8 = 50\n\$9 = 10\n/, 'frame 5: a = 5, b = 50, counter = 0+1+2+3+4');
    t.match(ours, /Found trace frame 8, tracepoint 3\n\$10 = 7\n\$11 = <unavailable>\n/, 'tracepoint 3 collected a, not counter');
    t.match(ours, /Data collected at tracepoint 3, trace frame 8:\na = 7/, 'tdump');
    t.match(ours, /\$12 = 10\n/, 'the state variable counted every hit of tracepoint 2');
    t.match(ours, /tracepoint already hit 10 times/, 'qTP: ten hits, read as gdb reads them (hex)');
    t.equal(normalize(ours), normalize(theirs), 'the same session as with gdbserver');

    const replay = await runGdb(`target tfile ${saved}`, ['tstatus', 'tfind 5', 'print a', 'print b', 'print counter', 'print message', 'tfind 9', 'print a'], {
      file: program,
      tools,
    });
    t.match(replay, /Collected 13 trace frames/, 'the saved file holds every frame');
    t.match(
      replay,
      /Found trace frame 5, tracepoint \d+\n\$1 = 5\n\$2 = 50\n\$3 = 10\n\$4 = "hello tracepoint"/,
      "gdb's trace-file reader finds frame 5 as collected",
    );
    t.match(replay, /Found trace frame 9, tracepoint \d+\n\$5 = 8\n/, 'and frame 9, the ninth call (a = 8)');
  });
}

const WHILE_STEPPING = `break main
run
trace trace_me
actions
collect a
while-stepping 3
collect $regs, counter
end
end
break end
tstart
continue
tstop
tstatus
x/4i trace_me
tfind start
info registers rip
tfind
info registers rip
print counter
tfind
info registers rip
tfind
info registers rip
tfind
print a
info registers rip
tfind 39
tfind 40
`;

t.test('while-stepping: a frame at each of three steps after every hit, as through gdbserver', async (t) => {
  const ours = await session(HOST_TOOLS, GDBSOCK_AS_GDBSERVER, 'stepping', WHILE_STEPPING);
  const theirs = await session(HOST_TOOLS, HOST_TOOLS.gdbserver, 'stepping', WHILE_STEPPING);
  t.match(ours, /Collected 40 trace frames\./, 'ten hits, each a frame and three step frames');
  // The oracle for the pcs: trace_me's first four instructions, as gdb disassembles them.
  const instructions = [...ours.matchAll(/^\s+(0x[0-9a-f]+) <trace_me(?:\+\d+)?>:/gm)].map((m) => m[1]);
  const pcs = [...ours.matchAll(/^rip +(0x[0-9a-f]+)/gm)].map((m) => m[1]);
  t.same(pcs.slice(0, 4), instructions, 'the hit, then one frame per instruction stepped');
  t.equal(pcs[4], instructions[0], 'frame 4: the next hit');
  t.match(ours, /Found trace frame 1, tracepoint 2\nrip.*\n\$1 = 0\n/, 'a step frame holds what its actions collected');
  t.match(ours, /Found trace frame 39, tracepoint 2/, 'frame 39 is the last');
  t.equal(normalize(ours), normalize(theirs), 'the same session as with gdbserver');
});

t.test('a pass count stops the run at its hit; tstatus says so', async (t) => {
  const commands = path.join(scratch, 'pass.gdb');
  fs.writeFileSync(
    commands,
    ['break main', 'continue', 'trace trace_me', 'passcount 3 2', 'break end', 'tstart', 'continue', 'tstatus', 'tfind 2', 'tfind 3', ''].join('\n'),
  );
  const server = await startServer('gdbsock', [program]);
  t.teardown(() => server.stop());
  const out = await runGdb(`target remote ${server.target}`, ['set sysroot', `source ${commands}`], { file: program, timeout: 60_000 });
  t.match(out, /Trace stopped by tracepoint 2\./, 'stopped by the pass count');
  t.match(out, /Collected 3 trace frames\./, 'after three hits');
  t.match(out, /Found trace frame 2, tracepoint 2/, 'frame 2 is there');
  t.match(out, /Target failed to find requested trace frame\.|No trace frame found/, 'frame 3 is not');
});

t.test('tracepoint packets: malformed and unsupported ones get errors, not a crash', async (t) => {
  const server = await startServer('gdbsock', [program]);
  t.teardown(() => server.stop());
  const client = await rspClient(server.target);
  t.teardown(() => client.close());
  const at = symbol(program, 'trace_me').toString(16);
  t.match(await client.ask('qTStatus'), /^T0;tnotrun:0;tframes:0;tcreated:0;tfree:500000;tsize:500000;circular:0;disconn:0;/, 'no run yet');
  t.equal(await client.ask('QTinit'), 'OK');
  t.equal(await client.ask(`QTDP:1:${at}:E:0:0`), 'OK', 'a trap tracepoint');
  t.equal(await client.ask(`QTDP:1:${at}:E:0:0`), 'E01', 'the same one twice');
  t.match(await client.ask(`QTDP:2:${at}:E:0:0:F5`), /^E\./, 'a fast tracepoint is refused with words');
  t.equal(await client.ask(`QTDP:3:${at}:E:5:0-`), 'OK', 'while-stepping 5');
  t.equal(await client.ask(`QTDP:-3:${at}:SR`), 'OK', 'its action');
  t.equal(await client.ask(`QTDP:-9:${at}:M-1,0,8`), 'E01', 'actions for a tracepoint never defined');
  t.equal(await client.ask(`QTDP:-1:${at}:Mzz`), 'E01', 'a malformed action');
  t.equal(await client.ask(`QTDP:-1:${at}:X5,00`), 'E01', 'an expression shorter than its length');
  t.equal(await client.ask('QTDP:x:y:E:0:0'), 'E01', 'a malformed definition');
  t.equal(await client.ask('QTFrame:0'), 'F-1', 'no frames before a run');
  t.equal(await client.ask('qTBuffer:0,10'), 'l', 'an empty trace buffer');
  t.equal(await client.ask('qTBuffer:10,10'), 'E01', 'past its end');
  t.equal(await client.ask('QTDP:4:1:E:0:0'), 'OK', 'a tracepoint at an unmapped address is defined');
  t.match(await client.ask('QTStart'), /^E\./, 'but the run cannot start with it');
  t.match(await client.ask('qTStatus'), /^T0;/, 'and is not running');
  t.equal(await client.ask('qTfP'), `T1:${at}:E:0:0`, 'the definitions, for the next gdb');
  t.equal(await client.ask('qTsP'), `T3:${at}:E:5:0`);
  t.equal(await client.ask('qTsP'), `S3:${at}:R`, 'a while-stepping action, marked S');
  t.equal(await client.ask('qTsP'), 'T4:1:E:0:0');
  t.equal(await client.ask('qTsP'), 'l');
});

t.test('disconnected tracing: the next gdb finds the run, its tracepoints and $trace_timestamp; without it the run stops', async (t) => {
  // gdbserver's command line without --once: gdbsock keeps the program for the next connection, as the testsuite's gdb_reconnect wants.
  const server = await startListening('gdbsock', GDBSOCK_AS_GDBSERVER[0]!, [...GDBSOCK_AS_GDBSERVER.slice(1), '127.0.0.1:0', program]);
  t.teardown(() => server.proc.kill());
  const at = symbol(program, 'trace_me').toString(16);
  // gdbsock turns a connection away until it has seen the last one end: try again for a while.
  const connect = async (): Promise<Awaited<ReturnType<typeof rspClient>>> => {
    for (let tries = 0; ; tries++) {
      const client = await rspClient(server.target);
      try {
        await client.ask('QStartNoAckMode');
        await client.ask('qSupported:multiprocess+;swbreak+;hwbreak+');
        await client.ask('?');
        return client;
      } catch (err) {
        client.close();
        if (tries > 50) throw err;
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
    }
  };

  const first = await connect();
  t.equal(await first.ask('qTfV'), `1:0:1:${Buffer.from('trace_timestamp').toString('hex')}`, "the target's own variable, for gdb to upload");
  t.equal(await first.ask('qTsV'), 'l');
  for (const packet of ['QTinit', `QTDP:1:${at}:E:0:0-`, `QTDP:-1:${at}:R`, 'QTDisconnected:1', 'QTStart']) t.equal(await first.ask(packet), 'OK', packet);
  first.close();

  const second = await connect();
  t.match(await second.ask('qTStatus'), /^T1;tnotrun:0;.*disconn:1;/, 'the run went on after gdb left');
  t.equal(await second.ask('qTfP'), `T1:${at}:E:0:0`, 'its tracepoint, for the new gdb');
  t.equal(await second.ask('qTsP'), `A1:${at}:R`, 'and its action');
  t.equal(await second.ask('qTsP'), 'l');
  t.equal(await second.ask(`Z0,${symbol(program, 'end').toString(16)},1`), 'OK');
  t.match(await second.ask('vCont;c'), /^T05/, 'the program ran to end()');
  t.match(await second.ask('qTStatus'), /^T1;tnotrun:0;tframes:a;/, 'ten frames, one a call');
  t.equal(await second.ask('QTFrame:3'), 'F3T1', 'frame 3');
  t.equal(await second.ask('QTDisconnected:0'), 'OK');
  second.close();

  const third = await connect();
  t.match(await third.ask('qTStatus'), /^T0;tdisconnected:0;tframes:a;/, 'without disconnected tracing the run stopped when gdb left');
  t.equal(await third.ask('qTV:1').then((v) => v.startsWith('V')), true, '$trace_timestamp has a value');
  t.equal(await third.ask('QTFrame:3'), 'F3T1', 'and the frames are still there');
  t.equal(await third.ask('QTFrame:-1'), 'OK');
  t.match(await third.ask('vCont;c'), /^W00/, 'the program ends');
  third.close();
});

t.test('a tracepoint where gdb has a conditional breakpoint too: both work, through one int3', async (t) => {
  // A debug register holds a tracepoint alone; with gdb's breakpoint at the same address the two share the int3.
  const script = [
    'break main',
    'run',
    'trace trace_me',
    'actions',
    'collect a',
    'end',
    'break trace_me if a == 9',
    'tstart',
    'continue',
    'print a',
    'tstop',
    'tstatus',
    'tfind 9',
    'print a',
    '',
  ].join('\n');
  const ours = await session(HOST_TOOLS, GDBSOCK_AS_GDBSERVER, 'shared', script);
  t.match(ours, /Breakpoint 3, trace_me \(a=(a@entry=)?9/, "gdb's breakpoint stops at its condition's hit only");
  t.match(ours, /Collected 10 trace frames\./, 'the tracepoint collected every hit, the reported one too');
  t.match(ours, /Found trace frame 9, tracepoint 2\n\$2 = 9\n/, 'frame 9 is the tenth call');
  t.equal(normalize(ours), normalize(await session(HOST_TOOLS, HOST_TOOLS.gdbserver, 'shared', script)), 'the same session as with gdbserver');
});
