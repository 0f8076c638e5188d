/**
 * A program's arguments reach it exactly as given, never read by a shell
 * unless gdb asked for one: `gdbsock -- PROGRAM ARGS` execs PROGRAM with ARGS
 * as its argv; vRun with startup-with-shell off does the same; with it on,
 * the shell gdbsock goes through gets each argument quoted back to itself
 * (see startup-shell.test.ts for the gdbserver comparison of quoting and
 * redirection). Here: quotes, $(...), backticks, ; | * ~, empty arguments,
 * newlines, UTF-8, bytes that are not UTF-8 (which Node would decode to
 * U+FFFD: gdbsock passes them as bytes), and a program path full of the same.
 */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import t, { type Test } from 'tap';
import { fixture } from '../helpers';
import { type Gdbsock, cleanEnv, requireTool, rspClient, runGdb, startGdbserver, startGdbsock } from './gdb';

requireTool('gdb');
requireTool('gdbserver');
const showargs = fixture('showargs');

// Every launched program runs in this directory, so a `$(touch NAME)` that a shell ran would leave NAME here.
const work = fs.mkdtempSync(path.join(os.tmpdir(), 'gdbsock-args-'));
process.chdir(work);
t.teardown(() => {
  process.chdir(os.tmpdir());
  fs.rmSync(work, { recursive: true, force: true });
});

/** Arguments a shell would do something with; each must arrive as written. */
const HOSTILE = [
  'a b',
  '  two  spaces  ',
  "it's",
  '"double"',
  '$(touch dollar-paren)',
  '`touch backtick`',
  'a;touch semicolon',
  'x|touch pipe',
  'y&&touch and',
  '*',
  '?',
  '[a-z]*',
  '~',
  '~root',
  '$HOME',
  // biome-ignore lint/suspicious/noTemplateCurlyInString: the text a shell would expand, passed untouched
  '${HOME}',
  '$0',
  '',
  'line1\nline2',
  'tab\there',
  'back\\slash',
  '\\',
  '#comment',
  '> redirect',
  '<',
  '(sub)',
  '{a,b}',
  '!',
  '-n',
  '--',
  '--once',
  'é ✓ 日本',
];

/** The files HOSTILE would create if a shell ran it. */
const TRAPS = ['dollar-paren', 'backtick', 'semicolon', 'pipe', 'and'];

/** What showargs prints for `args`, byte for byte. */
function expected(args: readonly (string | Buffer)[]): Buffer {
  const lines = [Buffer.from(`argc=${args.length + 1}\n`)];
  for (const [i, a] of args.entries()) lines.push(Buffer.from(`arg${i + 1}=`), Buffer.from(a), Buffer.from('\n'));
  return Buffer.concat(lines);
}

/** The program's output on gdbsock's stdout (which the program inherits), from now on. */
function capture(server: Gdbsock): () => Promise<Buffer> {
  const chunks: Buffer[] = [];
  server.proc.stdout!.on('data', (d: Buffer) => chunks.push(d));
  // The program's last write may land just after its exit is reported: wait for the output to settle.
  return async () => {
    let size = -1;
    for (let i = 0; i < 50 && size !== Buffer.concat(chunks).length; i++) {
      size = Buffer.concat(chunks).length;
      await new Promise((r) => setTimeout(r, 40));
    }
    return Buffer.concat(chunks);
  };
}

function noTrapsSprung(t: Test): void {
  t.same(
    TRAPS.filter((name) => fs.existsSync(path.join(work, name))),
    [],
    'no shell ran the $(...), `...`, ; | && in the arguments',
  );
}

/** A copy of showargs at a path full of shell syntax. */
function hostileProgram(t: Test): string {
  const dir = fs.mkdtempSync(path.join(work, 'dir with $(touch dollar-paren) ;touch semicolon|* `touch backtick` '));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  const program = path.join(dir, `show "args" it's ~ *`);
  fs.copyFileSync(showargs, program);
  fs.chmodSync(program, 0o755);
  return program;
}

