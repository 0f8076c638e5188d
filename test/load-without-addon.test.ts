/**
 * The protocol layers and the core reader load where the C addon was never
 * built: a copy of dist/ with no build/ or prebuilds/ beside it. Native code
 * loads on first use, and only then does a missing build say so.
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import t from 'tap';

const root = path.resolve(__dirname, '..');
const copy = fs.mkdtempSync(path.join(os.tmpdir(), 'hostkit-noaddon-'));
t.teardown(() => fs.rmSync(copy, { recursive: true, force: true }));
fs.cpSync(path.join(root, 'dist'), path.join(copy, 'dist'), { recursive: true });
fs.copyFileSync(path.join(root, 'package.json'), path.join(copy, 'package.json'));
fs.symlinkSync(path.join(root, 'node_modules'), path.join(copy, 'node_modules'));

function run(script: string): { status: number | null; stdout: string; stderr: string } {
  return spawnSync(process.execPath, ['-e', script], { cwd: copy, encoding: 'utf8' });
}

t.test('importing the gdbsock server, the protocol and the core reader needs no addon', async (t) => {
  t.notOk(fs.existsSync(path.join(copy, 'build')) || fs.existsSync(path.join(copy, 'prebuilds')));
  for (const module of ['./dist/gdbsock/server', './dist/gdbsock/packet', './dist/coredump', './dist/gdbsock', './dist']) {
    const r = run(`require(${JSON.stringify(module)}); console.log('loaded')`);
    t.equal(r.stdout.trim(), 'loaded', `${module}: ${r.stderr}`);
  }
});

t.test('a core can be read with no addon', async (t) => {
  const r = run(`
    const { parseCoreBuffer } = require('./dist/coredump');
    try { parseCoreBuffer(Buffer.from('not a core at all, longer than an ELF header.........................')); }
    catch (e) { console.log(e.code || e.name); }`);
  t.match(r.stdout, /CoreFormatError|ERR_/, r.stderr);
});

t.test('the first native call says the build is missing', async (t) => {
  const r = run(`require('./dist/native').addon.ptrace(0, 0, 0, 0)`);
  t.not(r.status, 0);
  t.match(r.stderr, /No native build was found/);
});
