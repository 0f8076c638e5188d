import { PassThrough } from 'node:stream';
import t from 'tap';
import { Connection } from '../../lib/gdbsock/connection';
import { PacketDecoder, checksum, escapeBinary, frame, runLengthDecode, runLengthEncode, unescapeBinary } from '../../lib/gdbsock/packet';
import { addon } from '../../lib/native';
import { gdbCrc32, parseAddress, parseAddressIn, parseCommands, parseConditions, parseHex, parseHexIn, parseThreadId } from '../../lib/gdbsock/wire';

const bytes = (s: string) => Buffer.from(s, 'latin1');

t.test('framing and checksums', async (t) => {
  t.equal(frame(bytes('OK')).toString(), '$OK#9a');
  t.equal(checksum(bytes('qSupported')), 0x37);
  const decoder = new PacketDecoder(100);
  t.same([...decoder.push(bytes('+$qC#b4'))], [{ kind: 'ack' }, { kind: 'packet', payload: bytes('qC') }]);
  t.same([...decoder.push(bytes('$qC#00'))], [{ kind: 'bad-checksum', expected: 0, got: 0xb4 }]);
  t.same([...decoder.push(Buffer.from([3]))], [{ kind: 'interrupt' }], '0x03 outside a packet is Ctrl-C');
  t.same(
    [...decoder.push(bytes('$q')), ...decoder.push(bytes('C#b')), ...decoder.push(bytes('4'))],
    [{ kind: 'packet', payload: bytes('qC') }],
    'split across chunks',
  );
  const big = `$${'a'.repeat(150)}#00`;
  t.same([...decoder.push(bytes(big))], [{ kind: 'oversized', length: 150 }]);
  t.same([...decoder.push(bytes('junk$qC#b4'))], [{ kind: 'packet', payload: bytes('qC') }], 'garbage between packets is skipped');
});

t.test('escapes and run-length encoding round-trip', async (t) => {
  const raw = Buffer.from([0x23, 0x24, 0x7d, 0x2a, 0x00, 0x41]);
  const escaped = escapeBinary(raw);
  t.same([...escaped], [0x7d, 0x03, 0x7d, 0x04, 0x7d, 0x5d, 0x7d, 0x0a, 0x00, 0x41]);
  t.same(unescapeBinary(escaped), raw);
  t.throws(() => unescapeBinary(Buffer.from([0x41, 0x7d])), /escape character at the end/);
  t.equal(runLengthEncode(bytes('0000000000')).toString(), '0*&', '10 zeros: one and 9 repeats (9+29 = 38 = &)');
  const seven = runLengthEncode(bytes('x'.repeat(8)));
  t.notOk(seven.includes(0x23) || seven.includes(0x24), 'never # or $ as a count');
  t.equal(runLengthDecode(seven).toString(), 'x'.repeat(8));
});

t.test('fuzz: random bodies survive encode/frame/decode; random bytes never throw', async (t): Promise<void> => {
  let seed = 12345;
  const rand = (n: number) => {
    seed = (seed * 1103515245 + 12345) & 0x7fffffff;
    return seed % n;
  };
  const decoder = new PacketDecoder(4096);
  for (let i = 0; i < 2000; i++) {
    const hexish = Buffer.from(Array.from({ length: rand(300) }, () => bytes('0123456789abcdef;:,')[rand(4) ? rand(3) : rand(19)]!));
    const framed = frame(hexish);
    const frames = [...decoder.push(framed)];
    if (frames.length !== 1 || frames[0]!.kind !== 'packet') return void t.fail(`frame ${i} did not decode`);
    const back = runLengthDecode((frames[0] as { payload: Buffer }).payload);
    if (!back.equals(hexish)) return void t.fail(`round trip ${i} changed the body`);
    const binary = Buffer.from(Array.from({ length: rand(64) }, () => rand(256)));
    if (!unescapeBinary(escapeBinary(binary)).equals(binary)) return void t.fail(`escape round trip ${i}`);
  }
  const noisy = new PacketDecoder(512);
  for (let i = 0; i < 2000; i++) {
    const junk = Buffer.from(Array.from({ length: rand(700) }, () => (rand(5) ? rand(256) : bytes('$#+-}*')[rand(6)]!)));
    for (const f of noisy.push(junk)) if (f.kind === 'packet' && f.payload.length > 512) return void t.fail('oversized packet delivered');
  }
  t.pass('2000 round trips and 2000 junk chunks');
});

