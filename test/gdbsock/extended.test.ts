import t from 'tap';
import { fixture } from '../helpers';
import { requireTool, runGdb, startGdbsock } from './gdb';

requireTool('gdb');
const binary = fixture('gdbsock');

t.test('extended-remote: run starts the program again (vRun), catch syscall, monitor', async (t) => {
  const server = await startGdbsock(['--listen', '127.0.0.1:0', '--', binary, 'count', '3']);
  t.teardown(() => server.stop());
  const out = await runGdb(`target extended-remote ${server.target}`, [
    'set remote exec-file ' + binary,
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
  ], { file: binary });
  t.match(out, /Breakpoint 1, step_me \(i=i@entry=0\)/, 'run stopped at the breakpoint');
  t.match(out, /\$1 = 0/);
  t.match(out, /Catchpoint 2 \(call to syscall write\)/);
  t.match(out, /\[Inferior 1 \(process \d+\) exited normally\]/);
  t.match(out, /gdbsock monitor commands/);
});
