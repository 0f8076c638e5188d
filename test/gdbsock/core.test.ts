/**
 * gdbsock --core: gdb prints the same through `target remote | gdbsock --stdio
 * --core CORE` as with `gdb PROGRAM CORE`, for a core the kernel wrote and for
 * a hostkit snapshot of a multi-threaded PIE with a shared library of its own.
 * And the core stays read-only, with a reason gdb shows.
 */
import { type ChildProcess, execFile, spawn, spawnSync } from 'node:child_process';
import { once } from 'node:events';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import readline from 'node:readline';
import t, { type Test } from 'tap';
import { openCore, snapshot } from '../../lib/coredump';
import { fixture, kernelCoreOf, startDetached } from '../helpers';
import { coreGdbCanRead, infoRegistersNames } from '../xsave';
import { cleanEnv, requireTool } from './gdb';

requireTool('gdb');
requireTool('zstd');

const CLI = path.join(__dirname, '..', '..', 'dist', 'gdbsock', 'cli.js');
const binary = fixture('gdbsock-core');
fixture('libgdbsockcore.so');
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'gdbsock-core-test-'));
t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));

const COMMANDS = [
  'info threads',
  'thread apply all bt',
  'info registers',
  'info sharedlibrary',
  'x/s greeting',
  'x/4gx counters',
  'print origin',
  'print heap_text',
  'print *origin.label@6',
  'x/3i $pc',
  'print $_siginfo.si_signo',
  'thread 2',
  'bt 3',
  'x/2gx 0',
];

/** gdb in batch mode; each command's output follows a marker line so outputs can be compared one by one. */
function gdb(args: string[], commands: string[]): Promise<string> {
  const all = ['-nx', '-batch', '-ex', 'set width 0', '-ex', 'set height 0', ...args];
  for (const c of commands) all.push('-ex', `echo @@@ ${c}\\n`, '-ex', c);
  // One pipe for stdout and stderr, so errors stay next to the command that caused them.
  return new Promise((resolve, reject) => {
    execFile(
      '/bin/sh',
      ['-c', 'exec gdb "$@" 2>&1', 'sh', ...all],
      { encoding: 'utf8', timeout: 60_000, env: cleanEnv(), maxBuffer: 16 << 20 },
      (err, stdout) => {
        if (err && (err as { killed?: boolean }).killed) reject(new Error(`gdb timed out:\n${stdout}`));
        else resolve(stdout);
      },
    );
  });
}

const direct = (core: string, commands = COMMANDS) => gdb([binary, core], commands);
const remote = (core: string, commands = COMMANDS, extra = '2>/dev/null') =>
  gdb(['-ex', `target remote | ${process.execPath} ${CLI} --stdio --core ${core} ${extra}`, binary], commands);