/** Continues the launched program to its exit over the raw protocol. */
async function runToExit(target: string): Promise<string> {
  const rsp = await rspClient(target);
  try {
    await rsp.ask('QStartNoAckMode');
    return await rsp.ask('vCont;c');
  } finally {
    rsp.close();
  }
}

t.test('gdbsock -- PROGRAM ARGS: the program gets ARGS exactly, no shell', async (t) => {
  const server = await startGdbsock(['--once', '--listen', '127.0.0.1:0', '--', showargs, ...HOSTILE]);
  t.teardown(() => server.stop());
  const output = capture(server);
  t.match(await runToExit(server.target), /^W00/);
  t.equal((await output()).toString(), expected(HOSTILE).toString());
  noTrapsSprung(t);
});

t.test("gdbsock --stdio -- PROGRAM ARGS (under gdb's `target remote |`): the same argv", async (t) => {
  // gdb hands the pipe command to /bin/sh, which takes the single quotes off; gdbsock then execs the words as they are.
  // The program's stdout is gdbsock's stderr under --stdio (stdout is the protocol), which goes to a file here.
  const log = path.join(work, 'stdio.log');
  const args = ['a b', '$(touch dollar-paren)', '`touch backtick`', 'a;touch semicolon', '*', '~', '', '"q"'];
  const quoted = args.map((a) => `'${a}'`).join(' ');
  const cli = path.join(__dirname, '..', '..', 'dist', 'gdbsock', 'cli.js');
  const out = await runGdb(`target remote | ${process.execPath} ${cli} --stdio -- ${showargs} ${quoted} 2>${log}`, ['continue'], { file: showargs });
  t.match(out, /\[Inferior 1 \(process \d+\) exited normally\]/);
  t.equal(fs.readFileSync(log, 'utf8').replace(/^gdbsock: .*\n/gm, ''), expected(args).toString());
  noTrapsSprung(t);
});

t.test('gdbsock -- PROGRAM: a program path with spaces, quotes and shell syntax', async (t) => {
  const program = hostileProgram(t);
  const server = await startGdbsock(['--once', '--listen', '127.0.0.1:0', '--', program, 'one', '']);
  t.teardown(() => server.stop());
  const output = capture(server);
  t.match(await runToExit(server.target), /^W00/);
  t.equal((await output()).toString(), expected(['one', '']).toString());
  noTrapsSprung(t);
});

/** vRun (extended-remote `run`) of `program` with `args` given as raw bytes, startup-with-shell on or off. */
async function vRun(t: Test, program: string | Buffer, args: readonly (string | Buffer)[], withShell: boolean): Promise<Buffer> {
  const server = await startGdbsock(['--once', '--listen', '127.0.0.1:0', '--', showargs]);
  t.teardown(() => server.stop());
  const output = capture(server);
  const rsp = await rspClient(server.target);
  t.teardown(rsp.close);
  t.equal(await rsp.ask('QStartNoAckMode'), 'OK');
  t.match(await rsp.ask('qSupported:multiprocess+'), /QStartupWithShell\+/);
  t.equal(await rsp.ask('!'), 'OK');
  t.equal(await rsp.ask(`QStartupWithShell:${withShell ? 1 : 0}`), 'OK');
  const hex = (a: string | Buffer) => Buffer.from(a).toString('hex');
  t.match(await rsp.ask(`vRun;${[program, ...args].map(hex).join(';')}`), /^T05/, 'stopped at the start');
  t.match(await rsp.ask('vCont;c'), /^W00/);
  return output();
}

