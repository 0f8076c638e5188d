import t from 'tap';
import { fixture } from '../helpers';
import { requireTool, runGdb, startGdbsock } from './gdb';

requireTool('gdb');
const binary = fixture('gdbsock');

t.test('extended-remote: run starts the program again (vRun), catch syscall, monitor', async (t) => {
  const server = await startGdbsock(['--listen', '127.0.0.1:0', '--', binary, 'count', '3']);
  t.teardown(() => server.stop());
  const out = await runGdb(
    `target extended-remote ${server.target}`,
    [
      `set remote exec-file ${binary}`,
      'break step_me',
      'run',
      'print i',
      'info inferiors',
      'delete',
      'catch syscall write',
      'continue',
      'print $_siginfo.si_signo',
      'delete',
      'continue',
      'monitor help',
    ],
    { file: binary },
  );
  t.match(out, /Breakpoint 1, step_me \(i=i@entry=0\)/, 'run stopped at the breakpoint');
  t.match(out, /\$1 = 0/);
  t.match(out, /Catchpoint 2 \(call to syscall write\)/);
  t.match(out, /\[Inferior 1 \(process \d+\) exited normally\]/);
  t.match(out, /gdbsock monitor commands/);
});

t.test('threads created and exiting while running; breakpoints in new threads', async (t) => {
  const threads = fixture('threads');
  const server = await startGdbsock(['--once', '--listen', '127.0.0.1:0', '--', threads, 'churn', '40']);
  t.teardown(() => server.stop());
  const out = await runGdb(
    `target extended-remote ${server.target}`,
    ['break short_lived if (long)arg == 30', 'continue', 'print (long)arg', 'info threads', 'delete', 'continue'],
    { file: threads },
  );
  t.match(out, /hit Breakpoint 1, short_lived \(arg=0x1e\)/, 'the condition picked the 31st thread');
  t.match(out, /\$1 = 30/);
  t.match(out, /\* 2 +Thread \d+\.\d+ "threads" short_lived/, 'the new thread is current');
  t.match(out, /\[Inferior 1 \(process \d+\) exited normally\]/, 'every other thread came and went without a stop');
});

t.test('exec: gdb follows the new program', async (t) => {
  const execer = fixture('execer');
  const server = await startGdbsock(['--once', '--listen', '127.0.0.1:0', '--', execer, fixture('exitcode'), '5']);
  t.teardown(() => server.stop());
  const out = await runGdb(`target extended-remote ${server.target}`, ['continue', 'info inferiors', 'continue'], { file: execer });
  t.match(out, /is executing new program: .*exitcode/);
  t.match(out, /\[Inferior 1 \(process \d+\) exited with code 05\]/);
});

t.test('--listen beyond loopback warns loudly', async (t) => {
  const server = await startGdbsock(['--once', '--listen', '0.0.0.0:0', '--', binary, 'count', '1']);
  t.teardown(() => server.stop());
  t.match(server.target, /^0\.0\.0\.0:\d+$/);
  await new Promise((r) => setTimeout(r, 100));
  t.match(server.stderr(), /WARNING: listening beyond loopback/);
  t.match(server.stderr(), /no authentication/);
});
