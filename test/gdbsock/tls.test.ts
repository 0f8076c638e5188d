/**
 * qGetTLSAddr (GDB manual, "General Query Packets"): gdb's `print` of a
 * __thread variable on a remote target asks the server for the variable's
 * address in a given thread. The tls fixture gives each of its four threads
 * its own values in the executable's TLS (tls_exe_value) and in a dlopen'ed
 * library's (tlsmod_value) and prints them; gdb reads every thread's copies
 * through gdbsock and through gdbserver, and both must equal what the program
 * stored.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import t, { type Test } from 'tap';
import { fixture, symbol } from '../helpers';
import { requireTool, rspClient, runGdb, startGdbserver, startGdbsock } from './gdb';

requireTool('gdb');
requireTool('gdbserver');
const binary = fixture('tls');

/** tid -> [exe, lib] from the program's own lines, "tid TID exe N lib M". */
function stored(output: string): Map<number, [number, number]> {
  return new Map([...output.matchAll(/^tid (\d+) exe (\d+) lib (\d+)$/gm)].map((m) => [Number(m[1]), [Number(m[2]), Number(m[3])]]));
}

/** tid -> the value printed under each "Thread N (Thread PID.TID ...):" header of `thread apply all print EXPR`. */
function printed(section: string): Map<number, number> {
  const values = new Map<number, number>();
  for (const m of section.matchAll(/^Thread \d+ \(Thread \d+\.(\d+)[^\n]*\n\$\d+ = (-?\d+)$/gm)) values.set(Number(m[1]), Number(m[2]));
  return values;
}

async function readThroughGdb(connect: string): Promise<{ out: string; exe: Map<number, number>; lib: Map<number, number> }> {
  const out = await runGdb(
    connect,
    [
      'break tls_ready',
      'continue',
      'echo ==exe==\\n',
      'thread apply all print tls_exe_value',
      'echo ==lib==\\n',
      'thread apply all print tlsmod_value',
      'echo ==end==\\n',
      'kill',
    ],
    {
      file: binary,
      timeout: 60000,
    },
  );
  const exeSection = out.slice(out.indexOf('==exe=='), out.indexOf('==lib=='));
  const libSection = out.slice(out.indexOf('==lib=='), out.indexOf('==end=='));
  return { out, exe: printed(exeSection), lib: printed(libSection) };
}

function check(t: Test, server: string, program: string, got: { out: string; exe: Map<number, number>; lib: Map<number, number> }): [number, number][] {
  const oracle = stored(program);
  t.equal(oracle.size, 4, `${server}: the program stored values in 4 threads:\n${program}`);
  for (const [tid, [exe, lib]] of oracle) {
    t.equal(got.exe.get(tid), exe, `${server}: thread ${tid}'s tls_exe_value`);
    t.equal(got.lib.get(tid), lib, `${server}: thread ${tid}'s tlsmod_value (dlopen'ed library)`);
  }
  t.notMatch(got.out, /Cannot find thread-local|Cannot access memory/, `${server}: no TLS error`);
  return [...oracle.values()].sort((a, b) => a[0] - b[0]);
}

t.test("print each thread's __thread variables, executable and dlopen'ed library", async (t) => {
  const ours = await startGdbsock(['--once', '--listen', '127.0.0.1:0', '--', binary]);
  t.teardown(() => ours.stop());
  let program = '';
  ours.proc.stdout!.on('data', (d: Buffer) => (program += d.toString()));
  const oursGot = await readThroughGdb(`target extended-remote ${ours.target}`);
  const oursValues = check(t, 'gdbsock', program, oursGot);

  const anchor = await startGdbserver([binary]);
  t.teardown(() => anchor.stop());
  const anchorGot = await readThroughGdb(`target remote ${anchor.target}`);
  const anchorValues = check(t, 'gdbserver', anchor.output(), anchorGot);
  t.same(oursValues, anchorValues, 'the same values as through gdbserver');
});

t.test('qGetTLSAddr: E01 for a malformed packet and for a thread that is not there, as gdbserver', async (t) => {
  const ready = symbol(binary, 'tls_ready').toString(16);
  for (const server of ['gdbsock', 'gdbserver'] as const) {
    const s = server === 'gdbsock' ? await startGdbsock(['--once', '--listen', '127.0.0.1:0', '--', binary]) : await startGdbserver([binary]);
    const c = await rspClient(s.target);
    try {
      await c.ask('QStartNoAckMode');
      await c.ask('qSupported:multiprocess+;swbreak+;hwbreak+');
      await c.ask('?');
      t.equal(await c.ask(`Z0,${ready},1`), 'OK');
      const stop = await c.ask('vCont;c');
      const m = /thread:p([0-9a-f]+)\.([0-9a-f]+);/.exec(stop);
      t.ok(m, `${server}: stopped at tls_ready: ${stop}`);
      const pid = m![1]!;
      t.equal(await c.ask(`qGetTLSAddr:p${pid}.7fffffff,0,0`), 'E01', `${server}: no such thread`);
      t.equal(await c.ask(`qGetTLSAddr:p${pid}.${pid},0`), 'E01', `${server}: no link map field`);
    } finally {
      c.close();
      if ('proc' in s) await s.stop();
      else s.stop();
    }
  }
});

/**
 * Each thread's answer to qGetTLSAddr for tlsmod2_value, asked by gdb's
 * `maint packet` (so gdbserver has done its qSymbol exchange and loaded
 * libthread_db): lines "tls TID REPLY VALUE", VALUE the int at the address
 * when there is one. At the packet level because gdb 16 may look TLS up
 * itself after an E01 and gdb 13 does not: the servers' answers are compared.
 */
const ASK_EACH_THREAD = `
import re
offset = "%x" % OFFSET
libs = gdb.execute("maint packet qXfer:libraries-svr4:read::0,fff", to_string=True)
lm = re.search(r'libtlsmod2[.]so[^ ]* lm=[^0-9a-f]*0x([0-9a-f]+)', libs).group(1)
for th in sorted(gdb.selected_inferior().threads(), key=lambda t: t.num):
    pid, lwp, _ = th.ptid
    out = gdb.execute("maint packet qGetTLSAddr:p%x.%x,%s,%s" % (pid, lwp, offset, lm), to_string=True)
    reply = re.search(r'received: "([^"]*)"', out).group(1)
    value = gdb.parse_and_eval("*(int *)0x%s" % reply) if re.fullmatch(r'[0-9a-f]+', reply) else "-"
    print("tls %d %s %s" % (lwp, reply, value))
`;

t.test('a module id reused after dlclose: a thread whose dtv slot is stale gets no address (E01), as from gdbserver', async (t) => {
  const reuse = fixture('tls-reuse');
  const offset = symbol(fixture('libtlsmod2.so'), 'tlsmod2_value'); // its place in the module's TLS block
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tls-reuse-'));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  const script = path.join(dir, 'ask.py');
  fs.writeFileSync(script, ASK_EACH_THREAD.replace('OFFSET', String(offset)));
  const commands = ['break tls_reuse_ready', 'continue', `source ${script}`, 'kill'];
  const answers = async (connect: string) => {
    const out = await runGdb(connect, commands, { file: reuse, timeout: 60000 });
    return { out, rows: [...out.matchAll(/^tls (\d+) (\S+) (\S+)$/gm)].map((m) => ({ tid: Number(m[1]), reply: m[2]!, value: m[3]! })) };
  };
  const ours = await startGdbsock(['--once', '--listen', '127.0.0.1:0', '--', reuse]);
  t.teardown(() => ours.stop());
  const oursGot = await answers(`target extended-remote ${ours.target}`);
  const anchor = await startGdbserver([reuse]);
  t.teardown(() => anchor.stop());
  const anchorGot = await answers(`target remote ${anchor.target}`);
  for (const [server, got] of [
    ['gdbsock', oursGot],
    ['gdbserver', anchorGot],
  ] as const) {
    t.equal(got.rows.length, 2, `${server}: both threads asked:\n${got.out}`);
    // Thread 1 is main: its own copy, 22; the worker's slot still points at libtlsmod.so's old block (11): no address.
    t.equal(got.rows[0]?.value, '22', `${server}: main's tlsmod2_value`);
    t.same(got.rows[1] && { reply: got.rows[1].reply, value: got.rows[1].value }, { reply: 'E01', value: '-' }, `${server}: the worker's stale slot: E01`);
  }
});
