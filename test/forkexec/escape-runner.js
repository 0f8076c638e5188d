'use strict';
// Runs in a child Node process (lock() is irrevocable): locks itself as the
// test asks, then makes each escape attempt and prints one JSON line per result:
//   {"attempt":"fork","where":"main","result":"EPERM"}   (or "escaped")
// and at the end {"reports":[...]} with what a 'report' lock emitted.
// argv[2]: {"lock":{...lock options},"order":"before"|"after","attempts":[["fork","main"],...],"sigsys":false}
const cp = require('node:child_process');
const os = require('node:os');
const path = require('node:path');
const { Worker } = require('node:worker_threads');
const koffi = require('koffi');

const root = path.join(__dirname, '..', '..');
const forkexec = require(path.join(root, 'dist', 'forkexec'));
const { libc } = require(path.join(root, 'dist', 'native'));
const LIBRARY = path.join(root, 'test', 'fixtures', 'bin', 'libescape.so');

const spec = JSON.parse(process.argv[2]);
const lib = koffi.load(LIBRARY);
const run = lib.func('int escape_run(const char *name)');
const startWaiter = lib.func('int escape_start_waiter(void)');
const onWaiter = lib.func('int escape_on_waiter(const char *name)');
const gettid = lib.func('int escape_gettid(void)');

const codes = Object.fromEntries(Object.entries(os.constants.errno).map(([k, v]) => [v, k]));
const describe = (rc) => (rc === 0 ? 'escaped' : rc === -1 ? 'weird -1' : codes[Math.abs(rc)] ?? `errno ${rc}`);
const print = (o) => process.stdout.write(`${JSON.stringify(o, (k, v) => (typeof v === 'bigint' ? v.toString() : v))}\n`);

// JS attempts: a program that exists, so that success shows as a normal exit.
function jsAttempt(name) {
  return new Promise((resolve) => {
    const settle = (child) => {
      child.on('error', (e) => resolve(e.code));
      child.on('exit', () => resolve('escaped'));
    };
    try {
      if (name === 'child_process.spawn') settle(cp.spawn('/bin/true', [], { stdio: 'ignore' }));
      else if (name === 'child_process.exec') settle(cp.exec('true'));
      else if (name === 'child_process.execFile') settle(cp.execFile('/bin/true'));
      else if (name === 'child_process.fork') settle(cp.fork('-e', [], { execArgv: [], stdio: 'ignore' }));
      else if (name === 'child_process.execSync') {
        cp.execSync('true', { stdio: 'ignore' });
        resolve('escaped');
      } else if (name === 'child_process.spawnSync') {
        const r = cp.spawnSync('/bin/true');
        resolve(r.error ? r.error.code : 'escaped');
      } else resolve('unknown attempt');
    } catch (e) {
      resolve(`threw ${e.code}`);
    }
  });
}

function attemptHere(name) {
  if (name.startsWith('child_process.')) return jsAttempt(name);
  return Promise.resolve(describe(run(name)));
}

let worker = null;
function startWorker() {
  worker = new Worker(
    `const { parentPort } = require('node:worker_threads');
     const koffi = require(${JSON.stringify(require.resolve('koffi'))});
     const run = koffi.load(${JSON.stringify(LIBRARY)}).func('int escape_run(const char *name)');
     const cp = require('node:child_process');
     const attempt = (name) => {
       if (name !== 'child_process.spawnSync') return run(name);
       const r = cp.spawnSync('/bin/true');
       return r.error ? -r.error.errno : 0;
     };
     parentPort.on('message', (name) => parentPort.postMessage(attempt(name)));`,
    { eval: true },
  );
  worker.unref();
}

function attempt(name, where) {
  switch (where) {
    case 'main':
      return attemptHere(name);
    case 'waiter': // a native thread, started before or after the lock per `order`
      return Promise.resolve(describe(onWaiter(name)));
    case 'pool': // libuv's threadpool
      return new Promise((resolve) => run.async(name, (err, rc) => resolve(err ? `async error ${err}` : describe(rc))));
    case 'worker':
      return new Promise((resolve) => {
        worker.once('message', (rc) => resolve(describe(rc)));
        worker.postMessage(name);
      });
    default:
      return Promise.resolve(`unknown place ${where}`);
  }
}

async function main() {
  const reports = [];
  forkexec.reports.on('attempt', (a) => reports.push(a));
  if (spec.noCore) libc().setrlimit(process.pid, 4 /* RLIMIT_CORE */, { soft: 0n, hard: 0n });
  if (spec.sigsys) process.on('SIGSYS', () => print({ signal: 'SIGSYS' }));
  const threads = () => {
    if (startWaiter() !== 0) throw new Error('escape_start_waiter failed');
    startWorker();
  };
  if (spec.order === 'after') threads();
  const status = spec.lock ? forkexec.lock(spec.lock) : forkexec.status();
  print({ locked: status, mainTid: gettid() });
  if (spec.order !== 'after') threads();
  for (const [name, where] of spec.attempts) {
    print({ attempt: name, where, result: await attempt(name, where) });
  }
  await new Promise((r) => setTimeout(r, 50));
  print({ reports });
  process.exit(0);
}

main().catch((e) => {
  print({ fatal: String(e.stack || e) });
  process.exit(1);
});