for (const withShell of [false, true]) {
  const mode = `startup-with-shell ${withShell ? 'on' : 'off'}`;

  t.test(`vRun, ${mode}: each argument arrives byte for byte`, async (t) => {
    const out = await vRun(t, showargs, HOSTILE, withShell);
    t.equal(out.toString(), expected(HOSTILE).toString());
    noTrapsSprung(t);
  });

  t.test(`vRun, ${mode}: a program path with spaces, quotes and shell syntax`, async (t) => {
    // gdbserver 13 cannot start this one at all (vRun answers E01).
    const out = await vRun(t, hostileProgram(t), ['x', '$(touch dollar-paren)'], withShell);
    t.equal(out.toString(), expected(['x', '$(touch dollar-paren)']).toString());
    noTrapsSprung(t);
  });
}

/** showargs' lines in some output (its argument lines have no newlines in this test). */
const argLines = (out: string) => out.split('\n').filter((l) => /^(argc|arg\d+)=/.test(l));

// What gdb's `run` line below splits into (gdb strips one level of quotes, then sends each word in vRun).
const RUN_LINE = `'$(touch dollar-paren)' '\`touch backtick\`' 'a;touch semicolon' 'x|touch pipe' '*' '~' '' '"q"' 'a b'`;
const RUN_ARGS = ['$(touch dollar-paren)', '`touch backtick`', 'a;touch semicolon', 'x|touch pipe', '*', '~', '', '"q"', 'a b'];

t.test('gdb `run` with startup-with-shell off: the words gdb split, literally', async (t) => {
  const server = await startGdbsock(['--once', '--listen', '127.0.0.1:0', '--', showargs]);
  t.teardown(() => server.stop());
  const output = capture(server);
  const out = await runGdb(`target extended-remote ${server.target}`, ['set startup-with-shell off', `run ${RUN_LINE}`], { file: showargs });
  t.match(out, /\[Inferior 1 \(process \d+\) exited normally\]/);
  t.equal((await output()).toString(), expected(RUN_ARGS).toString());
  noTrapsSprung(t);
});

t.test('gdb `run` with startup-with-shell on: what gdbserver gives the program, and nothing runs', async (t) => {
  const server = await startGdbsock(['--once', '--listen', '127.0.0.1:0', '--', showargs]);
  t.teardown(() => server.stop());
  const output = capture(server);
  const ours = await runGdb(`target extended-remote ${server.target}`, [`run ${RUN_LINE}`], { file: showargs });
  t.match(ours, /\[Inferior 1 \(process \d+\) exited normally\]/);
  t.equal((await output()).toString(), expected(RUN_ARGS).toString(), 'literally');
  noTrapsSprung(t);

  const anchor = await startGdbserver([], { multi: true });
  t.teardown(anchor.stop);
  const theirs = await runGdb(`target extended-remote ${anchor.target}`, [`set remote exec-file ${showargs}`, `run ${RUN_LINE}`], { file: showargs });
  t.match(theirs, /\[Inferior 1 \(process \d+\) exited normally\]/);
  t.same(argLines((await output()).toString()), argLines(anchor.output()), 'the same argv as under gdbserver');
  noTrapsSprung(t);
});

/** Arguments that are not UTF-8 (a lone 0xff, a stray continuation byte, a cut-off sequence): they must not become U+FFFD. */
const NOT_UTF8 = [Buffer.from([0x66, 0xff, 0xfe, 0x80]), Buffer.from([0xc3, 0x28]), Buffer.from([0xe2, 0x82, 0x20, 0x81, 0x88, 0x24])];

/** A copy of showargs whose path is not UTF-8 either (a name Linux takes as bytes). */
function notUtf8Program(t: Test): Buffer {
  const program = Buffer.concat([Buffer.from(`${work}/show-`), Buffer.from([0xff, 0xc3, 0x28, 0x80])]);
  fs.copyFileSync(showargs, program);
  fs.chmodSync(program, 0o755);
  t.teardown(() => fs.rmSync(program, { force: true }));
  return program;
}

/** `bytes` as a shell word built by printf's octal escapes: Node's spawn would pass a Buffer argument as UTF-8 text. */
const printfWord = (bytes: Buffer) => `"$(printf '${[...bytes].map((b) => `\\${b.toString(8).padStart(3, '0')}`).join('')}')"`;

