/**
 * forkexec's --verify: the launcher's one exec runs only a program (and
 * interpreter) the signatures file lists and that matches it; an ELF program
 * is executed from the descriptor that was checked (execveat), so its
 * /proc/PID/exe is that file and it holds no extra descriptor. Oracles: the
 * kernel (did the program run, what /proc says of it) and the exit status.
 */
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import t, { type Test } from 'tap';
import { launch } from '../../lib/forkexec';
import { generate } from '../../lib/veriexec';
import { fixture } from '../helpers';

const FORKEXEC = path.resolve(__dirname, '..', '..', 'dist', 'forkexec', 'cli.js');
const LOADER = fs.realpathSync('/lib64/ld-linux-x86-64.so.2');
const SH = fs.realpathSync('/bin/sh');

async function listed(t: Test) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'hostkit-verify-'));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  const program = path.join(dir, 'showargs');
  fs.copyFileSync(fixture('showargs'), program);
  fs.chmodSync(program, 0o755);
  const script = path.join(dir, 'hello.sh');
  fs.writeFileSync(script, '#!/bin/sh\necho "script $1"\n', { mode: 0o755 });
  const sig = path.join(dir, 'sig');
  await generate({ roots: [program, script, LOADER, SH], output: sig });
  return { dir, program, script, sig };
}

function forkexec(...args: string[]) {
  return spawnSync(process.execPath, [FORKEXEC, ...args], { encoding: 'utf8' });
}

t.test('a listed program runs from the checked descriptor; a listed script through its listed interpreter', async (t) => {
  const { program, script, sig } = await listed(t);
  const r = forkexec('--no-exec', '--verify', sig, '--', program, 'a', 'b');
  t.equal(r.status, 0, r.stderr);
  t.match(r.stdout, /a/);
  const s = forkexec('--no-exec', '--verify', sig, '--', script, 'x');
  t.same({ status: s.status, out: s.stdout }, { status: 0, out: 'script x\n' });

  // What the kernel says of the program it runs: its exe, its name, its descriptors.
  const sleeper = path.join(path.dirname(program), 'sleep');
  fs.copyFileSync('/bin/sleep', sleeper);
  await generate({ roots: [program, script, sleeper, LOADER, SH], output: sig });
  const child = spawn(process.execPath, [FORKEXEC, '--no-exec', '--verify', sig, '--', sleeper, '5'], { stdio: 'ignore' });
  t.teardown(() => child.kill('SIGKILL'));
  let pid = 0;
  for (let i = 0; i < 200 && !pid; i++) {
    await new Promise((r) => setTimeout(r, 10));
    pid = Number(
      spawnSync('pgrep', ['-f', `^${sleeper} 5`], { encoding: 'utf8' })
        .stdout.trim()
        .split('\n')[0] || 0,
    );
  }
  t.ok(pid > 0, 'the program started');
  t.equal(fs.readlinkSync(`/proc/${pid}/exe`), sleeper);
  t.equal(fs.readFileSync(`/proc/${pid}/comm`, 'utf8'), 'sleep\n', "its name is the program's, not a descriptor number");
  t.same(fs.readdirSync(`/proc/${pid}/fd`).sort(), ['0', '1', '2'], 'and it holds no descriptor of ours');
  t.match(fs.readFileSync(`/proc/${pid}/status`, 'utf8'), /^Seccomp:\s+2$/m, 'under the lock');
});

t.test('refused before anything runs: unlisted, tampered, an unlisted interpreter, not to be executed', async (t) => {
  const { dir, program, script, sig } = await listed(t);
  const unlisted = forkexec('--no-exec', '--verify', sig, '--', '/bin/true');
  t.equal(unlisted.status, 127);
  t.match(unlisted.stderr, /veriexec: \/usr\/bin\/true: not in /);

  const bytes = fs.readFileSync(program);
  bytes[bytes.length >> 1]! ^= 0x20;
  fs.writeFileSync(program, bytes);
  const tampered = forkexec('--no-exec', '--verify', sig, '--', program);
  t.equal(tampered.status, 127);
  t.match(tampered.stderr, /fingerprint mismatch/);
  t.equal(tampered.stdout, '', 'nothing ran');

  // A table that lists the script but not the shell it names.
  const noShell = path.join(dir, 'no-shell');
  await generate({ roots: [script], output: noShell });
  const viaShell = forkexec('--no-exec', '--verify', noShell, '--', script, 'x');
  t.equal(viaShell.status, 127);
  t.match(viaShell.stderr, new RegExp(`veriexec: ${SH}: not in `), 'the interpreter must be listed too');

  // A library-only line (flags: file) is not to be executed.
  const libOnly = path.join(dir, 'lib-only');
  fs.writeFileSync(
    libOnly,
    fs
      .readFileSync(sig, 'utf8')
      .replace(/ direct,file /g, ' file ')
      .replace(/ direct,indirect,file /g, ' file '),
  );
  t.match(forkexec('--no-exec', '--verify', libOnly, '--', script).stderr, /not to be executed/);

  t.throws(() => launch(program, [], { exec: true, verify: sig }), { code: 'ERR_HOSTKIT_VERIEXEC_DENIED', path: program });
  t.throws(() => launch(program, [], { exec: true, verify: path.join(dir, 'none') }), { code: 'ENOENT' });
});
