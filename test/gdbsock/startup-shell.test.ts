/**
 * QStartupWithShell: `run` starts the program through $SHELL -c 'exec ...'
 * (gdb's default startup-with-shell on), with the arguments the program gets
 * under gdbserver; off, the program is exec'd directly.
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import t, { type Test } from 'tap';
import { shellCommand } from '../../lib/gdbsock/targets/startup-shell';
import { fixture } from '../helpers';
import { requireTool, runGdb, startGdbserver, startGdbsock } from './gdb';

requireTool('gdb');
requireTool('gdbserver');
const showargs = fixture('showargs');

/** What showargs printed: its argument lines. */
const argLines = (out: string) => out.split('\n').filter((l) => /^(argc|arg\d+)=/.test(l));

/** A $SHELL that notes it ran, then runs the command itself (no exec of another shell: gdb counts execs). */
function loggingShell(t: Test): { shell: string; log: string } {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'gdbsock-shell-'));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  const shell = path.join(dir, 'shell');
  const log = path.join(dir, 'log');
  fs.writeFileSync(shell, `#!/bin/sh\necho "$@" >> ${log}\n[ "$1" = -c ] && eval "$2"\n`, { mode: 0o755 });
  return { shell, log };
}

const SHELL_ARGS = `'$HOME' $HOME *.c 'a b' "x y" '' > /dev/null`;

t.test('startup-with-shell on: through $SHELL, the program gets what it gets under gdbserver', async (t) => {
  const { shell, log } = loggingShell(t);
  const saved = process.env.SHELL;
  process.env.SHELL = shell; // gdbsock's environment, as gdbserver's own $SHELL is what it uses
  t.teardown(() => {
    if (saved === undefined) delete process.env.SHELL;
    else process.env.SHELL = saved;
  });
  const server = await startGdbsock(['--once', '--listen', '127.0.0.1:0', '--', showargs]);
  t.teardown(() => server.stop());
  let ours = '';
  server.proc.stdout!.on('data', (d: Buffer) => (ours += d.toString()));
  const commands = ['catch exec', 'break main', `run ${SHELL_ARGS}`, 'info inferiors', 'continue'];
  const gdbOut = await runGdb(`target extended-remote ${server.target}`, commands, { file: showargs });
  t.match(gdbOut, /\[Inferior 1 \(process \d+\) exited normally\]/);
  t.notMatch(gdbOut, /Catchpoint 1 \(exec'd/, "the shell's exec of the program is not an exec gdb sees: the run stops at the program");
  t.match(gdbOut, /\* 1 +process \d+ .*showargs/, 'the first stop is the program itself');
  t.match(fs.readFileSync(log, 'utf8'), /^-c exec .*showargs /m, '$SHELL -c exec PROGRAM ARGS');

  const anchor = await startGdbserver([], { multi: true });
  t.teardown(anchor.stop);
  await runGdb(`target extended-remote ${anchor.target}`, [`set remote exec-file ${showargs}`, ...commands], { file: showargs });
  t.ok(argLines(ours).length >= 7, 'the program printed its arguments');
  t.same(argLines(ours), argLines(anchor.output()), 'the same argv as under gdbserver');
});

t.test('startup-with-shell off: exec directly, arguments as gdb split them; disable-randomization still holds', async (t) => {
  const { shell, log } = loggingShell(t);
  const saved = process.env.SHELL;
  process.env.SHELL = shell;
  t.teardown(() => {
    if (saved === undefined) delete process.env.SHELL;
    else process.env.SHELL = saved;
  });
  const server = await startGdbsock(['--once', '--listen', '127.0.0.1:0', '--', showargs]);
  t.teardown(() => server.stop());
  let ours = '';
  server.proc.stdout!.on('data', (d: Buffer) => (ours += d.toString()));
  await runGdb(`target extended-remote ${server.target}`, ['set startup-with-shell off', `run 'a b' '$HOME'`], { file: showargs });
  t.same(argLines(ours), ['argc=3', 'arg1=a b', 'arg2=$HOME']);
  t.notOk(fs.existsSync(log), 'no shell ran');
});

t.test('startup-with-shell on with disable-randomization: the stack is where it was last run', async (t) => {
  const server = await startGdbsock(['--once', '--listen', '127.0.0.1:0', '--', showargs]);
  t.teardown(() => server.stop());
  const out = await runGdb(`target extended-remote ${server.target}`, ['break main', 'run same', 'print $sp', 'run same', 'print $sp'], { file: showargs });
  const sps = [...out.matchAll(/^\$\d+ = \(void \*\) (0x[0-9a-f]+)/gm)].map((m) => m[1]);
  t.equal(sps.length, 2, 'both runs stopped at main');
  t.equal(sps[0], sps[1], 'same stack address: no randomization held through the shell');
  t.match(out, /Breakpoint 1, main \(argc=2, /, 'the program, with its argument, at main');
});

t.test('the shell word for each argument reads back as the argument exactly', async (t) => {
  const args = ['', 'a b', "it's", '"q"', '$HOME', '*.c', 'x\ny', 'back\\slash', '~', '-n', '> /dev/null', '#', 'a;b|c&d', '(x)', '{}', '`id`', 'é'];
  const [shell, flag, command] = shellCommand(showargs, args, '/bin/sh');
  t.equal(shell, '/bin/sh');
  const out = execFileSync(shell!, [flag!, command!], { encoding: 'utf8' });
  t.equal(out, `${[`argc=${args.length + 1}`, ...args.map((a, i) => `arg${i + 1}=${a}`)].join('\n')}\n`);
});
