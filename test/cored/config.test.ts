/** cored's config file: TOML, validation errors with key and line, and the shipped example. */
import path from 'node:path';
import t from 'tap';
import { DEFAULT_STORE, loadConfig, parseConfig } from '../../lib/coredump/cored/config';
import { parseCrashArgs } from '../../lib/coredump/cored/crash-args';
import { globMatcher } from '../../lib/coredump/cored/glob';
import { buildPattern, isCoredPattern, launcherSource } from '../../lib/coredump/cored/kernel-pattern';
import { redactEnviron } from '../../lib/coredump/cored/metadata';
import { chooseSinks, decide } from '../../lib/coredump/cored/rules';
import { chooseMode, kernelCoreModes, pidfdKnowsCoredumps } from '../../lib/coredump/cored/core-modes';
import { systemdUnits } from '../../lib/coredump/cored/daemon-control';
import { CoredumpAction, encodeAck, parseMark, parseRequest } from '../../lib/coredump/cored/coredump-protocol';
import { CrashRate } from '../../lib/coredump/cored/store';
import { type TomlError, parseToml } from '../../lib/coredump/cored/toml';

t.test('the shipped example parses into the documented defaults', async (t) => {
  const config = loadConfig(path.join(__dirname, '..', '..', 'cored.example.toml'));
  t.equal(config.store.directory, DEFAULT_STORE);
  t.equal(config.store.maxUse, 8 * 1024 ** 3);
  t.equal(config.limits.timeBudget, 120);
  t.equal(config.limits.rateWindow, 600);
  t.match(config.sinks, [{ type: 'directory', name: 'local', format: 'zstd', restricted: true }]);
  t.same(config.rules, [{ sinks: ['local'] }]);
});

t.test('no config: zstd into /var/lib/cored', async (t) => {
  const config = parseConfig('');
  t.match(config.sinks, [{ type: 'directory', path: '/var/lib/cored', format: 'zstd' }]);
  t.same(config.rules, []);
});

t.test('TOML: strings, escapes, arrays over lines, dotted keys, arrays of tables', async (t) => {
  const { root, lines } = parseToml(
    [
      '# comment',
      'a = "x\\ty\\u00e9" # trailing',
      "b = 'C:\\raw'",
      'c = [ 1, 2_000,',
      '  -3, # inside',
      ']',
      'd.e = true',
      '[t]',
      'k = 0x10',
      '[[arr]]',
      'n = 1',
      '[[arr]]',
      'n = 2',
      '[arr.sub]',
      'z = "q"',
    ].join('\n'),
  );
  t.same(root, { a: 'x\tyé', b: 'C:\\raw', c: [1, 2000, -3], d: { e: true }, t: { k: 16 }, arr: [{ n: 1 }, { n: 2, sub: { z: 'q' } }] });
  t.equal(lines.get('arr.1.n'), 13);
  t.equal(lines.get('d.e'), 7);
});

t.test('TOML errors name the line', async (t) => {
  const bad: [string, RegExp][] = [
    ['a = 1\na = 2', /^f\.toml:2: .*multiple times.*"a = 2"$/],
    ['[t]\n[t]', /^f\.toml:2: .*multiple times.*"\[t\]"$/],
    ['a = "open', /^f\.toml:1: Unterminated string/],
    ['a = bare', /^f\.toml:1: /],
    ['a = [1, 2', /^f\.toml:1: /],
    ['a = 1 b = 2', /^f\.toml:1: /],
    ['\n\n= 3', /^f\.toml:3: /],
    ['a = "\\q"', /^f\.toml:1: /],
    ['x = 1\n\n[t]\ny = 99999999999999999999', /^f\.toml:4: t\.y: 100000000000000000000 is too large$/],
  ];
  for (const [text, message] of bad) {
    t.throws(() => parseToml(text, 'f.toml'), message, JSON.stringify(text));
  }
  const err = t.throws(() => parseToml('x = 1\ny = nope', 'f.toml')) as TomlError;
  t.equal(err.line, 2);
  t.equal(err.code, 'ERR_HOSTKIT_BAD_CONFIG');
});

t.test('all of TOML parses; a value of the wrong type is refused with its key and line', async (t) => {
  const { root } = parseToml('a = 1.5\nb = {x = 1}\nc = """two\nlines"""\nd = 1979-05-27');
  t.match(root, { a: 1.5, b: { x: 1 }, c: 'two\nlines', d: Date });
  const cases: [string, RegExp][] = [
    ['[limits]\ntime_budget = 1.5', /:2: limits.time_budget: expected a positive duration/],
    ['[store]\n\ndirectory = 1979-05-27', /:3: store.directory: expected a string, got a date/],
    ['store = { directory = "relative" }', /:1: store.directory: 'relative' is not an absolute path/],
  ];
  for (const [text, message] of cases) t.throws(() => parseConfig(text, 'c.toml'), message, JSON.stringify(text));
});

