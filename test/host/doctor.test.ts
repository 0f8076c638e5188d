/**
 * hostkit doctor against states this machine can be put in: each probe's
 * answer compared with an oracle that does not share its code (a C program,
 * a setting the test writes, the kernel's own listings), as root and as an
 * unprivileged user.
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import t from 'tap';
import { SystemError } from '../../lib/errors';
import { landlockAbsence } from '../../lib/forkexec/landlock-support';
import { doctor, type Finding } from '../../lib/host';
import { verityOf } from '../../lib/veriexec/fsverity';
import { mitigations } from '../../lib/host/doctor/mitigations';
import { mountOf, mounts } from '../../lib/procfs';
import { fixture, withCoreSettings } from '../helpers';

const CLI = path.resolve(__dirname, '../../dist/host/cli.js');

function find(findings: Finding[], facility: string): Finding {
  const f = findings.find((x) => x.facility === facility);
  if (!f) throw new Error(`no ${facility} line in ${findings.map((x) => x.facility).join(', ')}`);
  return f;
}

t.test('every facility the issue lists has a line, with what needs it, and a fix wherever it falls short', async (t) => {
  const { findings, kernel } = doctor();
  t.equal(kernel, os.release());
  for (const name of [
    'ptrace',
    'PTRACE_SET_SYSCALL_INFO',
    'debug registers',
    'seccomp',
    'seccomp user notification',
    'seccomp actions_logged',
    'Landlock',
    'core dumps',
    '/proc/kcore',
    'fanotify permission events',
    'fanotify pre-content events',
    'PROCMAP_QUERY',
    'pidfd',
    'XSAVE',
    'KPTI',
    'CPU mitigations',
  ]) {
    find(findings, name);
  }
  t.ok(
    findings.some((f) => f.facility.startsWith('fs-verity')),
    'an fs-verity line',
  );
  for (const f of findings) {
    t.ok(f.detail.length > 0 && f.neededBy.length > 0, `${f.facility}: detail and needed-by`);
    if (f.state === 'limited' || f.state === 'missing') t.ok(f.fix, `${f.facility}: a fix`);
  }
});

t.test('Landlock: the ABI a C program gets from landlock_create_ruleset', async (t) => {
  const oracle = Number(spawnSync(fixture('landlock-abi'), { encoding: 'utf8' }).stdout.trim());
  const line = find(doctor().findings, 'Landlock');
  if (oracle > 0) t.match(line, { state: 'ok', facts: { abi: oracle, tsync: oracle >= 8 } });
  else t.match(line, { state: 'missing', facts: { abi: null } });
});

t.test("core dumps: the settings this test writes, and cored's choice", async (t) => {
  await withCoreSettings(async () => {
    fs.writeFileSync('/proc/sys/kernel/core_pattern', '|/bin/false %p');
    fs.writeFileSync('/proc/sys/kernel/core_pipe_limit', '3');
    const piped = find(doctor().findings, 'core dumps');
    t.match(piped, { state: 'limited', facts: { corePattern: '|/bin/false %p', target: 'pipe', corePipeLimit: '3' } });
    t.match(piped.fix, /core_pipe_limit 3/);
    fs.writeFileSync('/proc/sys/kernel/core_pattern', 'core.%p');
    fs.writeFileSync('/proc/sys/kernel/core_pipe_limit', '0');
    const file = find(doctor().findings, 'core dumps');
    t.match(file, { state: 'ok', facts: { corePattern: 'core.%p', target: 'file', corePipeLimit: '0' } });
    const modes = fs.existsSync('/proc/sys/kernel/core_modes') ? fs.readFileSync('/proc/sys/kernel/core_modes', 'utf8').trim().split(/\s+/) : null;
    t.same(file.facts?.coreModes, modes, 'core_modes as the kernel lists them');
    t.equal(file.facts?.coredMode, modes?.includes('socket') ? 'socket' : 'pipe');
  });
});

t.test('seccomp and ptrace seen from a process under a filter, and from an unprivileged user', async (t) => {
  // A child locked by forkexec (fork and exec refused) runs doctor: its own filter shows, the actions stay.
  const script = `const { lock } = require(${JSON.stringify(path.resolve(__dirname, '../../dist/forkexec'))});
    lock({ fork: true, exec: true });
    const { doctor } = require(${JSON.stringify(path.resolve(__dirname, '../../dist/host'))});
    process.stdout.write(JSON.stringify(doctor().findings));`;
  const locked = spawnSync(process.execPath, ['-e', script], { encoding: 'utf8' });
  t.equal(locked.status, 0, locked.stderr);
  const lockedFindings = JSON.parse(locked.stdout) as Finding[];
  t.match(find(lockedFindings, 'seccomp').detail, /runs under \d+ filter/);
  t.match(find(lockedFindings, 'seccomp').facts, { actions: ['kill_process', 'trap', 'errno', 'user_notif', 'log', 'allow'] });
  // fork is refused there, so even a child of its own cannot be made to trace.
  t.match(find(lockedFindings, 'ptrace'), { state: 'missing', facts: { traceChild: false } });

  // As nobody: the modules and native code load as root (the checkout may be private),
  // then the process drops to uid 65534, which clears its effective capabilities.
  const dropped = `const { doctor } = require(${JSON.stringify(path.resolve(__dirname, '../../dist/host'))});
    const native = require(${JSON.stringify(path.resolve(__dirname, '../../dist/native'))});
    native.addon.cpuid(0, 0); native.libc();
    process.setgid(65534); process.setuid(65534);
    process.stdout.write(JSON.stringify(doctor().findings));`;
  const asNobody = spawnSync(process.execPath, ['-e', dropped], { encoding: 'utf8', cwd: '/' });
  t.equal(asNobody.status, 0, asNobody.stderr);
  const nobody = JSON.parse(asNobody.stdout) as Finding[];
  t.match(find(nobody, 'ptrace').facts, { capSysPtrace: false, traceChild: true });
  t.match(find(nobody, 'fanotify permission events'), { state: 'missing', detail: /EPERM/ });
  t.equal(find(nobody, 'core dumps').facts?.writable, false, 'core_pattern is not writable to nobody');
  t.equal(find(doctor().findings, 'ptrace').facts?.capSysPtrace, process.getuid?.() === 0, 'root holds CAP_SYS_PTRACE');
});

t.test("fs-verity: the kernel's own feature list decides, and a tmpfs has no such ioctl", async (t) => {
  const kernelHasVerity = fs.existsSync('/sys/fs/ext4/features/verity');
  for (const m of mounts().filter((x) => x.type === 'ext4')) {
    const { state } = verityOf(m.mountPoint);
    if (!kernelHasVerity) t.equal(state, 'unsupported', `${m.mountPoint}: no verity in a kernel whose ext4 does not list it`);
  }
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'hostkit-verity-'));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  const r = spawnSync('mount', ['-t', 'tmpfs', '-o', 'size=1m', 'hostkit-test', dir]);
  t.equal(r.status, 0, `mount tmpfs: ${r.stderr}`);
  try {
    t.equal(mountOf(dir)?.type, 'tmpfs');
    t.match(verityOf(dir), { state: 'unsupported', errno: 'ENOTTY' });
  } finally {
    spawnSync('umount', [dir]);
  }
});

t.test('PROCMAP_QUERY finds the first mapping /proc/self/maps lists', async (t) => {
  const line = find(doctor().findings, 'PROCMAP_QUERY');
  if (line.state !== 'ok') {
    t.match(line.facts, { works: false, error: 'ENOTTY' });
    return;
  }
  const first = fs.readFileSync('/proc/self/maps', 'utf8').split('\n')[0]!.split(' ')[0]!;
  const [start, end] = first.split('-').map((h) => BigInt(`0x${h}`));
  t.match(line.detail, `first mapping 0x${start!.toString(16)}-0x${end!.toString(16)}`);
});

t.test('XSAVE: AVX-512 in the layout exactly when the CPU flags list avx512f', async (t) => {
  const flags = /^flags\s*:(.*)$/m.exec(fs.readFileSync('/proc/cpuinfo', 'utf8'))?.[1]?.split(/\s+/) ?? [];
  const facts = find(doctor().findings, 'XSAVE').facts as { components: { name: string | null }[] };
  const names = facts.components.map((c) => c.name);
  t.equal(names.includes('opmask'), flags.includes('avx512f'), 'opmask');
  t.equal(names.includes('avx'), flags.includes('avx'), 'avx');
});

t.test('KPTI and the mitigations: as the kernel words them', async (t) => {
  const m = mitigations();
  const meltdown = fs.readFileSync('/sys/devices/system/cpu/vulnerabilities/meltdown', 'utf8').trim();
  t.equal(m.entries.meltdown, meltdown);
  t.equal(m.kpti, meltdown.includes('PTI'));
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'hostkit-vuln-'));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  fs.writeFileSync(path.join(dir, 'meltdown'), 'Mitigation: PTI\n');
  fs.writeFileSync(path.join(dir, 'spectre_v2'), 'Vulnerable\n');
  t.same(mitigations(dir), { entries: { meltdown: 'Mitigation: PTI', spectre_v2: 'Vulnerable' }, kpti: true });
  t.same(mitigations(path.join(dir, 'none')), { entries: {}, kpti: null });
});

t.test('the command: a table for people, JSON for machines, usage errors exit 2', async (t) => {
  const text = spawnSync(process.execPath, [CLI, 'doctor'], { encoding: 'utf8' });
  t.equal(text.status, 0, text.stderr);
  t.match(text.stdout, /^hostkit doctor: Linux .*facilities probed in \d+ ms\n/);
  t.match(text.stdout, /\n(ok|limited|MISSING) +ptrace +/);
  const json = JSON.parse(spawnSync(process.execPath, [CLI, 'doctor', '--json'], { encoding: 'utf8' }).stdout);
  t.type(json.elapsedMs, 'number');
  t.ok(Array.isArray(json.findings) && json.findings.length >= 15);
  for (const args of [['doctor', '--samples', '3'], ['bogus'], [], ['measure', '--samples', 'x'], ['measure', '--only', 'nope']]) {
    const r = spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8' });
    t.equal(r.status, 2, `${args.join(' ')}: exit 2`);
    t.match(r.stderr, /^hostkit: .*\nusage: hostkit doctor/);
  }
});

t.test("the same facts explain other commands' refusals", async (t) => {
  // cored install as a user who may not set the kernel's core settings: the error says who may.
  const script = `const { writeSysctl } = require(${JSON.stringify(path.resolve(__dirname, '../../dist/coredump/cored/kernel-pattern'))});
    process.setgid(65534); process.setuid(65534);
    try { writeSysctl('/proc/sys/kernel/core_pipe_limit', '0'); } catch (e) { process.stdout.write(JSON.stringify({ code: e.code, syscall: e.syscall, path: e.path, hint: e.hint })); }`;
  const r = spawnSync(process.execPath, ['-e', script], { encoding: 'utf8' });
  t.match(JSON.parse(r.stdout || '{}'), { code: 'EACCES', path: '/proc/sys/kernel/core_pipe_limit', hint: /only root in the initial namespace/ }, r.stderr);
  // Landlock's absence in words, for each way landlock_create_ruleset refuses (this kernel has it, so the errors are built).
  t.match(landlockAbsence(new SystemError(-95, 'landlock_create_ruleset')), { why: /not enabled/, fix: /lsm=/ });
  t.match(landlockAbsence(new SystemError(-38, 'landlock_create_ruleset')), { why: /no Landlock/, fix: /CONFIG_SECURITY_LANDLOCK/ });
});
