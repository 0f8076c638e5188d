import t from 'tap';
import * as reply from '../../lib/gdbsock/replies';
import { describeRegion } from '../../lib/gdbsock/lldb-queries';
import { RequestParser } from '../../lib/gdbsock/requests';
import { parseMaps } from '../../lib/procfs';

const parse = (p: RequestParser, s: string) => p.parse(Buffer.from(s, 'latin1'));

t.test("LLDB's packets: 16-digit pids, thread-suffixed registers, its queries", async (t) => {
  const p = new RequestParser();
  t.same(parse(p, 'D;000000000000397c'), { kind: 'detach', pid: 0x397c });
  t.same(parse(p, 'vKill;000000000000397c'), { kind: 'vKill', pid: 0x397c });
  t.same(parse(p, 'Hgp000000000000397c.000000000000397d'), { kind: 'selectThread', op: 'g', pid: 0x397c, tid: 0x397d });
  t.same(parse(p, 'T000000000000397d'), { kind: 'threadAlive', pid: undefined, tid: 0x397d });
  t.equal(parse(p, 'D;100000000000397c').kind, 'malformed', 'more than 13 significant digits is no pid');
  t.equal(parse(p, 'D;00000000000000000397c').kind, 'malformed', 'more than 16 digits');
  t.same(parse(p, 'g;thread:397d;'), { kind: 'readRegisters', tid: 0x397d });
  t.same(parse(p, 'p10;thread:397d;'), { kind: 'readRegister', regno: 0x10, tid: 0x397d });
  t.same(parse(p, 'P5=0100000000000000;thread:397d;'), { kind: 'writeRegister', regno: 5, value: Buffer.from('0100000000000000', 'hex'), tid: 0x397d });
  t.same(parse(p, 'G0102;thread:397d;'), { kind: 'writeRegisters', data: Buffer.from([1, 2]), tid: 0x397d });
  t.same(parse(p, 'P5=01'), { kind: 'writeRegister', regno: 5, value: Buffer.from([1]), tid: 0 });
  t.equal(parse(p, 'p10;core:1;').kind, 'malformed', 'a suffix other than thread');
  t.same(parse(p, 'qHostInfo'), { kind: 'hostInfo' });
  t.same(parse(p, 'qProcessInfo'), { kind: 'processInfo' });
  t.same(parse(p, 'qShlibInfoAddr'), { kind: 'shlibInfoAddr' });
  t.same(parse(p, 'qMemoryRegionInfo:7ffff7fe4b70'), { kind: 'memoryRegionInfo', addr: 0x7ffff7fe4b70n });
  t.same(parse(p, 'qThreadStopInfo397d'), { kind: 'threadStopInfo', tid: 0x397d });
  t.same(parse(p, 'QThreadSuffixSupported'), { kind: 'threadSuffixSupported' });
});

t.test('each packet family becomes its typed request', async (t) => {
  const p = new RequestParser();
  t.same(parse(p, 'g'), { kind: 'readRegisters', tid: 0 });
  t.same(parse(p, 'p1a'), { kind: 'readRegister', regno: 0x1a, tid: 0 });
  t.same(parse(p, 'm7ffff7dd0000,40'), { kind: 'readMemory', addr: 0x7ffff7dd0000n, length: 0x40, binary: false });
  t.same(parse(p, 'x7ffff7dd0000,10000'), { kind: 'readMemory', addr: 0x7ffff7dd0000n, length: 0x10000, binary: true });
  t.same(parse(p, 'Z0,401136,1'), { kind: 'breakpoint', insert: true, type: 'software', addr: 0x401136n, length: 1, conditions: undefined });
  t.same(parse(p, 'z2,601040,8'), { kind: 'breakpoint', insert: false, type: 'write', addr: 0x601040n, length: 8, conditions: undefined });
  t.same(parse(p, 'Z0,401136,1;X2,2201'), {
    kind: 'breakpoint',
    insert: true,
    type: 'software',
    addr: 0x401136n,
    length: 1,
    conditions: [Buffer.from([0x22, 0x01])],
  });
  t.same(parse(p, 'vCont;s:p7.8;c'), {
    kind: 'vCont',
    actions: [
      { type: 'step', signal: 0, tid: 8 },
      { type: 'continue', signal: 0 },
    ],
  });
  t.same(parse(p, 'qXfer:features:read:target.xml:0,fff'), {
    kind: 'qXfer',
    object: 'features',
    annex: 'target.xml',
    pid: undefined,
    offset: 0,
    length: 0xfff,
  });
  t.same(parse(p, 'qXfer:exec-file:read:1f:10,20'), { kind: 'qXfer', object: 'exec-file', annex: '1f', pid: 0x1f, offset: 0x10, length: 0x20 });
  // gdb writes one field of $_siginfo at its offset (si_addr: 0x10), its bytes raw.
  t.same(parse(p, 'qXfer:siginfo:write::10:f\x06\0\0\0\0\0\0'), {
    kind: 'qXferWrite',
    object: 'siginfo',
    annex: '',
    offset: 0x10,
    data: Buffer.from([0x66, 0x06, 0, 0, 0, 0, 0, 0]),
  });
  t.same(parse(p, 'Hgp7.-1'), { kind: 'selectThread', op: 'g', pid: 7, tid: -1 });
  t.same(parse(p, 'D;1f'), { kind: 'detach', pid: 0x1f });
  t.same(parse(p, 'vRun;;6161'), { kind: 'vRun', argv: [Buffer.alloc(0), Buffer.from('aa')] });
  t.same(parse(p, 'QEnvironmentHexEncoded:413d31'), { kind: 'environmentSet', name: 'A', value: '1' });
  t.same(parse(p, 'QProgramSignals:1e;e'), { kind: 'programSignals', signals: new Set([10, 14]) }, "gdb's SIGUSR1 (30) is Linux's 10");
  t.same(parse(p, 'X1000,0:'), { kind: 'writeMemory', addr: 0n, data: Buffer.alloc(0), binary: true }, "X's empty probe needs no address");
});

