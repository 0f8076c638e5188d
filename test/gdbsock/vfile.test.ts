/**
 * vFile:setfs (GDB manual, "Host I/O Packets") names the process whose
 * filesystem later paths mean. gdbserver opens them as given while that
 * process shares its mount namespace, a relative path from its own working
 * directory (gdb asks for `debug/.build-id/...` that way: gdb.base's
 * build-id-seqno.exp), and inside the process's namespace otherwise. Oracle:
 * the files as this test wrote them. A pread answers at most PREAD_LIMIT
 * bytes (gdb asks PacketSize bytes at each miss of its read-ahead cache),
 * except that a file of at most WHOLE_FILE_LIMIT bytes is answered whole.
 */
import { spawn } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import t, { type Test } from 'tap';
import { unescapeBinary } from '../../lib/gdbsock/packet';
import { PREAD_LIMIT, WHOLE_FILE_LIMIT } from '../../lib/gdbsock/vfile';
import { fixture } from '../helpers';
import { rspClient, startGdbsock } from './gdb';

const hexPath = (p: string) => Buffer.from(p).toString('hex');

async function connect(t: { teardown(fn: () => unknown): void }) {
  const server = await startGdbsock(['--once', '--listen', '127.0.0.1:0', '--', fixture('gdbsock'), 'count', '1']);
  t.teardown(() => server.stop());
  const c = await rspClient(server.target);
  t.teardown(c.close);
  await c.ask('QStartNoAckMode');
  await c.ask('qSupported:multiprocess+;swbreak+');
  return c;
}

/** Opens `name` through vFile and reads its first 4 KiB; the error reply when the open fails. */
async function readVia(c: Awaited<ReturnType<typeof connect>>, name: string): Promise<string> {
  const open = await c.ask(`vFile:open:${hexPath(name)},0,0`);
  if (!open.startsWith('F') || open.startsWith('F-')) return open;
  const fd = open.slice(1);
  const reply = Buffer.from(await c.ask(`vFile:pread:${fd},1000,0`), 'latin1');
  t.equal(await c.ask(`vFile:close:${fd}`), 'F0');
  return unescapeBinary(reply.subarray(reply.indexOf(0x3b) + 1)).toString();
}

t.test('a relative path after setfs to a process of our namespace is read from our working directory', async (t) => {
  const c = await connect(t);
  const pid = Number.parseInt(/p([0-9a-f]+)\./.exec(await c.ask('qC'))![1]!, 16);
  t.equal(await c.ask(`vFile:setfs:${pid.toString(16)}`), 'F0');
  const relative = path.relative(process.cwd(), path.resolve('package.json'));
  t.equal(relative, 'package.json');
  t.equal(await readVia(c, relative), fs.readFileSync('package.json', 'utf8').slice(0, 4096), 'the file in our cwd');
  t.equal(await readVia(c, 'no/such/file'), 'F-1,2', 'a missing one: ENOENT');
  t.equal(await c.ask('vFile:setfs:0'), 'F0');
  t.equal(await readVia(c, relative), fs.readFileSync('package.json', 'utf8').slice(0, 4096), 'setfs 0: the same');
});

t.test('setfs to a process in another mount namespace reads that namespace', async (t) => {
  const c = await connect(t);
  // A tmpfs mounted only in a new namespace, over a directory that exists in ours too.
  const holder = spawn(
    'unshare',
    ['-m', '--propagation', 'private', 'sh', '-c', 'mount -t tmpfs none /mnt && echo only-here > /mnt/marker && echo ready && exec sleep 60'],
    {
      stdio: ['ignore', 'pipe', 'inherit'],
    },
  );
  t.teardown(() => holder.kill('SIGKILL'));
  await new Promise<void>((resolve, reject) => {
    holder.stdout!.once('data', () => resolve());
    holder.once('exit', (code) => reject(new Error(`unshare exited ${code}`)));
  });
  t.notOk(fs.existsSync('/mnt/marker'), 'our namespace has no marker');
  t.equal(await c.ask(`vFile:setfs:${holder.pid!.toString(16)}`), 'F0');
  t.equal(await readVia(c, '/mnt/marker'), 'only-here\n', "the file of the other process's namespace");
  t.equal(await c.ask('vFile:setfs:0'), 'F0');
  t.equal(await readVia(c, '/mnt/marker'), 'F-1,2', 'setfs 0: ours again, where it does not exist');
});

