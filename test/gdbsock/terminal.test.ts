/**
 * The terminal a launched program gets. gdbserver starts the program in a
 * process group of its own and makes that group the terminal's foreground
 * (so the program reads the terminal, and a Ctrl-C typed there goes to it),
 * and gives the terminal back when it exits. gdbsock does the same. Each
 * server runs on a real pseudo-terminal (util-linux `script`), in a shell
 * that then connects gdb over TCP; gdbserver runs the same script beside it.
 * The oracle is the program itself: its pid, its process group and the
 * terminal's foreground group, as it reads them, and the line it reads.
 */
import { spawn } from 'node:child_process';
import net from 'node:net';
import t, { type Test } from 'tap';
import { fixture } from '../helpers';
import { GDBSOCK_AS_GDBSERVER, cleanEnv, requireTool } from './gdb';

requireTool('gdb');
requireTool('gdbserver');
requireTool('script');
const program = fixture('terminal');

async function freePort(): Promise<number> {
  const server = net.createServer().listen(0, '127.0.0.1');
  await new Promise((resolve) => server.once('listening', resolve));
  const port = (server.address() as net.AddressInfo).port;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

const quote = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;

/**
 * Runs `server :PORT terminal read` in the background of a shell on a new
 * pseudo-terminal, gdb (retried until the server listens) continues it to
 * its end, and the shell then runs the program once more by itself. The line
 * the program waits for is typed once it says "ready". Returns what the
 * terminal showed.
 */
async function onTerminal(server: readonly string[]): Promise<string> {
  const port = await freePort();
  const script = [
    // A background command's stdin would be /dev/null (no job control in sh -c): the terminal, explicitly.
    `${[...server, `127.0.0.1:${port}`, program, 'read'].map(quote).join(' ')} </dev/tty &`,
    'tries=0',
    `until gdb -nx -batch -ex 'target remote 127.0.0.1:${port}' -ex continue </dev/null >/dev/null 2>&1; do`,
    '  tries=$((tries + 1)); [ $tries -gt 150 ] && exit 3; sleep 0.1',
    'done',
    'wait',
    'echo after:',
    quote(program),
  ].join('\n');
  const proc = spawn('script', ['-qefc', script, '/dev/null'], { env: { ...cleanEnv(), SHELL: '/bin/sh' }, stdio: ['pipe', 'pipe', 'pipe'] });
  let out = '';
  let typed = false;
  proc.stdout.on('data', (d: Buffer) => {
    out += d.toString();
    if (!typed && /ready\r?\n/.test(out)) {
      typed = true;
      proc.stdin.write('hello\n');
    }
  });
  proc.stderr.on('data', (d: Buffer) => {
    out += d.toString();
  });
  const timer = setTimeout(() => proc.kill('SIGKILL'), 60_000);
  const code = await new Promise<number | null>((resolve) => proc.on('close', resolve));
  clearTimeout(timer);
  proc.stdin.end();
  if (code !== 0) throw new Error(`the terminal session ended with ${code}:\n${out}`);
  return out.replace(/\r/g, '');
}

function check(t: Test, out: string): void {
  const [during, after] = out.split('after:\n');
  const seen = /pid=(\d+) pgrp=(\d+) foreground=(-?\d+)/.exec(during ?? '');
  t.ok(seen, `the program said where it runs:\n${out}`);
  if (seen) {
    t.equal(seen[2], seen[1], 'the program leads a process group of its own');
    t.equal(seen[3], seen[1], 'its group has the terminal');
  }
  t.match(during, /got hello/, 'it read the line typed at the terminal');
  const back = /pid=(\d+) pgrp=(\d+) foreground=(-?\d+)/.exec(after ?? '');
  t.ok(back, 'the shell ran the program again after the server ended');
  if (back) t.equal(back[3], back[2], "the shell's group has the terminal back");
}

t.test('gdbserver (the anchor) gives the program its own group and the terminal', async (t) => {
  check(t, await onTerminal(['gdbserver']));
});

t.test('gdbsock gives the program its own group and the terminal, and takes it back', async (t) => {
  check(t, await onTerminal(GDBSOCK_AS_GDBSERVER));
});