t.test('what the server does not know is unknown, what it cannot parse is malformed', async (t) => {
  const p = new RequestParser();
  for (const s of ['vMustReplyEmpty', 'qOffsets', 'Hx1', 'Z9,1,1', 'Z10,1,1', 'qXfer:foo:write::0:', 'QFoo:1', 'j'])
    t.same(parse(p, s), { kind: 'unknown' }, s);
  for (const s of ['mzz,1', 'm10', 'Z0,401136', 'vCont;q', 'vCont;', 'C99', 'M10,2:00', 'qXfer:auxv:read::x,1']) t.equal(parse(p, s).kind, 'malformed', s);
  t.match(parse(p, 'mzz,1'), { kind: 'malformed', packet: "packet 'mzz,1'", reason: /bad address/ });
});

t.test('the hot kinds reuse one object; QPassSignals parses once per text', async (t) => {
  const p = new RequestParser();
  t.equal(parse(p, 'm10,1'), parse(p, 'm20,2'));
  t.equal(parse(p, 'Z0,10,1'), parse(p, 'z0,10,1'));
  t.equal(parse(p, 'g'), parse(p, 'g'));
  const a = parse(p, 'QPassSignals:e;14');
  t.equal(parse(p, 'QPassSignals:e;14'), a);
  t.not(parse(p, 'QPassSignals:e'), a);
});

t.test('replies', async (t) => {
  t.equal(reply.error(), 'E01');
  t.equal(reply.NO_SUCH_REGISTER, 'E45');
  t.equal(reply.errorText('no $ here#'), 'E.no ? here?');
  t.equal(reply.UNSUPPORTED, '');
  t.equal(reply.xferChunk(Buffer.from('abcdef'), 0, 4).body().toString(), 'mabcd');
  t.equal(reply.xferChunk(Buffer.from('abcdef'), 4, 4).body().toString(), 'lef');
  t.equal(reply.memory(Buffer.alloc(0), 4), 'E01', 'nothing readable');
  t.same(
    reply.replyBytes(reply.binaryMemory(Buffer.from([0x41, 0x23, 0x24, 0x7d, 0x2a, 0]), 6)),
    Buffer.from([0x62, 0x41, 0x7d, 0x03, 0x7d, 0x04, 0x7d, 0x5d, 0x7d, 0x0a, 0]),
    'x: b, then the bytes with #$}* escaped',
  );
  t.equal(reply.binaryMemory(Buffer.alloc(0), 4), 'E01', 'x: nothing readable');
  t.same(reply.replyBytes(reply.binaryMemory(Buffer.alloc(0), 0)), Buffer.from('b'), 'x of length 0: b alone');
  t.equal(reply.threadList([]), 'l');
  t.equal(reply.formatStopReply({ kind: 'exited', pid: 7, code: 1 }, 7, { multiprocess: true }), 'W01;process:7');
});

t.test('qMemoryRegionInfo: the mapping, the gap before it, the gap after the last', async (t) => {
  const maps = parseMaps('00400000-00401000 r-xp 00000000 08:01 12 /bin/prog\n7ffd0000-7ffd2000 rw-p 00000000 00:00 0 [stack]\n');
  const hex = (s: string) => Buffer.from(s).toString('hex');
  t.equal(describeRegion(maps, 0x400800n), `start:400000;size:1000;permissions:rx;name:${hex('/bin/prog')};`);
  t.equal(describeRegion(maps, 0n), 'start:0;size:400000;', 'unmapped: no permissions');
  t.equal(describeRegion(maps, 0x7ffd1fffn), `start:7ffd0000;size:2000;permissions:rw;name:${hex('[stack]')};`);
  t.equal(describeRegion(maps, 0x401000n), 'start:401000;size:7fbcf000;', 'between two mappings');
  t.equal(
    describeRegion(maps, 0xffffffffff600000n),
    `start:7ffd2000;size:${((1n << 64n) - 0x7ffd2000n).toString(16)};`,
    'past the last one: to the end of the address space',
  );
});