t.test('the native framing of raw binary replies is the escape and frame of packet.ts', async (t): Promise<void> => {
  let seed = 777;
  const rand = (n: number) => {
    seed = (seed * 1103515245 + 12345) & 0x7fffffff;
    return seed % n;
  };
  // Lengths around the 16-byte blocks of the vector loop, and bodies dense and sparse in bytes to escape.
  const lengths = [0, 1, 15, 16, 17, 31, 32, 33, 255, 4096, 65537];
  for (let i = 0; i < 400; i++) {
    const length = i < lengths.length ? lengths[i]! : rand(3000);
    const special = bytes('$#}*');
    const data = Buffer.from(Array.from({ length }, () => (rand(i % 3 === 0 ? 2 : 40) ? rand(256) : special[rand(4)]!)));
    const prefix = [-1, 0x62, 0x6c][i % 3]!;
    const out = Buffer.alloc(2 * length + 5);
    const n = addon.frameBinary(data, 0, length, prefix, out);
    const body = prefix < 0 ? escapeBinary(data) : Buffer.concat([Buffer.from([prefix]), escapeBinary(data)]);
    if (!out.subarray(0, n).equals(frame(body, false))) return void t.fail(`frame ${i} (${length} bytes, prefix ${prefix}) differs`);
  }
  t.throws(() => addon.frameBinary(Buffer.alloc(8), 0, 8, 0x62, Buffer.alloc(20)), TypeError, 'an output buffer too small is refused');
  t.throws(() => addon.frameBinary(Buffer.alloc(8), 4, 8, -1, Buffer.alloc(40)), TypeError, 'a range past the data is refused');
  t.pass('400 bodies framed alike');
});

t.test('native hex framing: the same frame as hex in JavaScript and frame(), at every length around the 16-byte steps', async (t) => {
  for (let length = 0; length < 300; length++) {
    const data = Buffer.from(Array.from({ length }, (_, k) => (k * 151 + length * 7) & 0xff));
    const out = Buffer.alloc(2 * length + 5);
    const n = addon.frameHex(data, 0, length, out);
    const expected = frame(Buffer.from(data.toString('hex'), 'latin1'), false);
    if (!out.subarray(0, n).equals(expected)) return void t.fail(`frame of ${length} bytes differs`);
  }
  t.throws(() => addon.frameHex(Buffer.alloc(8), 0, 8, Buffer.alloc(20)), TypeError, 'an output buffer too small is refused');
  t.throws(() => addon.frameHex(Buffer.alloc(8), 1, 8, Buffer.alloc(40)), TypeError, 'a range past the data is refused');
  t.pass('300 lengths framed alike');
});

/** A Connection over two PassThroughs: what is written to `input` is gdb speaking; `written`, what went back. */
function connectionUnderTest() {
  const input = new PassThrough();
  const output = new PassThrough();
  const written: string[] = [];
  output.on('data', (d: Buffer) => written.push(d.toString('latin1')));
  return { input, written, conn: new Connection(input, output, 64) };
}

t.test('connection: acks until QStartNoAckMode, retransmit on -, bad checksum answered with -', async (t) => {
  const { input, written, conn } = connectionUnderTest();
  const packets: string[] = [];
  conn.on('packet', (p: Buffer) => packets.push(p.toString()));
  input.write('$qC#b4');
  await new Promise((r) => setImmediate(r));
  conn.send('QC1');
  input.write('-');
  input.write('$qC#00');
  await new Promise((r) => setImmediate(r));
  t.same(packets, ['qC']);
  t.same(written, ['+', '$QC1#c5', '$QC1#c5', '-'], 'ack, reply, the reply again after -, - for the bad checksum');
  conn.stopAcking();
  written.length = 0;
  input.write('$qC#b4');
  input.write(`$${'x'.repeat(100)}#00`);
  await new Promise((r) => setImmediate(r));
  t.same(written, ['$E01#a6'], 'no ack any more; an oversized packet gets an error reply');
});

