/**
 * The commands package.json installs (its `bin`) as npm links them: a symlink
 * in a .bin directory, run directly through its #! line. Each is executable
 * (0755: scripts/bundle-bins.js, run by the build and npm test, writes them so),
 * starts, and answers --help and --version.
 */
import { execFileSync, spawn, spawnSync } from 'node:child_process';
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
    t.equal(fs.readFileSync(target, 'utf8').split('\n')[0], '#!/bin/sh', `${file} starts with #!/bin/sh (its second line runs Node on it)`);

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

/** The environment a process was started with, as the kernel keeps it (/proc/PID/environ). */
function startEnvironment(pid: number): Map<string, string> {
  const entries = fs.readFileSync(`/proc/${pid}/environ`, 'latin1').split('\0').filter(Boolean);
  return new Map(entries.map((e) => [e.slice(0, e.indexOf('=')), e.slice(e.indexOf('=') + 1)]));
}

/**
 * Starts gdbsock through its linked bin, in gdbserver's form, launching
 * /bin/true with `env`; resolves with the environments gdbsock's Node and the
 * launched program started with, and what gdbsock printed on stderr.
 */
async function launchedEnvironments(env: NodeJS.ProcessEnv): Promise<{ node: Map<string, string>; program: Map<string, string>; stderr: string }> {
  const child = spawn(path.join(binDir, 'gdbsock'), ['--once', '127.0.0.1:0', '/bin/true'], { stdio: ['ignore', 'ignore', 'pipe'], env });
  const exited = new Promise((resolve) => child.on('exit', resolve));
  let stderr = '';
  child.stderr!.on('data', (d: Buffer) => (stderr += d.toString('latin1')));
  try {
    const deadline = Date.now() + 60_000;
    while (!/Listening on port \d+/.test(stderr)) {
      if (child.exitCode !== null || Date.now() > deadline) throw new Error(`gdbsock did not listen: ${stderr}`);
      await new Promise((r) => setTimeout(r, 10));
    }
    const programPid = Number(/created; pid = (\d+)/.exec(stderr)![1]);
    return { node: startEnvironment(child.pid!), program: startEnvironment(programPid), stderr };
  } finally {
    child.kill('SIGTERM');
    await exited;
  }
}

t.test("NODE_EXTRA_CA_CERTS: the bin's Node starts without it, the program gdbsock launches gets it as given", async (t) => {
  const base = { ...process.env };
  delete base.NODE_OPTIONS;
  delete base.NODE_EXTRA_CA_CERTS;
  // A file that is not there: Node warns at start-up when it reads the variable.
  for (const value of ['/nonexistent/extra CA\nfile $HOME "q"', '']) {
    const { node, program, stderr } = await launchedEnvironments({ ...base, NODE_EXTRA_CA_CERTS: value });
    t.notOk(node.has('NODE_EXTRA_CA_CERTS'), `${JSON.stringify(value)}: Node started without it (oracle: /proc/PID/environ)`);
    t.notMatch(stderr, /extra certs/i, 'and printed no warning about the file');
    t.equal(program.get('NODE_EXTRA_CA_CERTS'), value, 'the launched program has the value, byte for byte');
    t.notOk(program.has('HOSTKIT_NODE_EXTRA_CA_CERTS'), 'and not the name it travelled under');
  }
  const { program } = await launchedEnvironments({ ...base, HOSTKIT_NODE_EXTRA_CA_CERTS: '/stray' });
  t.notOk(program.has('NODE_EXTRA_CA_CERTS'), 'unset stays unset, whatever HOSTKIT_NODE_EXTRA_CA_CERTS held');
  t.notOk(program.has('HOSTKIT_NODE_EXTRA_CA_CERTS'), 'the reserved name does not reach the program');
});