t.test('validation errors name the key and its line', async (t) => {
  const cases: [string, RegExp][] = [
    ['[store]\ndirectory = "relative"', /:2: store.directory: 'relative' is not an absolute path/],
    ['[store]\nmax_use = "12Q"', /:2: store.max_use: expected a size/],
    ['[limits]\ntime_budget = 0', /:2: limits.time_budget: expected a positive duration/],
    ['[limits]\non_oversize = "drop"', /:2: limits.on_oversize: 'drop' is not one of truncate, skip/],
    ['[limit]\nx = 1', /:1: limit: unknown key/],
    ['[[sink]]\ntype = "ftp"', /:2: sink.0.type: 'ftp' is not one of/],
    ['[[sink]]\ntype = "directory"\nargv = ["/bin/true"]', /:3: sink.0.argv: unknown key/],
    ['[[sink]]\ntype = "command"\nargv = ["gzip"]', /:3: sink.0.argv\[0\]: 'gzip' is not an absolute path/],
    ['[[sink]]\ntype = "command"', /:1: sink.0.argv: missing/],
    ['[[sink]]\ntype = "http"\nurl = "ftp://x"', /:3: sink.0.url: must be http/],
    ['[[sink]]\ntype = "http"\nurl = "http://x"\nheader = ["bad header"]', /:4: sink.0.header\[0\]: 'bad header' is not "Name: value"/],
    ['[[sink]]\ntype = "socket"\naddress = "nowhere"', /:3: sink.0.address/],
    ['[[sink]]\nname = "a"\ntype = "directory"\n[[sink]]\nname = "a"\ntype = "directory"', /:5: sink.1.name: two sinks are named 'a'/],
    ['[[sink]]\nname = "a"\ntype = "directory"\n[[rule]]\nsinks = ["b"]', /:5: rule.0.sinks\[0\]: no sink is named 'b'/],
    ['[[rule]]\nsignal = ["SEGV"]\nsinks = []', /:2: rule.0.signal\[0\]: expected a non-negative integer/],
    ['sink = 1', /sink: use \[\[sink\]\] headers/],
  ];
  for (const [text, message] of cases) t.throws(() => parseConfig(text, 'c.toml'), message, JSON.stringify(text));
});

t.test('rules: first match wins; exe globs, signals, uids, sizes', async (t) => {
  const config = parseConfig(`
[[sink]]
name = "a"
type = "directory"
path = "/a"
[[sink]]
name = "b"
type = "directory"
path = "/b"
[[rule]]
exe = ["/usr/bin/*"]
signal = [6]
sinks = ["a"]
[[rule]]
uid = [1000]
max_size = "1M"
sinks = ["b"]
[[rule]]
exe = ["/opt/**"]
sinks = []
`);
  const names = (facts: Parameters<typeof chooseSinks>[1]) => chooseSinks(config, facts).sinks.map((s) => s.name);
  t.same(names({ exe: '/usr/bin/x', signal: 6, uid: 0 }), ['a']);
  t.same(names({ exe: '/usr/bin/sub/x', signal: 6, uid: 0 }), [], "'*' stops at '/'");
  t.same(names({ exe: '/home/u/x', signal: 11, uid: 1000, size: 1000 }), ['b']);
  t.same(names({ exe: '/home/u/x', signal: 11, uid: 1000, size: 2 << 20 }), []);
  t.same(chooseSinks(config, { exe: '/opt/a/b/c', signal: 11, uid: 0 }).rule, 2);
});

t.test('globs and environment redaction', async (t) => {
  t.ok(globMatcher('/usr/**/lib?.so')('/usr/a/b/libc.so'));
  t.notOk(globMatcher('/usr/*')('/usr/a/b'));
  t.ok(globMatcher('[ab]x')('bx'));
  t.ok(globMatcher('a.(b)+')('a.(b)+'), 'regex characters are literal');
  t.same(redactEnviron(['HOME=/root', 'GITHUB_TOKEN=ghp_x', 'db_password=hunter2', 'EMPTY', 'A=b=c'], ['*TOKEN*', '*PASSWORD*']), {
    HOME: '/root',
    GITHUB_TOKEN: '<redacted>',
    db_password: '<redacted>',
    EMPTY: '',
    A: 'b=c',
  });
});

