/** `cored snapshot` from the command line: to a file, to a pipe, and its errors. */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import t from 'tap';
import { openCore, parseCoreBuffer } from '../../lib/coredump';
import { fixture, startDetached } from '../helpers';
import { tempDir } from './gdb';

const CLI = path.join(__dirname, '..', '..', 'dist', 'coredump', 'cli.js');
const dir = tempDir();
t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));

function cored(args: string[], options: { cwd?: string } = {}) {
  return spawnSync(process.execPath, [CLI, ...args], { cwd: options.cwd ?? dir, timeout: 60_000, maxBuffer: 1 << 30 });
}

t.test('cored snapshot writes ./core.PID, -o FILE, and - to a pipe', async (t) => {
  t.ok(fs.existsSync(CLI), 'the CLI is built (npm test runs tsc first)');
  const target = await startDetached(fixture('core-target'), ['threads']);
  t.teardown(target.kill);

  const plain = cored(['snapshot', String(target.pid)]);
  t.equal(plain.status, 0, plain.stderr.toString());
  t.match(plain.stderr.toString(), new RegExp(`saved core of pid ${target.pid} \\(9 threads\\) to core\\.${target.pid}`));
  const core = openCore(path.join(dir, `core.${target.pid}`));
  t.teardown(() => core.close());
  t.equal(core.threads.length, 9);
  t.equal(fs.statSync(path.join(dir, `core.${target.pid}`)).mode & 0o777, 0o600, 'owner-only, like the kernel');

  const minimal = cored(['snapshot', String(target.pid), '--minimal', '-o', 'min.core']);
  t.equal(minimal.status, 0);
  t.ok(fs.statSync(path.join(dir, 'min.core')).size < core.size / 10, '--minimal is much smaller');

  const piped = cored(['snapshot', String(target.pid), '-o', '-']);
  t.equal(piped.status, 0, piped.stderr.toString());
  t.equal(piped.stderr.length, 0, 'nothing but the core on a pipe');
  const fromPipe = parseCoreBuffer(piped.stdout);
  t.same(
    fromPipe.threads.map((th) => th.tid),
    core.threads.map((th) => th.tid),
  );
});

t.test('a reader that goes away early (EPIPE) ends the snapshot cleanly and lets the process go', async (t) => {
  const target = await startDetached(fixture('core-target'), ['threads']);
  t.teardown(target.kill);
  const r = spawnSync(
    '/bin/bash',
    ['-c', `"$0" "$1" snapshot "$2" -o - | head -c 100 > /dev/null; echo "\${PIPESTATUS[0]}"`, process.execPath, CLI, String(target.pid)],
    {
      encoding: 'utf8',
      timeout: 60_000,
    },
  );
  t.equal(r.stdout.trim(), '1', 'exit status 1');
  t.match(r.stderr, /^cored snapshot: write EPIPE/, 'one clear line, no stack trace');
  t.match(fs.readFileSync(`/proc/${target.pid}/status`, 'utf8'), /TracerPid:\t0\n/, 'the process is no longer traced');
});

t.test('usage errors exit 2, failures exit 1 with a clear message', async (t) => {
  const none = cored(['snapshot']);
  t.equal(none.status, 2);
  t.match(none.stderr.toString(), /a process id is required/);
  const both = cored(['snapshot', '1', '--minimal', '--all']);
  t.equal(both.status, 2);
  t.match(both.stderr.toString(), /exclude each other/);
  const gone = cored(['snapshot', '1073741800', '-o', 'gone.core']);
  t.equal(gone.status, 1);
  t.match(gone.stderr.toString(), /^cored snapshot: ESRCH: no such process/);
  const help = cored(['--help']);
  t.equal(help.status, 0);
  t.match(help.stdout.toString(), /snapshot <pid> \[-o FILE\|-\] \[--minimal\] \[--all\]/);
});
