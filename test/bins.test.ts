/**
 * The commands package.json installs (its `bin`) as npm links them: a symlink
 * in a .bin directory, run directly through its #! line. Each is executable
 * (0755: scripts/bundle-bins.js, run by the build and npm test, writes them so),
 * starts, and answers --help and --version.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import t from 'tap';

const root = path.join(__dirname, '..');
const { bin, version } = JSON.parse(fs.readFileSync(path.join(root, 'package.json'), 'utf8')) as { bin: Record<string, string>; version: string };

/** A .bin directory as npm makes it: one symlink per command. */
const binDir = fs.mkdtempSync(path.join(os.tmpdir(), 'hostkit-bins-'));
t.teardown(() => fs.rmSync(binDir, { recursive: true, force: true }));
for (const [name, file] of Object.entries(bin)) fs.symlinkSync(path.join(root, file), path.join(binDir, name));

t.test('package.json names the five commands', async (t) => {
  t.same(Object.keys(bin).sort(), ['cored', 'forkexec', 'gdbsock', 'hostkit', 'veriexec']);
});

for (const [name, file] of Object.entries(bin)) {
  t.test(name, async (t) => {
    const target = path.join(root, file);
    t.equal(fs.statSync(target).mode & 0o777, 0o755, `${file} is 0755`);
    t.equal(fs.readFileSync(target, 'utf8').split('\n')[0], '#!/usr/bin/env node', `${file} starts with #!/usr/bin/env node`);

    const help = spawnSync(path.join(binDir, name), ['--help'], { encoding: 'utf8', timeout: 60_000 });
    t.equal(help.status, 0, `${name} --help exits 0: ${help.stderr}`);
    t.match(help.stdout, new RegExp(`^usage: ${name} `), `${name} --help prints its usage`);

    const out = execFileSync(path.join(binDir, name), ['--version'], { encoding: 'utf8', timeout: 60_000 });
    t.equal(out.split('\n')[0], `${name} (hostkit) ${version}`, `${name} --version names the package's version`);
  });
}

t.test("each bin's bundle is compiled from its build-time code cache by this Node", async (t) => {
  for (const file of Object.values(bin)) {
    const base = path.join(root, path.dirname(file), path.basename(file, '.js'));
    // A Node of its own, as the bin runs: tap's loaders and options stay out.
    const check = `const fs = require('node:fs'); const vm = require('node:vm');
      const script = new vm.Script(fs.readFileSync(${JSON.stringify(`${base}.bundle.js`)}, 'utf8'), { cachedData: fs.readFileSync(${JSON.stringify(`${base}.bundle.cache`)}) });
      process.stdout.write(String(script.cachedDataRejected));`;
    const env = { ...process.env };
    delete env.NODE_OPTIONS;
    t.equal(execFileSync(process.execPath, ['-e', check], { encoding: 'utf8', env }), 'false', `${file}: the code cache is accepted`);
  }
});

t.test("gdbsock's code cache was made after a debugging session (scripts/train-code-cache.js), not only at build time", async (t) => {
  const marker = path.join(root, 'dist', 'gdbsock', 'cli.bundle.trained');
  t.ok(fs.existsSync(marker), `${marker} is there: the build's training session ran (its message says why not, if not)`);
  const { bytes, buildTimeBytes } = JSON.parse(fs.readFileSync(marker, 'utf8')) as { bytes: number; buildTimeBytes: number };
  t.equal(fs.statSync(path.join(root, 'dist', 'gdbsock', 'cli.bundle.cache')).size, bytes, 'the cache installed is the trained one');
  t.ok(bytes > buildTimeBytes * 1.3, `it holds the session's functions too (${bytes} bytes against ${buildTimeBytes})`);
});