t.test('the kernel arguments', async (t) => {
  const args = parseCrashArgs(['12', '13', '11', '1700000000', '1000', '1000', '1', '18446744073709551615', 'a b; $(x)', '3']);
  t.same(args, {
    pid: 12,
    tid: 13,
    signal: 11,
    time: 1700000000,
    uid: 1000,
    gid: 1000,
    dumpMode: 1,
    rlimitCore: '18446744073709551615',
    comm: 'a b; $(x)',
    pidfd: 3,
  });
  t.equal(parseCrashArgs(['1', '1', '6', '0', '0', '0', '2', '0', '-h']).pidfd, undefined, 'no %F on older kernels');
  t.throws(() => parseCrashArgs(['x', '1', '6', '0', '0', '0', '2', '0', 'c']), RangeError);
  t.throws(() => parseCrashArgs(['1']), /expected %P/);
});

t.test('the pattern fits the kernel and refuses paths it would split', async (t) => {
  t.equal(buildPattern({ handler: '/var/lib/cored/cored-handler', pidfd: true }), '|/var/lib/cored/cored-handler %P %I %s %t %u %g %d %c %e %F');
  t.equal(buildPattern({ handler: '/h', pidfd: false }), '|/h %P %I %s %t %u %g %d %c %e');
  t.throws(() => buildPattern({ handler: '/a b/cored-handler' }), /contains a space/);
  t.throws(() => buildPattern({ handler: `/${'x'.repeat(120)}/cored-handler` }), /more than the kernel's 127/);
  t.throws(() => buildPattern({ handler: 'cored-handler' }), /must be absolute/);
  t.ok(isCoredPattern('|/var/lib/cored/cored-handler %P %I %s'));
  t.notOk(isCoredPattern('|/usr/lib/systemd/systemd-coredump %P %u %g'));
  // The launcher: no shell, the paths JSON-quoted (spaces and quotes are fine there).
  const source = launcherSource({ node: '/usr/bin/node', script: '/opt/my pkg/cli.js', config: "/etc/it's.toml" });
  t.match(source, /^#!\/usr\/bin\/node\n/);
  t.match(source, /process\.argv\.splice\(2, 0, \.\.\.\["handle","-c","\/etc\/it's\.toml"\]\);/);
  t.match(source, /require\("\/opt\/my pkg\/cli\.js"\);/);
  t.throws(() => launcherSource({ node: '/my node/bin/node' }), /#! line/);
});

t.test('the install mode comes from what the kernel lists, and an impossible one is refused naming the facility', async (t) => {
  t.match(chooseMode('auto', { modes: ['file', 'pipe', 'socket'] }), { mode: 'socket', why: /core_modes reads "file pipe socket"/ });
  t.match(chooseMode('auto', { modes: ['file', 'pipe'] }), { mode: 'pipe', why: /core_pipe_limit 0/ });
  t.match(chooseMode('auto', {}), { mode: 'pipe', why: /does not exist and PIDFD_GET_INFO knows no coredumps/ });
  t.match(chooseMode('auto', { pidfdCoredump: true }), { mode: 'socket', why: /Linux 6\.16: the plain @ socket/ }, '6.16: no core_modes, but the pidfd knows');
  t.match(chooseMode('pipe', { modes: ['file', 'pipe', 'socket'] }), { mode: 'pipe', why: /asked for/ });
  t.match(chooseMode('socket', { modes: ['file', 'pipe', 'linuxafsk/coredump.socket'] }), { mode: 'socket' });
  t.throws(() => chooseMode('socket', { modes: ['file', 'pipe'] }), { code: 'ERR_HOSTKIT_UNSUPPORTED', message: /coredump socket .* reads "file pipe"/ });
  t.throws(() => chooseMode('socket', {}), { message: /core_modes does not exist/ });
  // The real kernel: one that lists the socket (6.17+) also answers the pidfd's coredump question (6.16+).
  if (kernelCoreModes()?.includes('socket')) t.equal(pidfdKnowsCoredumps(), true, 'this kernel answers the coredump question');
});

t.test('the decision on the request waits for a fact it needs, and decides alike once it has it', async (t) => {
  const config = parseConfig(`
[limits]
max_core_size = "1M"
on_oversize = "skip"
[[sink]]
name = "a"
type = "directory"
path = "/a"
restricted = false
[[rule]]
exe = ["/skip/*"]
sinks = []
[[rule]]
signal = [6]
sinks = ["a"]
`);
  t.same(decide(config, { exe: '/skip/x', uid: 0 }, { final: false }), { kind: 'later' }, 'the size cap needs the size');
  const noCap = { ...config, limits: { ...config.limits, maxCoreSize: undefined } };
  t.same(decide(noCap, { exe: '/skip/x', uid: 0 }, { final: false }), { kind: 'refuse', reason: 'rule 0 ignores it' }, 'an exe rule decides on the request');
  t.same(decide(noCap, { exe: '/bin/x', uid: 0 }, { final: false }), { kind: 'later' }, 'a signal rule needs the signal');
  t.match(decide(noCap, { exe: '/bin/x', uid: 0, signal: 6, dumpMode: 1 }, { final: false }), { kind: 'store', sinks: [{ name: 'a' }] });
  t.same(decide(noCap, { exe: '/bin/x', uid: 0 }, { final: true }), { kind: 'refuse', reason: 'no rule matched' }, 'final: unknown is no match');
  t.match(decide(config, { exe: '/bin/x', uid: 0, signal: 6, size: 2 << 20 }, { final: true }), { kind: 'refuse', reason: /exceeds max_core_size/ });
  t.match(
    decide(noCap, { exe: '/bin/x', uid: 0, signal: 6, dumpMode: 2 }, { final: true }),
    { kind: 'refuse', reason: /dump mode 2/ },
    'restricted cores only to restricted sinks',
  );
  const rated = { ...noCap, limits: { ...noCap.limits, ratePerExe: 1 } };
  const rate = new CrashRate(1, 60);
  t.match(decide(rated, { exe: '/bin/x', uid: 0, signal: 6, dumpMode: 1, time: 100 }, { final: true, rate: (e, n) => rate.take(e, n) }), { kind: 'store' });
  t.match(decide(rated, { exe: '/bin/x', uid: 0, signal: 6, dumpMode: 1, time: 101 }, { final: true, rate: (e, n) => rate.take(e, n) }), {
    kind: 'refuse',
    reason: /rate limit/,
  });
  t.match(
    decide(rated, { exe: '/skip/y', uid: 0, time: 102 }, { final: true, rate: (e, n) => rate.take(e, n) }),
    { kind: 'refuse', reason: 'rule 0 ignores it' },
    'a refused crash is not counted',
  );
  t.match(
    decide(rated, { exe: '/bin/x', uid: 0, signal: 6, dumpMode: 1, time: 161 }, { final: true, rate: (e, n) => rate.take(e, n) }),
    { kind: 'store' },
    'the window slides',
  );
});

t.test('the coredump socket protocol: request, ack and mark bytes as include/uapi/linux/coredump.h lays them out', async (t) => {
  const req = Buffer.alloc(16);
  req.writeUInt32LE(16, 0);
  req.writeUInt32LE(16, 4);
  req.writeBigUInt64LE(0xfn, 8);
  const request = parseRequest(req);
  t.same(request, { size: 16, sizeAck: 16, supported: 0xfn });
  const ack = encodeAck(request, CoredumpAction.REJECT);
  t.equal(ack.toString('hex'), '1000000000000000' + '0400000000000000');
  t.throws(() => encodeAck({ ...request, supported: CoredumpAction.KERNEL }, CoredumpAction.REJECT), { code: 'ERR_HOSTKIT_COREDUMP_PROTOCOL' });
  t.throws(() => parseRequest(Buffer.alloc(8)), /8 bytes/);
  const huge = Buffer.from(req);
  huge.writeUInt32LE(1 << 20, 0);
  t.throws(() => parseRequest(huge), /says it is 1048576 bytes/, 'a length the kernel never sends');
  const mark = Buffer.alloc(4);
  t.equal(parseMark(mark), 'REQACK');
  mark.writeUInt32LE(4, 0);
  t.equal(parseMark(mark), 'CONFLICTING');
  mark.writeUInt32LE(99, 0);
  t.equal(parseMark(mark), 'mark 99');
});

t.test('the systemd units cored writes: the socket held by systemd, 0600, a backlog the kernel never overflows', async (t) => {
  const units = systemdUnits({
    socket: '/run/cored/coredump.socket',
    config: '/etc/cored dir/c.toml',
    node: '/usr/bin/node',
    script: '/opt/hostkit/dist/coredump/cli.js',
  });
  t.same(Object.keys(units).sort(), ['cored.service', 'cored.socket']);
  t.match(units['cored.socket'], /^ListenStream=\/run\/cored\/coredump\.socket$/m);
  t.match(units['cored.socket'], /^SocketMode=0600$/m);
  t.match(units['cored.socket'], /^Backlog=4096$/m);
  t.match(
    units['cored.service'],
    /^ExecStart=\/usr\/bin\/node \/opt\/hostkit\/dist\/coredump\/cli\.js serve --config "\/etc\/cored dir\/c\.toml"$/m,
    'a path with a space is quoted',
  );
  t.match(units['cored.service'], /^Restart=always$/m);
});
