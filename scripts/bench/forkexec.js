'use strict';
// npm run bench -- forkexec [--iterations N] [--rounds R] [--http-rounds H] [--seconds S] [--connections C]
// The cost of hostkit/forkexec's lock, in one run, each side against itself unlocked:
//  1. getppid() in a tight C loop: no filter, a filter that only returns ALLOW (the floor
//     of any seccomp filter), and the filter lock() builds (fork + exec + ptrace), interleaved;
//  2. requests/second of a small Node HTTP server, unlocked and locked, measured with
//     wrk when it is installed (a Node keep-alive client otherwise), alternating rounds.
const { execFileSync, spawn } = require('node:child_process');
const { once } = require('node:events');
const fs = require('node:fs');
const http = require('node:http');
const os = require('node:os');
const path = require('node:path');
const { compile, median } = require('./compile');
const { buildFilter } = require('../../dist/forkexec/filter');
const { Assembler, Ret } = require('../../dist/forkexec/bpf');

function option(args, name, fallback) {
  const i = args.indexOf(name);
  return i >= 0 ? Number(args[i + 1]) : fallback;
}

const SERVER = `
  const http = require('node:http');
  const dist = ${JSON.stringify(path.join(__dirname, '..', '..', 'dist'))};
  if (process.argv[1] === 'locked') require(dist + '/forkexec').lock({ fork: true, exec: true, ptrace: true });
  if (process.argv[1] === 'allowOnly') {
    const { Assembler, Ret } = require(dist + '/forkexec/bpf');
    if (require(dist + '/native').addon.seccompInstall(new Assembler().ret(Ret.ALLOW).assemble(), 1) !== 0) throw new Error('seccomp');
  }
  const body = Buffer.from('hello from a daemon that cannot fork or exec\\n');
  const server = http.createServer((req, res) => { res.setHeader('content-type', 'text/plain'); res.end(body); });
  server.listen(0, '127.0.0.1', () => console.log(server.address().port));
`;

async function startServer(mode) {
  const child = spawn(process.execPath, ['-e', SERVER, mode], { stdio: ['ignore', 'pipe', 'inherit'] });
  const [data] = await once(child.stdout, 'data');
  return { port: Number(String(data).trim()), child };
}

function hasWrk() {
  try {
    execFileSync('wrk', ['--version'], { stdio: 'ignore' });
    return true;
  } catch (err) {
    return err.status === 1; // wrk --version exits 1 after printing its version
  }
}

function wrk(port, seconds, connections) {
  const out = execFileSync('wrk', ['-t1', `-c${connections}`, `-d${seconds}s`, `http://127.0.0.1:${port}/`], { encoding: 'utf8' });
  const match = /Requests\/sec:\s+([\d.]+)/.exec(out);
  if (!match) throw new Error(`wrk said: ${out}`);
  return Number(match[1]);
}

async function nodeLoad(port, seconds, connections) {
  const agent = new http.Agent({ keepAlive: true, maxSockets: connections });
  const end = Date.now() + seconds * 1000;
  let done = 0;
  const loop = async () => {
    while (Date.now() < end) {
      await new Promise((resolve, reject) => http.get({ host: '127.0.0.1', port, agent }, (res) => res.resume().on('end', resolve)).on('error', reject));
      done++;
    }
  };
  const t0 = Date.now();
  await Promise.all(Array.from({ length: connections }, loop));
  agent.destroy();
  return done / ((Date.now() - t0) / 1000);
}

exports.main = async function main(args) {
  const iterations = option(args, '--iterations', 2_000_000);
  const rounds = option(args, '--rounds', 9);
  const httpRounds = option(args, '--http-rounds', 4);
  const seconds = option(args, '--seconds', 2);
  const connections = option(args, '--connections', 32);

  // 1. getppid, the physical measure; the anchor is a filter that only says ALLOW,
  //    the floor any seccomp filter pays (the kernel's seccomp entry path).
  const binary = compile('forkexec-getppid');
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'hostkit-bench-'));
  const errno = { kind: 'errno', errno: 13 };
  const filters = {
    hostkit: path.join(dir, 'hostkit.bpf'),
    allowOnly: path.join(dir, 'allow.bpf'),
  };
  fs.writeFileSync(filters.hostkit, buildFilter({ fork: errno, exec: errno, ptrace: errno, foreignArch: errno }));
  fs.writeFileSync(filters.allowOnly, new Assembler().ret(Ret.ALLOW).assemble());
  const ns = { plain: [], allowOnly: [], hostkit: [] };
  const measure = (file) => Number(execFileSync(binary, [String(iterations), '3', ...(file ? [file] : [])], { encoding: 'utf8' }));
  for (let r = 0; r < rounds; r++) {
    ns.plain.push(measure(null));
    ns.allowOnly.push(measure(filters.allowOnly));
    ns.hostkit.push(measure(filters.hostkit));
  }
  const p = median(ns.plain);
  const a = median(ns.allowOnly);
  const l = median(ns.hostkit);

  // 2. HTTP throughput (no filter, ALLOW-only filter, lock), rounds in alternating order so drift favours no side.
  const useWrk = hasWrk();
  const servers = { unlocked: await startServer('unlocked'), allowOnly: await startServer('allowOnly'), locked: await startServer('locked') };
  const rps = { unlocked: [], allowOnly: [], locked: [] };
  try {
    for (let r = 0; r < httpRounds; r++) {
      for (const mode of r % 2 ? ['locked', 'allowOnly', 'unlocked'] : ['unlocked', 'allowOnly', 'locked']) {
        const port = servers[mode].port;
        rps[mode].push(useWrk ? wrk(port, seconds, connections) : await nodeLoad(port, seconds, connections));
      }
    }
  } finally {
    for (const s of Object.values(servers)) s.child.kill();
  }
  const ru = median(rps.unlocked);
  const rl = median(rps.locked);
  const ra = median(rps.allowOnly);

  const row = (name, base, ours, unit, digits) =>
    `${name.padEnd(34)} ${base.toFixed(digits).padStart(12)} ${ours.toFixed(digits).padStart(12)} ${unit.padEnd(6)} ${(ours / base).toFixed(3).padStart(7)}`;
  console.log(
    `hostkit/forkexec lock cost (getppid: median of ${rounds} rounds of ${iterations}; HTTP: median of ${httpRounds} rounds, ${useWrk ? `wrk -t1 -c${connections}` : `node keep-alive x${connections}`}, ${seconds}s)`,
  );
  console.log(`${'measure'.padEnd(34)} ${'anchor'.padStart(12)} ${'hostkit'.padStart(12)} ${'unit'.padEnd(6)} ${'ratio'.padStart(7)}`);
  console.log(row('getppid(): no filter vs lock', p, l, 'ns', 2));
  console.log(row('getppid(): ALLOW-only vs lock', a, l, 'ns', 2));
  console.log(`${'  added per syscall by the lock'.padEnd(34)} ${''.padStart(12)} ${(l - p).toFixed(2).padStart(12)} ns`);
  console.log(row('HTTP req/s: unlocked vs locked', ru, rl, 'req/s', 0));
  console.log(row('HTTP req/s: ALLOW-only vs locked', ra, rl, 'req/s', 0));
  // The spread says how much of a ratio is noise (other load on the machine).
  const spread = (v) => `${Math.round(Math.min(...v))}..${Math.round(Math.max(...v))}`;
  console.log(
    `HTTP spread (min..max req/s): unlocked ${spread(rps.unlocked)}, ALLOW-only ${spread(rps.allowOnly)}, locked ${spread(rps.locked)}; load average ${os.loadavg()[0].toFixed(1)}`,
  );
};