/** `gdbsock --once --listen 127.0.0.1:0 -- PROGRAM ARGS` with each of them as raw bytes: /bin/sh execs gdbsock with them, Node never decodes them on the way. */
async function startGdbsockWithBytes(program: Buffer, args: readonly Buffer[]): Promise<Gdbsock> {
  const cli = path.join(__dirname, '..', '..', 'dist', 'gdbsock', 'cli.js');
  const script = `exec "$@" ${[program, ...args].map(printfWord).join(' ')}`;
  const proc = spawn('/bin/sh', ['-c', script, 'sh', process.execPath, cli, '--once', '--listen', '127.0.0.1:0', '--'], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: cleanEnv(),
  });
  let err = '';
  proc.stderr.on('data', (d: Buffer) => (err += d.toString()));
  const exited = once(proc, 'exit').then(([code]) => code as number | null);
  // Read the "connect with" line from the first chunk on, without taking the program's output away from capture().
  let banner = '';
  const target = await new Promise<string>((resolve, reject) => {
    const look = (d: Buffer) => {
      banner += d.toString('latin1');
      const m = /target extended-remote (.*)'\n/.exec(banner);
      if (m) {
        proc.stdout.off('data', look);
        resolve(m[1]!);
      }
    };
    proc.stdout.on('data', look);
    void exited.then((code) => reject(new Error(`gdbsock exited (${code}) before listening: ${err}`)));
  });
  return {
    proc,
    target,
    pid: Number(/process (\d+)/.exec(banner)?.[1]),
    stderr: () => err,
    exited,
    stop: async () => {
      if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGTERM');
      await exited;
    },
  };
}

t.test('gdbsock -- PROGRAM ARGS: a path and arguments that are not UTF-8 reach the program byte for byte', async (t) => {
  const server = await startGdbsockWithBytes(notUtf8Program(t), NOT_UTF8);
  t.teardown(() => server.stop());
  const output = capture(server);
  t.match(await runToExit(server.target), /^W00/);
  t.same([...(await output())], [...expected(NOT_UTF8)], 'byte for byte');
});

for (const withShell of [false, true]) {
  t.test(`vRun, startup-with-shell ${withShell ? 'on' : 'off'}: a path and arguments that are not UTF-8, byte for byte`, async (t) => {
    const out = await vRun(t, notUtf8Program(t), NOT_UTF8, withShell);
    t.same([...out], [...expected(NOT_UTF8)], withShell ? "through the shell's quoting too" : "exec'd as they are");
  });
}

t.test('vRun of a program that cannot run: an error reply, and the next run works', async (t) => {
  const server = await startGdbsock(['--once', '--listen', '127.0.0.1:0', '--', showargs]);
  t.teardown(() => server.stop());
  const output = capture(server);
  const rsp = await rspClient(server.target);
  t.teardown(rsp.close);
  await rsp.ask('QStartNoAckMode');
  await rsp.ask('qSupported:multiprocess+');
  await rsp.ask('!');
  const hex = (s: string) => Buffer.from(s).toString('hex');
  for (const withShell of [true, false]) {
    t.equal(await rsp.ask(`QStartupWithShell:${withShell ? 1 : 0}`), 'OK');
    for (const program of [path.join(work, 'no such program'), work, '/etc/passwd', 'no-such-program-in-path']) {
      t.match(await rsp.ask(`vRun;${hex(program)};${hex('$(touch dollar-paren)')}`), /^E/, `${program}, startup-with-shell ${withShell ? 'on' : 'off'}`);
    }
  }
  t.match(await rsp.ask(`vRun;${hex(showargs)};${hex('after')}`), /^T05/);
  t.match(await rsp.ask('vCont;c'), /^W00/);
  t.equal((await output()).toString(), expected(['after']).toString());
  noTrapsSprung(t);
});