/** A vFile:pread of `count` bytes (hex) at `offset` on gdbsock's descriptor `fd`: the bytes, checked against the count the reply names. */
async function preadVia(t: Test, c: Awaited<ReturnType<typeof connect>>, fd: string, offset: number, count = '100000'): Promise<Buffer> {
  const reply = Buffer.from(await c.ask(`vFile:pread:${fd},${count},${offset.toString(16)}`), 'latin1');
  const semicolon = reply.indexOf(0x3b);
  const data = unescapeBinary(reply.subarray(semicolon + 1));
  t.equal(Number.parseInt(reply.subarray(1, semicolon).toString(), 16), data.length, `offset ${offset}: the count names the bytes sent`);
  return data;
}

/** Random bytes (every value, the protocol's escaped ones $ # } * included) in a file of its own. */
function randomFile(t: Test, size: number): { file: string; bytes: Buffer } {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'hostkit-vfile-'));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  const file = path.join(dir, 'data');
  const bytes = crypto.randomBytes(size);
  fs.writeFileSync(file, bytes);
  return { file, bytes };
}

t.test('a pread answers at most PREAD_LIMIT bytes, and reading on gives the whole file', async (t) => {
  const c = await connect(t);
  // Oracle: the file as written.
  const { file, bytes } = randomFile(t, 5 * PREAD_LIMIT + 123);
  const fd = (await c.ask(`vFile:open:${hexPath(file)},0,0`)).slice(1);
  t.equal((await preadVia(t, c, fd, 0)).length, PREAD_LIMIT, 'a 1 MiB request gets PREAD_LIMIT bytes');
  const pieces: Buffer[] = [];
  for (let offset = 0; ; ) {
    const piece = await preadVia(t, c, fd, offset);
    if (piece.length === 0) break;
    pieces.push(piece);
    offset += piece.length;
  }
  t.ok(Buffer.concat(pieces).equals(bytes), 'the pieces are the file');
  t.equal(await c.ask(`vFile:close:${fd}`), 'F0');
});

t.test('a file of at most WHOLE_FILE_LIMIT bytes is answered whole, from any offset', async (t) => {
  const c = await connect(t);
  // The size of a program of gdb's testsuite, which gdb reads at its start and end in every session. Oracle: the file as written.
  const { file, bytes } = randomFile(t, 40 * 1024 + 7);
  const fd = (await c.ask(`vFile:open:${hexPath(file)},0,0`)).slice(1);
  t.ok((await preadVia(t, c, fd, 0)).equals(bytes), 'a 1 MiB request at 0 gets the whole file');
  t.ok((await preadVia(t, c, fd, 0x9000)).equals(bytes.subarray(0x9000)), 'one at the section headers gets the rest');
  t.ok((await preadVia(t, c, fd, 0x40, '100')).equals(bytes.subarray(0x40, 0x140)), 'a smaller request gets what it asked');
  t.equal((await preadVia(t, c, fd, bytes.length)).length, 0, 'at the end: nothing');
  t.equal(await c.ask(`vFile:close:${fd}`), 'F0');
  // Just over the limit: PREAD_LIMIT pieces again.
  const big = randomFile(t, WHOLE_FILE_LIMIT + 1);
  const bigFd = (await c.ask(`vFile:open:${hexPath(big.file)},0,0`)).slice(1);
  t.ok((await preadVia(t, c, bigFd, 0)).equals(big.bytes.subarray(0, PREAD_LIMIT)), 'one byte more: PREAD_LIMIT bytes');
  t.equal(await c.ask(`vFile:close:${bigFd}`), 'F0');
});
