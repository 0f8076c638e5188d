/**
 * lock() and status(): argument checks (in this process: they throw before any
 * syscall), and in child processes what keeps working under the lock, how locks
 * stack, and the ptrace family.
 */
import t from 'tap';
import { lock, status } from '../../lib/forkexec';
import { runScript } from './fixtures/run';

t.test('bad options throw before any syscall', async (t) => {
  const before = status();
  t.throws(() => lock(undefined as never), TypeError);
  t.throws(() => lock({} as never), { name: 'RangeError', message: /at least one of fork, exec or ptrace/ });
  t.throws(() => lock({ fork: 'yes' } as never), TypeError);
  t.throws(() => lock({ fork: true, forks: true } as never), { message: /unknown lock option 'forks'/ });
  t.throws(() => lock({ fork: true, action: 'nap' as never }), RangeError);
  t.throws(() => lock({ fork: true, errno: 'ENOTANERRNO' }), RangeError);
  t.throws(() => lock({ fork: true, errno: 42 as never }), TypeError);
  t.throws(() => lock({ fork: true, action: 'kill', errno: 'EPERM' }), { message: /applies to the 'errno' and 'report' actions/ });
  t.throws(() => lock({ exec: { allow: [''] } }), TypeError);
  t.throws(() => lock({ exec: { allow: '/bin' } as never }), TypeError);
  t.same(status(), before, 'nothing was installed');
  t.equal(status().filters, before.filters);
});

t.test('exec.allow in-process refuses clearly: Landlock would cover one thread of many', async (t) => {
  t.throws(() => lock({ exec: { allow: ['/usr/bin'] } }), { code: 'ERR_HOSTKIT_LANDLOCK_THREADS', message: /forkexec --exec-allow \/usr\/bin/ });
  t.equal(status().locks.length, 0);
});

t.test('status() before and after a lock', async (t) => {
  const r = await runScript(`
    const before = forkexec.status();
    const after = forkexec.lock({ fork: true, exec: true, errno: 'EPERM' });
    console.log(JSON.stringify({ before, after }));
  `);
  t.equal(r.code, 0, r.stderr);
  const { before, after } = JSON.parse(r.stdout);
  t.match(before, { seccomp: 'disabled', filters: 0, noNewPrivs: false, locks: [], fork: false, exec: false, reporting: false });
  t.match(after, { seccomp: 'filter', filters: 1, noNewPrivs: true, fork: true, exec: true, ptrace: false, reporting: false });
  t.same(after.locks, [{ fork: true, exec: true, ptrace: false, action: 'errno', errno: 'EPERM' }]);
});

t.test('what must keep working under the lock: Workers, the threadpool, an HTTP server, io_uring', async (t) => {
  const r = await runScript(
    `
    const { Worker } = require('node:worker_threads');
    const fs = require('node:fs');
    const http = require('node:http');
    const crypto = require('node:crypto');
    const dns = require('node:dns');
    forkexec.lock({ fork: true, exec: true, ptrace: true, action: 'kill' });
    (async () => {
      const results = {};
      results.worker = await new Promise((resolve, reject) => {
        const w = new Worker('require("node:worker_threads").parentPort.postMessage(6 * 7)', { eval: true });
        w.once('message', resolve).once('error', reject);
      });
      results.workers = (await Promise.all(Array.from({ length: 4 }, () => new Promise((resolve) =>
        new Worker('require("node:worker_threads").parentPort.postMessage(1)', { eval: true }).once('message', resolve))))).length;
      results.fs = (await fs.promises.readFile('/proc/self/status', 'utf8')).includes('Seccomp:\\t2');
      results.crypto = (await new Promise((res, rej) => crypto.scrypt('pw', 'salt', 32, (e, k) => (e ? rej(e) : res(k))))).length;
      // family 4: getaddrinfo in the threadpool is the subject, not whether
      // /etc/hosts lists localhost as ::1 first (Debian 13 does).
      results.dns = (await dns.promises.lookup('localhost', { family: 4 })).address;
      const server = http.createServer((req, res) => res.end('ok'));
      await new Promise((res) => server.listen(0, '127.0.0.1', res));
      const agent = new http.Agent({ keepAlive: true, maxSockets: 16 });
      const get = () => new Promise((res, rej) => http.get({ port: server.address().port, host: '127.0.0.1', agent }, (m) => {
        let body = ''; m.on('data', (d) => (body += d)); m.on('end', () => res(body));
      }).on('error', rej));
      const bodies = await Promise.all(Array.from({ length: 500 }, get));
      results.http = bodies.filter((b) => b === 'ok').length;
      agent.destroy();
      server.close();
      results.ioUring = fs.readdirSync('/proc/self/fd').some((fd) => {
        try { return fs.readlinkSync('/proc/self/fd/' + fd).includes('io_uring'); } catch { return false; }
      });
      console.log(JSON.stringify(results));
    })().catch((e) => { console.error(e); process.exit(1); });
  `,
    { UV_USE_IO_URING: '1' },
  );
  t.equal(r.code, 0, r.stderr);
  t.equal(r.signal, null, 'not killed');
  const results = JSON.parse(r.stdout);
  t.match(results, { worker: 42, workers: 4, fs: true, crypto: 32, dns: '127.0.0.1', http: 500 });
  t.equal(results.ioUring, true, 'libuv set up io_uring (UV_USE_IO_URING=1) under the lock');
});

