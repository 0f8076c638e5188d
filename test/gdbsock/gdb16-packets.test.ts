/**
 * Packets newer gdbs send: `x ADDR,LEN` (gdb 16.2+, binary memory reads, used
 * when qSupported answers binary-upload+; reply `b` and the escaped bytes,
 * GDB manual "Packets") and vFile:stat / vFile:lstat (gdb 16 and 17, "Host
 * I/O Packets", the struct of "struct stat"). gdb 13 sends none of them, so
 * they are driven here as raw packets.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import t from 'tap';
import { unescapeBinary } from '../../lib/gdbsock/packet';
import { fixture, symbol } from '../helpers';
import { rspClient, startGdbsock } from './gdb';

const binary = fixture('gdbsock');
const STEP_ME = symbol(binary, 'step_me');

async function connect(t: { teardown(fn: () => unknown): void }) {
  const server = await startGdbsock(['--once', '--listen', '127.0.0.1:0', '--', binary, 'count', '1']);
  t.teardown(() => server.stop());
  const c = await rspClient(server.target);
  t.teardown(c.close);
  await c.ask('QStartNoAckMode');
  const features = await c.ask('qSupported:multiprocess+;swbreak+');
  return { c, features };
}

const bytesOf = (reply: string) => Buffer.from(reply, 'latin1');

t.test('x: the same bytes as m, b first and escaped; errors as m', async (t) => {
  const { c, features } = await connect(t);
  t.match(features, /(^|;)binary-upload\+(;|$)/, 'qSupported offers binary-upload+');
  // A page of program text: opcodes include the bytes that must be escaped.
  const start = STEP_ME & ~0xfffn;
  const hex = await c.ask(`m${start.toString(16)},1000`);
  const viaM = Buffer.from(hex, 'hex');
  t.equal(viaM.length, 0x1000);
  const x = bytesOf(await c.ask(`x${start.toString(16)},1000`));
  t.equal(x[0], 0x62, "the reply starts with 'b'");
  t.same(unescapeBinary(x.subarray(1)), viaM, 'the escaped bytes are the bytes m read');
  t.ok(
    [0x23, 0x24, 0x7d, 0x2a].some((b) => viaM.includes(b)),
    'the page has bytes that need escaping',
  );
  t.equal(await c.ask(`x${start.toString(16)},0`), 'b', 'length 0: b and nothing');
  t.equal(await c.ask('x0,10'), 'E01', 'unreadable: an error, as gdbserver 16 answers');
});

t.test("x after LLDB's probe x0,0: OK to the probe, then the escaped bytes with no b (lldbgdbremote.md)", async (t) => {
  const { c } = await connect(t);
  const start = STEP_ME & ~0xfffn;
  const viaM = Buffer.from(await c.ask(`m${start.toString(16)},1000`), 'hex');
  t.equal(await c.ask('x0,0'), 'OK', 'the probe');
  const x = bytesOf(await c.ask(`x${start.toString(16)},1000`));
  t.same(unescapeBinary(x), viaM, 'the same bytes as m, nothing before them');
  t.equal(await c.ask('x0,10'), 'E01', 'unreadable: an error');
});

t.test('vFile:stat is lstat for gdb 16 and stat once the client has sent vFile:lstat; errors are File-I/O errnos', async (t) => {
  const { c } = await connect(t);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'gdbsock-stat-'));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  const link = path.join(dir, 'link');
  fs.symlinkSync(binary, link);
  const hexPath = (p: string) => Buffer.from(p).toString('hex');
  const stat = (reply: string) => {
    const b = bytesOf(reply);
    const semi = b.indexOf(0x3b);
    t.equal(b.subarray(0, semi).toString(), 'F40', 'the struct is 0x40 bytes');
    const st = unescapeBinary(b.subarray(semi + 1));
    t.equal(st.length, 64);
    return { mode: st.readUInt32BE(8), size: st.readBigUInt64BE(28) };
  };
  const dangling = path.join(dir, 'dangling');
  fs.symlinkSync(path.join(dir, 'missing'), dangling);
  await c.ask('vFile:setfs:0');
  // gdb 16, which has no vFile:lstat, means the link by vFile:stat (as gdbserver 16.3 answers it).
  t.equal(stat(await c.ask(`vFile:stat:${hexPath(link)}`)).mode & 0o170000, 0o120000, 'stat before any lstat: the link itself');
  t.equal(stat(await c.ask(`vFile:stat:${hexPath(dangling)}`)).size, BigInt(path.join(dir, 'missing').length), 'a dangling link exists');
  // A client that sends vFile:lstat (gdb 17) gets stat(2) from vFile:stat, as the manual has it.
  const viaLstat = stat(await c.ask(`vFile:lstat:${hexPath(link)}`));
  t.equal(viaLstat.mode & 0o170000, 0o120000, 'lstat: the link itself (S_IFLNK)');
  t.equal(viaLstat.size, BigInt(binary.length), "a link's size is its target's length");
  const real = fs.statSync(binary);
  const viaStat = stat(await c.ask(`vFile:stat:${hexPath(link)}`));
  t.equal(viaStat.mode, real.mode, 'stat after lstat: the program the link names');
  t.equal(viaStat.size, BigInt(real.size));
  t.equal(await c.ask(`vFile:stat:${hexPath(dangling)}`), 'F-1,2', 'a dangling link: ENOENT');
  t.equal(await c.ask(`vFile:stat:${hexPath(path.join(dir, 'missing'))}`), 'F-1,2', 'ENOENT');
});

t.test('x in a row, as dump sends it: the piece read ahead is the memory, and a write between two reads is seen', async (t) => {
  const { c } = await connect(t);
  const pid = Number.parseInt(/p([0-9a-f]+)\./.exec(await c.ask('qC'))![1], 16);
  // Run to step_me, so that libc is mapped.
  t.equal(await c.ask(`Z0,${STEP_ME.toString(16)},1`), 'OK');
  t.match(await c.ask('vCont;c'), /^T05/, 'stopped at step_me');
  // libc's text: read-only and long enough for three 64 KiB reads in a row.
  const maps = fs.readFileSync(`/proc/${pid}/maps`, 'utf8').split('\n');
  const text = maps.find((l) => / r-xp .*libc[.-]/.test(l));
  t.ok(text, 'libc text is mapped');
  const [from, to] = text!
    .split(' ')[0]
    .split('-')
    .map((h) => BigInt(`0x${h}`));
  t.ok(to - from >= 0x30000n, 'libc text spans three reads');
  const x = async (addr: bigint) => unescapeBinary(bytesOf(await c.ask(`x${addr.toString(16)},10000`)).subarray(1));
  const m = async (addr: bigint) => Buffer.from(await c.ask(`m${addr.toString(16)},10000`), 'hex');

  const first = await x(from);
  const second = await x(from + 0x10000n); // the piece read ahead after the first reply
  t.same(first, await m(from), 'first read: the bytes m reads');
  t.same(second, await m(from + 0x10000n), 'read-ahead piece: the bytes m reads');

  await x(from + 0x10000n); // plans from + 0x20000 and reads it after the reply
  t.equal(await c.ask(`M${(from + 0x20000n).toString(16)},4:deadbeef`), 'OK', 'a write lands where the next read would be');
  const third = await x(from + 0x20000n);
  t.equal(third.subarray(0, 4).toString('hex'), 'deadbeef', 'the read after the write sees the write, not the piece read before it');
});

t.test('x in a row over a shared mapping: a write by another process between two reads is seen (nothing read ahead there)', async (t) => {
  const program = fixture('shared-mapping');
  const server = await startGdbsock(['--once', '--listen', '127.0.0.1:0', '--', program]);
  t.teardown(() => server.stop());
  const c = await rspClient(server.target);
  t.teardown(c.close);
  await c.ask('QStartNoAckMode');
  await c.ask('qSupported:multiprocess+;swbreak+');
  const pid = Number.parseInt(/p([0-9a-f]+)\./.exec(await c.ask('qC'))![1]!, 16);
  t.equal(await c.ask(`Z0,${symbol(program, 'stop_here').toString(16)},1`), 'OK');
  t.match(await c.ask('vCont;c'), /^T05/, 'stopped with the mapping filled');
  const at = 0x200000000n;
  const x = async (addr: bigint) => unescapeBinary(bytesOf(await c.ask(`x${addr.toString(16)},10000`)).subarray(1));
  t.equal((await x(at)).readUInt32BE(0), 0x11111111, 'the first piece as the program filled it');
  // Another process writes the next piece through the mapped file while the program is stopped.
  const file = fs.openSync(`/proc/${pid}/map_files/${at.toString(16)}-${(at + 0x40000n).toString(16)}`, 'r+');
  fs.writeSync(file, Buffer.from('deadbeef', 'hex'), 0, 4, 0x10000);
  fs.closeSync(file);
  t.equal((await x(at + 0x10000n)).toString('hex', 0, 4), 'deadbeef', 'the next read sees the write');
});
