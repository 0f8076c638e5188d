#!/usr/bin/env node
// node scripts/train-code-cache.js [ROOT]: after scripts/bundle-bins.js, replaces
// gdbsock's build-time code cache with one taken at the end of a short debugging
// session, so that it holds the bytecode of every function the session ran.
//
// Why: the build-time cache holds each module's top level only; V8 compiles a
// function's body the first time it runs. gdbsock meets most of its code for
// the first time in a session's first commands, so the first Ctrl-C, the first
// breakpoint hit, the first step each paid for compiling its whole path: gdb's
// first Ctrl-C took ~2 ms to its stop reply, against ~0.5 ms once warm, and
// gdb's testsuite (gdb.base/bg-execution-repeat.exp) types its next command
// within a millisecond of a Ctrl-C. A cache made after running holds the
// functions compiled meanwhile (V8 serializes their bytecode; node:vm's
// createCachedData after runInThisContext). Measured here: the first Ctrl-C
// ~1 ms, and start-up (command to listening) 130 ms -> 112 ms.
//
// The session is gdb's conversation as gdb 16 holds it, spoken by a small
// client below to gdbsock serving `sh -c 'while :; do :; done'` (a loop, so a
// breakpoint at an interrupted pc is hit again): qSupported, the target
// description, auxv, libraries, threads, registers, memory, steps, Ctrl-Cs,
// breakpoints, a continue over one, an inferior call's register and stack writes,
// the program's file read over vFile, kill. The bin writes the cache as it
// exits (the stub scripts/bundle-bins.js writes has the hook), with V8's
// tiering flags (lib/gdbsock/tiering-flags.ts) put back to V8's defaults,
// which the cache's flag check compares with those it is loaded under.
//
// Where the session cannot run (no ptrace here, no /bin/sh), the build-time
// cache stays and this says so: slower first commands, nothing wrong. A cache
// V8 would reject is never installed (checked in a Node of its own).
'use strict';
const { execFileSync, spawn } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');
const { connectRsp } = require('./rsp-client');

const root = path.resolve(process.argv[2] ?? path.join(__dirname, '..'));
const bin = path.join(root, 'dist', 'gdbsock', 'cli.js');
const bundle = path.join(root, 'dist', 'gdbsock', 'cli.bundle.js');
const cache = path.join(root, 'dist', 'gdbsock', 'cli.bundle.cache');
/** Written beside the cache once a trained one is installed: its size and the build-time one's (test/bins.test.ts looks; bundle-bins removes it). */
const marker = path.join(root, 'dist', 'gdbsock', 'cli.bundle.trained');
const { TIERING_FLAGS } = require(path.join(root, 'dist', 'gdbsock', 'tiering-flags.js'));

const SESSION_LIMIT_MS = 30_000;
/** How long a continue runs before the session's Ctrl-C. */
const RUN_MS = 30;

/** Each tiering flag's default as this Node's V8 lists it ("default: --interrupt-budget=67584", "default: --no-always-sparkplug"). */
function defaultsOf(flags) {
  const listing = execFileSync(process.execPath, ['--v8-options'], { encoding: 'utf8' });
  return flags.map((flag) => {
    const name = flag.replace(/^--(no-)?/, '').replace(/=.*$/, '');
    const m = new RegExp(`^\\s+--${name} [^\\n]*\\n\\s+type: \\w+\\s+default: (--(?:no-)?${name}(?:=\\S+)?)`, 'm').exec(listing);
    if (!m) throw new Error(`this Node's V8 does not list ${flag}`);
    return m[1];
  });
}

/** A stop reply's thread, as `pPID.TID`. */
function stopThread(reply) {
  const m = /thread:(p[0-9a-f]+\.[0-9a-f]+);/.exec(reply);
  if (!m) throw new Error(`not a stop reply: ${reply.slice(0, 40)}`);
  return m[1];
}

/** A 64-bit register's `p` reply (little-endian hex) as an address in hex. */
const address = (hex) => Buffer.from(hex, 'hex').readBigUInt64LE(0).toString(16);