t.test('a second lock adds restrictions and cannot loosen any', async (t) => {
  const r = await runScript(`
    const koffi = require('koffi');
    const run = koffi.load(LIBESCAPE).func('int escape_run(const char *name)');
    forkexec.lock({ exec: true, errno: 'EPERM' });
    const first = { fork: run('fork'), execve: run('execve') };
    forkexec.lock({ fork: true, exec: true, action: 'log' });
    const second = { fork: run('fork'), execve: run('execve') };
    console.log(JSON.stringify({ first, second, status: forkexec.status() }));
  `);
  t.equal(r.code, 0, r.stderr);
  const { first, second, status: s } = JSON.parse(r.stdout);
  t.same(first, { fork: 0, execve: 1 }, 'fork free, exec EPERM');
  t.equal(second.execve, 1, "a later 'log' lock does not let exec through: the strictest verdict wins");
  t.equal(second.fork, 0, "and its 'log' verdict for fork only logs");
  t.equal(s.filters, 2);
  t.equal(s.locks.length, 2);
  t.equal(s.exec, true);
  t.equal(s.fork, false, 'fork counts as locked only under a denying action');
});

t.test("only one 'report' lock: the kernel allows one listener per filter chain", async (t) => {
  const r = await runScript(`
    forkexec.lock({ exec: true, action: 'report' });
    try { forkexec.lock({ fork: true, action: 'report' }); } catch (e) { console.log(e.code); }
    forkexec.lock({ fork: true, errno: 'EPERM' });
    console.log(JSON.stringify(forkexec.status()));
  `);
  t.equal(r.code, 0, r.stderr);
  const [code, json] = r.stdout.trim().split('\n');
  t.equal(code, 'ERR_HOSTKIT_REPORT_ONCE');
  t.match(JSON.parse(json!), { reporting: true, fork: true, exec: true, filters: 2 });
});

t.test('ptrace family: ptrace and process_vm_readv/writev are refused', async (t) => {
  const r = await runScript(`
    const parent = process.ppid;
    const probe = () => {
      try { native.addon.vmRead(parent, 0x1000n, Buffer.alloc(8), 0, 8); return 'read'; } catch (e) { return e.code; }
    };
    const trace = () => {
      try { native.addon.ptrace(0x4206 /* PTRACE_SEIZE */, parent, 0, 0); return 'seized'; } catch (e) { return e.code; }
    };
    const before = probe();
    forkexec.lock({ ptrace: true });
    console.log(JSON.stringify({ before, after: probe(), ptrace: trace() }));
  `);
  t.equal(r.code, 0, r.stderr);
  const out = JSON.parse(r.stdout);
  t.equal(out.before, 'EFAULT', 'unlocked, the call reaches the kernel (and page 1 is unmapped)');
  t.equal(out.after, 'EACCES');
  t.equal(out.ptrace, 'EACCES');
});

t.test('a lock from a Worker covers the whole process; report must come from the main thread', async (t) => {
  const r = await runScript(`
    const { Worker } = require('node:worker_threads');
    const w = new Worker(\`
      const forkexec = require(\${JSON.stringify(require.resolve(${JSON.stringify(require.resolve('../../dist/forkexec'))}))});
      let code = null;
      try { forkexec.lock({ exec: true, action: 'report' }); } catch (e) { code = e.code; }
      forkexec.lock({ exec: true, errno: 'EPERM' });
      require('node:worker_threads').parentPort.postMessage(code);
    \`, { eval: true });
    w.once('message', (code) => {
      const r = require('node:child_process').spawnSync('/bin/true');
      console.log(JSON.stringify({ code, main: r.error && r.error.code, status: forkexec.status().exec }));
    });
  `);
  t.equal(r.code, 0, r.stderr);
  const out = JSON.parse(r.stdout);
  t.equal(out.code, 'ERR_HOSTKIT_REPORT_MAIN_THREAD');
  t.equal(out.main, 'EPERM', "the Worker's lock holds on the main thread too (TSYNC)");
  t.equal(out.status, false, 'status() counts the locks of its own module instance');
});