/** Output per command, with what legitimately differs between a remote target and a core made the same. */
function byCommand(output: string, pid: number): Map<string, string> {
  const sections = new Map<string, string>();
  const parts = output.split(/^@@@ /m).slice(1);
  for (const part of parts) {
    const newline = part.indexOf('\n');
    const text = part
      .slice(newline + 1)
      // libthread_db names a core's threads by pthread_t; over the wire they are pid.tid, as with gdbserver.
      .replace(/Thread 0x[0-9a-f]+ \(LWP (\d+)\)/g, `Thread ${pid}.$1`)
      // Files gdb read through vFile are "target:" files.
      .replace(/target:\//g, '/')
      .replace(/^\[Inferior 1 \(process \d+\) detached\]\n/m, '')
      // Column widths follow the longest thread name.
      .replace(/ {2,}/g, ' ');
    sections.set(part.slice(0, newline), text);
  }
  return sections;
}

/** Compares command by command; `hidden` names registers gdb's own output lacks (see the kernel-core test), left out of ours. */
function compare(t: Test, ours: string, theirs: string, pid: number, hidden: string[] = []): void {
  const a = byCommand(ours, pid);
  const b = byCommand(theirs, pid);
  t.same([...a.keys()], COMMANDS, 'every command ran through gdbsock');
  const drop = (text: string | undefined) =>
    text
      ?.split('\n')
      .filter((line) => !hidden.includes(line.split(' ')[0]!))
      .join('\n');
  for (const command of COMMANDS) t.equal(drop(a.get(command)), b.get(command), `same output for '${command}'`);
}

const kernelCore = () => kernelCoreOf(binary, ['3', '4', 'crash'], 'SIGSEGV', path.join(dir, 'kernel'));

/** A hostkit snapshot of the fixture run with `args`, written to `file`; returns the pid it had. */
async function snapshotOf(t: Test, args: string[], file: string): Promise<number> {
  const target = await startDetached(binary, args);
  t.teardown(target.kill);
  await snapshot(target.pid, file);
  target.kill();
  return target.pid;
}

t.test('a kernel-written core: same output as gdb PROGRAM CORE', async (t) => {
  const { core, pid } = await kernelCore();
  // The oracle is gdb on the kernel's core, except where gdb misplaces XSAVE
  // components (gdb 13 on a CPU whose layout is not Intel's: it then drops
  // whole threads as ".reg-xstate too small"). gdb then reads a copy with
  // those components out of XCR0, and their registers in ours are checked
  // against the kernel's own core, decoded at its NT_X86_XSAVE_LAYOUT offsets.
  const forGdb = path.join(dir, 'kernel-for-gdb.core');
  const misplaced = coreGdbCanRead(core, forGdb);
  const hidden = misplaced.flatMap(infoRegistersNames);
  const [ours, theirs] = await Promise.all([remote(core), direct(forGdb)]);
  t.match(theirs, /lib_descend/, 'gdb itself sees the library frames');
  t.notMatch(ours, /too small|unavailable/, 'every thread has all its registers');
  t.match(ours, /leaf \(id=2\)/, 'the crashing thread is there');
  t.match(byCommand(ours, pid).get('print $_siginfo.si_signo'), /= 11/, 'the SIGSEGV siginfo');
  compare(t, ours, theirs, pid, hidden);
  // Oracle: the kernel's own core, decoded at its NT_X86_XSAVE_LAYOUT offsets by hostkit's reader.
  const kernel = openCore(core);
  t.teardown(() => kernel.close());
  const vectors = kernel.threads[0]!.vectors!;
  const checks: [string, string][] = [['p/x $xmm1.v2_int64', int64s(vectors.xmm[1]!)]];
  if (vectors.ymm.length) checks.push(['p/x $ymm1.v4_int64', int64s(vectors.ymm[1]!)]);
  if (vectors.zmm.length)
    checks.push(['p/x $zmm1.v8_int64', int64s(vectors.zmm[1]!)], ['p/x $zmm31.v8_int64', int64s(vectors.zmm[31]!)], ['p/x $k1', hex(vectors.k[1]!)]);
  if (vectors.pkru !== undefined) checks.push(['p/x $pkru', hex(BigInt(vectors.pkru))]);
  const printed = byCommand(
    await remote(
      core,
      checks.map(([c]) => c),
    ),
    pid,
  );
  for (const [command, value] of checks)
    t.equal(
      printed
        .get(command)
        ?.replace(/^\$\d+ = /, '')
        .trim(),
      value,
      `${command} as the kernel's core has it`,
    );
});

const hex = (v: bigint) => `0x${v.toString(16)}`;
/** gdb's p/x of a vector's v*_int64 view. */
const int64s = (b: Buffer) => `{${Array.from({ length: b.length / 8 }, (_, i) => hex(b.readBigUInt64LE(i * 8))).join(', ')}}`;

t.test('a hostkit snapshot: same output as gdb PROGRAM CORE', async (t) => {
  const core = path.join(dir, 'snapshot.core');
  const pid = await snapshotOf(t, ['3', '5'], core);
  const [ours, theirs] = await Promise.all([remote(core), direct(core)]);
  t.match(theirs, /lib_descend.*\n.*lib_descend/, 'gdb itself sees the library frames');
  compare(t, ours, theirs, pid);
});

t.test('read-only: resume, step and writes are refused with a reason gdb shows', async (t) => {
  const core = path.join(dir, 'refusals.core');
  await snapshotOf(t, ['1', '1'], core);
  // gdbsock's stderr is gdb's here, as when gdb runs it through a pipe.
  const out = await remote(core, ['break leaf', 'continue', 'stepi', 'set var counters[1] = 5', 'print counters[1]', 'set var $rax = 1', 'bt 1'], '');
  t.match(out, /Remote failure reply: E\.core file \S+ is read-only: it cannot be resumed or stepped/, 'continue and stepi get the reason');
  t.match(
    out,
    /Cannot access memory at address 0x[0-9a-f]+\n(.|\n)*memory cannot be written|memory cannot be written(.|\n)*Cannot access memory/,
    'a memory write fails, and gdbsock says why',
  );
  t.match(out, /\$1 = 7/, 'the value is unchanged');
  // gdb gets no P (as from gdbserver) and writes with G: "Could not write registers; remote failure reply 'E.…'".
  // Through P, gdb 13 quoted the whole reply and gdb 16 only the message after E.: either is taken.
  t.match(out, /Could not write registers?(?: "rax")?; remote failure reply '(?:E\.)?core file \S+ is read-only: registers cannot be changed'/);
  // The snapshot may catch the main thread still in the write() of its "ready" line, or already in read().
  const at = /^(\w+) \(/m.exec(out)?.[1];
  t.ok(at && new RegExp(`#0 +${at} \\(`).test(out), `still in ${at}`);
});

t.test('a core stored by cored (zstd), by id, over a unix socket', async (t) => {
  const store = path.join(dir, 'store');
  fs.mkdirSync(store);
  const id = '1700000000-4242-gdbsock-core';
  await snapshotOf(t, ['2', '2'], path.join(store, `${id}.core`));
  const z = spawnSync('zstd', ['-q', '--rm', path.join(store, `${id}.core`), '-o', path.join(store, `${id}.core.zst`)]);
  t.equal(z.status, 0, 'compressed as cored stores it');
  fs.writeFileSync(path.join(store, `${id}.json`), JSON.stringify({ exe: binary }));

  const socket = path.join(dir, 'core.sock');
  const server: ChildProcess = spawn(process.execPath, [CLI, '--core', id, '--store', store, '--socket', socket], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: cleanEnv(),
  });
  t.teardown(() => server.kill('SIGKILL'));
  const exited = once(server, 'exit');
  const line = await new Promise<string>((resolve, reject) => {
    readline.createInterface({ input: server.stdout! }).on('line', (l) => l.includes('target remote') && resolve(l));
    void exited.then(() => reject(new Error('gdbsock exited before listening')));
  });
  t.match(line, `target remote ${socket}`);
  // Two connections in turn: the core stays served.
  for (let i = 0; i < 2; i++) {
    const out = await gdb(['-ex', `target remote ${socket}`], ['info sharedlibrary', 'thread apply all bt 2', 'x/s greeting']);
    t.match(out, /libgdbsockcore\.so/, `connection ${i + 1}: the libraries, found from the stored core's link map`);
    t.match(out, /"served from a core"/, `connection ${i + 1}: the program's data`);
  }
  server.kill('SIGTERM');
  await exited;
});

t.test('a truncated core (RLIMIT_CORE, a full disk) is served as far as it goes, with a warning', async (t) => {
  const whole = path.join(dir, 'whole.core');
  await snapshotOf(t, ['1', '1'], whole);
  const cut = path.join(dir, 'cut.core');
  fs.writeFileSync(cut, fs.readFileSync(whole).subarray(0, Math.floor(fs.statSync(whole).size / 2)));
  const commands = ['info threads', 'x/2gx 0'];
  const [ours, theirs] = await Promise.all([remote(cut, commands, ''), direct(cut, commands)]);
  t.match(ours, /gdbsock: warning: \S+cut\.core is truncated \(PT_LOAD \d+ data .* runs past the end of the file/);
  const a = byCommand(ours, 0);
  const b = byCommand(theirs, 0);
  t.match(a.get('info threads'), /\* 1 +Thread \d+\.\d+/, 'the thread is there');
  t.equal(a.get('x/2gx 0'), b.get('x/2gx 0'));
});

t.test('malformed and missing cores: a clear error and exit status 1', async (t) => {
  const truncated = path.join(dir, 'truncated.core');
  fs.writeFileSync(truncated, fs.readFileSync(binary).subarray(0, 30));
  const notCore = binary;
  const cases: [string[], RegExp][] = [
    [['--core', truncated], /truncated\.core: bad core at offset \d+ .*ELF header/],
    [['--core', notCore], /gdbsock-core: bad core at offset 16 .*not ET_CORE/],
    [['--core', path.join(dir, 'missing.core')], /ENOENT: no such file or directory, open .*missing\.core/],
    [['--core', 'no-such-id', '--store', dir], /no core file 'no-such-id', nor a stored core with that id in /],
    [['--exe', binary, '1'], /--exe and --store go with --core/],
  ];
  for (const [args, message] of cases) {
    const r = spawnSync(process.execPath, [CLI, '--stdio', ...args], { encoding: 'utf8', env: cleanEnv(), timeout: 20_000 });
    t.not(r.status, 0, `${args.join(' ')}: non-zero exit`);
    t.match(r.stderr, message, `${args.join(' ')}: says what is wrong`);
    t.notMatch(r.stderr, /\n\s+at /, 'no stack trace');
  }
});