t.test('connection: a packet sent again before its reply (gdb retransmits when our + is late) is acked, not handled twice', async (t) => {
  const { input, written, conn } = connectionUnderTest();
  const packets: string[] = [];
  conn.on('packet', (p: Buffer) => {
    packets.push(p.toString());
    conn.send('QC1'); // answered at once, as the server does for most packets
  });
  input.write('$qC#b4$qC#b4'); // both copies in one read
  await new Promise((r) => setImmediate(r));
  t.same(packets, ['qC'], 'handled once');
  t.same(written, ['+', '$QC1#c5', '+'], 'each copy acked, one reply');
  input.write('$qC#b4'); // after the reply: gdb asking again, handled again
  await new Promise((r) => setImmediate(r));
  t.same(packets, ['qC', 'qC']);
});

t.test('thread ids and CRC', async (t) => {
  t.same(parseThreadId('p1a.2b'), { pid: 0x1a, tid: 0x2b });
  t.same(parseThreadId('p1a.-1'), { pid: 0x1a, tid: -1 });
  t.same(parseThreadId('-1'), { tid: -1 });
  t.same(parseThreadId('0'), { tid: 0 });
  t.throws(() => parseThreadId('pzz'), /bad thread id/);
  t.same(parseThreadId('p1a'), { pid: 0x1a, tid: -1 }, 'pPID alone: all its threads');
  t.same(parseThreadId('vCont;c:p7.8;s', 8, 12), { pid: 7, tid: 8 }, 'in place, inside a packet');
  t.throws(() => parseThreadId('p1a.'), /bad thread id/);
  t.throws(() => parseThreadId(''), /bad thread id/);
  t.equal(gdbCrc32(Buffer.from('123456789')).toString(16), '376e6e7', 'the CRC-32/MPEG-2 check value: the CRC gdb computes');
});

t.test('hex numbers and addresses, parsed in place', async (t) => {
  t.equal(parseHex('fF'), 255);
  t.equal(parseHex('fffffffffffff'), 2 ** 52 - 1, '13 digits: still exact in a double');
  t.throws(() => parseHex('10000000000000'), /bad number/, '14 digits are refused');
  t.throws(() => parseHex(''), /bad number/);
  t.throws(() => parseHex('12g'), /bad number/);
  t.throws(() => parseHex('-1'), /bad number/);
  t.equal(parseHexIn('m1234,40', 6, 8, 'length'), 0x40);
  t.equal(parseAddress('7fffffffe680'), 0x7fffffffe680n);
  t.equal(parseAddress('ffffffff81000000'), 0xffffffff81000000n, 'kernel addresses need all 64 bits');
  t.equal(parseAddress('FFFFFFFFFFFFFFFF'), 2n ** 64n - 1n);
  t.equal(parseAddressIn('Z0,555555555189,1', 3, 15), 0x555555555189n);
  t.throws(() => parseAddress('10000000000000000'), /bad address/, '17 digits do not fit');
  t.throws(() => parseAddress('ffffffff8100000g'), /bad address/);
  t.throws(() => parseAddress('fffffffg81000000'), /bad address/);
  t.throws(() => parseAddress(''), /bad address/);
});

t.test("a Z packet's conditions and commands (;X...;cmds:persist,X...)", async (t) => {
  const extras = 'X2,2227X1,27;cmds:1,X3,220027X1,27';
  t.same(parseConditions(extras), [Buffer.from([0x22, 0x27]), Buffer.from([0x27])], 'conditions: the X list before cmds:');
  t.same(parseCommands(extras), [Buffer.from([0x22, 0x00, 0x27]), Buffer.from([0x27])], 'commands: the X list after cmds:persist,');
  t.equal(parseCommands('X1,27'), undefined, 'no cmds: no commands');
  t.equal(parseConditions('cmds:0,X1,27'), undefined, 'no conditions');
  t.throws(() => parseCommands('cmds:1'), /persist/, 'cmds: without its flag');
  t.throws(() => parseCommands('cmds:1,X4,27'), /shorter than its length/);
  t.throws(() => parseConditions('X1,27junk'), /unexpected "junk"/);
  t.throws(() => parseConditions('Xzz,27'), /bad number|condition length/);
});