/** What a gdb session asks in its first minute, against the served loop. */
async function session(rsp) {
  await rsp.ask(
    'qSupported:multiprocess+;swbreak+;hwbreak+;qRelocInsn+;fork-events+;vfork-events+;exec-events+;vContSupported+;QThreadEvents+;QThreadOptions+;no-resumed+;memory-tagging+;error-message+;binary-upload+',
  );
  await rsp.ask('vMustReplyEmpty');
  await rsp.ask('QStartNoAckMode');
  for (const q of ['Hgp0.0', 'qXfer:features:read:target.xml:0,ffb', 'qTStatus', 'qXfer:threads:read::0,ffb', 'qAttached']) await rsp.ask(q);
  let thread = stopThread(await rsp.ask('?'));
  const pid = thread.slice(1, thread.indexOf('.'));
  for (const q of ['qXfer:auxv:read::0,ffb', `qXfer:exec-file:read:${pid}:0,ffb`, 'qXfer:libraries-svr4:read::0,ffb', 'qOffsets', 'qSymbol::', 'g'])
    await rsp.ask(q);
  await rsp.ask(`Hgp${pid}.${thread.slice(thread.indexOf('.') + 1)}`);
  // gdb reading the program's files over the connection (a sysroot of target:).
  await rsp.ask('vFile:setfs:0');
  const file = await rsp.ask(`vFile:open:${Buffer.from('/bin/sh').toString('hex')},0,0`);
  if (/^F[0-9a-f]+$/.test(file)) {
    const fd = file.slice(1);
    for (const q of [`vFile:fstat:${fd}`, `vFile:pread:${fd},47ff,0`, `vFile:pread:${fd},47ff,4000`, `vFile:close:${fd}`]) await rsp.ask(q);
  }
  for (let i = 0; i < 5; i++) {
    thread = stopThread(await rsp.ask(`vCont;s:${thread}`));
    await rsp.ask('p10');
  }
  const stopByCtrlC = async () => {
    rsp.send('vCont;c');
    await new Promise((r) => setTimeout(r, RUN_MS));
    rsp.interrupt();
    return stopThread((await rsp.next(5000)).body);
  };
  for (let round = 0; round < 3; round++) {
    thread = await stopByCtrlC();
    const pc = address(await rsp.ask('p10'));
    const sp = address(await rsp.ask('p7'));
    for (const q of ['g', `m${pc},40`, `x${pc},40`, `m${sp},100`, 'qXfer:threads:read::0,ffb', 'qfThreadInfo', 'qsThreadInfo', `T${thread}`]) await rsp.ask(q);
    // An inferior call's bookkeeping: every register written back (G, as gdb restores them), stack bytes rewritten as they are.
    await rsp.ask(`G${await rsp.ask('g')}`);
    await rsp.ask(`M${sp},8:${await rsp.ask(`m${sp},8`)}`);
    // A breakpoint where the loop was: hit again at once, or after a lap of the loop's other branch.
    const kind = round === 1 ? 'Z1' : 'Z0';
    await rsp.ask(`${kind},${pc},1`);
    rsp.send('vCont;c');
    let hit = await rsp.next(500).catch(() => undefined);
    if (hit === undefined) {
      rsp.interrupt();
      hit = await rsp.next(5000);
    }
    thread = stopThread(hit.body);
    await rsp.ask('g');
    await rsp.ask(`z${kind.slice(1)},${pc},1`);
    thread = stopThread(await rsp.ask(`vCont;s:${thread}`));
  }
  await rsp.ask(`vKill;${pid}`);
}

async function train() {
  if (!fs.existsSync(bin) || !fs.readFileSync(bin, 'utf8').includes('HOSTKIT_CODE_CACHE_TRAINING')) {
    throw new Error(`${bin} is not the bundle's bin: run scripts/bundle-bins.js first`);
  }
  const fresh = `${cache}.${process.pid}.tmp`;
  const training = JSON.stringify({ out: fresh, flags: defaultsOf(TIERING_FLAGS) });
  // gdbserver's command line, as gdb's testsuite and IDEs start it.
  const child = spawn(process.execPath, [bin, '--once', '127.0.0.1:0', '/bin/sh', '-c', 'while :; do :; done'], {
    env: { ...process.env, HOSTKIT_CODE_CACHE_TRAINING: training },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  const exited = new Promise((resolve) => child.once('exit', resolve));
  const limit = setTimeout(() => child.kill('SIGKILL'), SESSION_LIMIT_MS);
  try {
    const port = await new Promise((resolve, reject) => {
      const look = (d) => {
        output += d;
        const m = /Listening on port (\d+)/.exec(output);
        if (m) resolve(Number(m[1]));
      };
      child.stdout.on('data', look);
      child.stderr.on('data', look);
      exited.then(() => reject(new Error(`gdbsock exited: ${output.trim()}`)));
    });
    const rsp = await connectRsp(port, root);
    await session(rsp);
    rsp.socket.end();
    const code = await exited;
    if (code !== 0) throw new Error(`gdbsock exited with ${code}: ${output.trim()}`);
    // A Node of its own compiles the bundle with it, as the bin will.
    const check = `const fs = require('node:fs'); const vm = require('node:vm');
      process.stdout.write(String(new vm.Script(fs.readFileSync(${JSON.stringify(bundle)}, 'utf8'), { cachedData: fs.readFileSync(${JSON.stringify(fresh)}) }).cachedDataRejected));`;
    const env = { ...process.env };
    delete env.NODE_OPTIONS;
    if (execFileSync(process.execPath, ['-e', check], { encoding: 'utf8', env }) !== 'false') throw new Error('V8 rejects the cache the session made');
    // The cache bundle-bins made, or the one it made before an earlier training (bundle-bins removes the mark).
    const before = fs.statSync(cache).size;
    const buildTimeBytes = fs.existsSync(marker) ? JSON.parse(fs.readFileSync(marker, 'utf8')).buildTimeBytes : before;
    fs.renameSync(fresh, cache);
    const bytes = fs.statSync(cache).size;
    fs.writeFileSync(marker, `${JSON.stringify({ trainedBy: 'scripts/train-code-cache.js', bytes, buildTimeBytes })}\n`);
    process.stdout.write(`train-code-cache: gdbsock's code cache ${Math.round(buildTimeBytes / 1024)} KB -> ${Math.round(bytes / 1024)} KB after a session\n`);
  } finally {
    clearTimeout(limit);
    child.kill('SIGKILL');
    fs.rmSync(fresh, { force: true });
  }
}

train().catch((err) => {
  process.stderr.write(`train-code-cache: gdbsock keeps its build-time code cache (its first commands compile as they go): ${err.message}\n`);
});
