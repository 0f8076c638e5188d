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

t.test('vFile:stat follows a symlink, vFile:lstat does not; errors are File-I/O errnos', async (t) => {
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
  await c.ask('vFile:setfs:0');
  const real = fs.statSync(binary);
  const viaStat = stat(await c.ask(`vFile:stat:${hexPath(link)}`));
  t.equal(viaStat.mode, real.mode, 'stat: the program the link names');
  t.equal(viaStat.size, BigInt(real.size));
  const viaLstat = stat(await c.ask(`vFile:lstat:${hexPath(link)}`));
  t.equal(viaLstat.mode & 0o170000, 0o120000, 'lstat: the link itself (S_IFLNK)');
  t.equal(viaLstat.size, BigInt(binary.length), "a link's size is its target's length");
  t.equal(await c.ask(`vFile:stat:${hexPath(path.join(dir, 'missing'))}`), 'F-1,2', 'ENOENT');
});
