/** The writer: kernel layout, extended numbering, sparse files, pipes and sockets. */
import { execFileSync, spawn } from 'node:child_process';
import { once } from 'node:events';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { PassThrough } from 'node:stream';
import t from 'tap';
import { AARCH64, Machine, UnavailableMemoryError, encodeCoreNotes, openCore, parseCoreBuffer, readCoreStream, writeCore } from '../../lib/coredump';
import { requireGdb, tempDir } from './gdb';
import { MESSAGE_AT, syntheticNotes, syntheticSegments } from './synthetic';

requireGdb();
const dir = tempDir();
t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));

t.test('a written core reads back: threads, notes in kernel order, memory, page-aligned data', async (t) => {
  const file = path.join(dir, 'synthetic.core');
  const layout = await writeCore(file, Machine.X86_64, syntheticNotes(), syntheticSegments());
  t.equal(layout.dataOffset % 4096, 0, 'data starts on a page boundary');
  const core = openCore(file);
  t.teardown(() => core.close());
  t.equal(core.programHeaders[0]!.type, 4, 'PT_NOTE first');
  t.same(
    core.notes.map((n) => `${n.name}:${n.type.toString(16)}`),
    ['CORE:1', 'CORE:3', 'CORE:53494749', 'CORE:6', 'CORE:46494c45', 'CORE:2', 'LINUX:202', 'CORE:1', 'CORE:2'],
  );
  t.same(
    core.threads.map((th) => [th.tid, th.registers.rip]),
    [
      [100, 0x401000n],
      [101, 0x401100n],
    ],
  );
  t.equal(core.threads[0]!.xstate?.length, 832);
  t.equal(core.threads[1]!.fpRegisters?.[0], 3, 'register notes go to the thread before them');
  t.equal(core.threads[0]!.prstatus.utime, 1_500_000n);
  t.match(core.process, { fname: 'synthetic', psargs: 'synthetic --flag', sname: 'S' });
  t.same(core.files, [{ start: 0x400000n, end: 0x402000n, offset: 0n, path: '/usr/bin/synthetic' }]);
  t.equal(core.memory.readCString(MESSAGE_AT), 'hello from a synthetic core');
  t.throws(() => core.memory.read(MESSAGE_AT + 0x1000n, 1), UnavailableMemoryError, 'beyond filesz is unavailable');
  t.equal(core.memory.readAvailable(MESSAGE_AT + 0xff0n, 64).length, 16, 'a read stops where the dumped bytes stop');
  const unmapped = t.throws(() => core.memory.read(0x500000n, 1), UnavailableMemoryError, 'an unmapped address');
  t.equal((unmapped as UnavailableMemoryError).firstMissing, 0x500000n, 'named where the gap starts');
  const gdb = execFileSync('gdb', ['-nx', '-batch', '-c', file, '-ex', `x/s ${MESSAGE_AT}`], { encoding: 'utf8' });
  t.match(gdb, /hello from a synthetic core/, 'gdb reads it');
});

t.test('more than 65535 program headers: PN_XNUM and section header 0', async (t) => {
  const segments = Array.from({ length: 70_000 }, (_, i) => ({
    vaddr: 0x10000000n + BigInt(i) * 0x2000n,
    memsz: 0x1000n,
    flags: 4,
    data: i % 10_000 === 0 ? Buffer.from(`segment ${i}\0`.padEnd(4096, '\0')) : Buffer.alloc(0),
  }));
  const file = path.join(dir, 'xnum.core');
  const layout = await writeCore(file, Machine.X86_64, syntheticNotes(), segments);
  t.equal(layout.programHeaders.length, 70_001);
  t.ok(layout.shoff, 'section header 0 is written');
  const bytes = fs.readFileSync(file);
  t.equal(bytes.readUInt16LE(56), 0xffff, 'e_phnum is PN_XNUM');
  for (const core of [openCore(file), await readCoreStream(fs.createReadStream(file))]) {
    t.equal(core.programHeaders.length, 70_001, `${core.constructor.name} counts every program header`);
    t.equal(core.memory.readCString(0x10000000n + 60_000n * 0x2000n), 'segment 60000');
  }
  const gdb = execFileSync('gdb', ['-nx', '-batch', '-c', file, '-ex', `x/s ${0x10000000n + 50_000n * 0x2000n}`], { encoding: 'utf8' });
  t.match(gdb, /segment 50000/, 'gdb reads the extended-numbering core too');
});

t.test('zero pages become holes in a regular file', async (t) => {
  const big = Buffer.alloc(64 << 20);
  big.write('start', 0);
  big.write('end', big.length - 4096);
  const file = path.join(dir, 'sparse.core');
  await writeCore(file, Machine.X86_64, syntheticNotes(), [{ vaddr: 0x1000000n, flags: 6, data: big }]);
  const st = fs.statSync(file);
  t.ok(st.size > 64 << 20, 'full size');
  t.ok(st.blocks * 512 < 1 << 20, `only ${st.blocks * 512} bytes on disk`);
  const core = openCore(file);
  t.teardown(() => core.close());
  t.ok(core.memory.read(0x1000000n, big.length).equals(big), 'holes read back as the zeros they were');
});

t.test('one pass to a pipe stream, a fifo file descriptor and a unix socket', async (t) => {
  const expected = fs.readFileSync(path.join(dir, 'synthetic.core'));

  const pass = new PassThrough();
  const [streamed] = await Promise.all([readCoreStream(pass), writeCore(pass, Machine.X86_64, syntheticNotes(), syntheticSegments()).then(() => pass.end())]);
  t.equal(streamed.memory.readCString(MESSAGE_AT), 'hello from a synthetic core', 'Writable stream into the stream reader');

  // The fifo's reader is another process (cat): our open() for writing blocks until it has opened.
  const fifo = path.join(dir, 'fifo');
  const copy = path.join(dir, 'from-fifo.core');
  execFileSync('mkfifo', [fifo]);
  const cat = spawn('/bin/sh', ['-c', 'cat "$1" > "$2"', 'sh', fifo, copy], { stdio: 'ignore' });
  const fd = fs.openSync(fifo, 'w');
  await writeCore(fd, Machine.X86_64, syntheticNotes(), syntheticSegments());
  fs.closeSync(fd);
  await once(cat, 'exit');
  t.ok(fs.readFileSync(copy).equals(expected), 'fifo fd: byte for byte what the file got');

  const socketPath = path.join(dir, 'sock');
  const received: Buffer[] = [];
  const server = net.createServer((c) => c.on('data', (d) => received.push(d)));
  server.listen(socketPath);
  await once(server, 'listening');
  const client = net.connect(socketPath);
  await once(client, 'connect');
  await writeCore(client, Machine.X86_64, syntheticNotes(), syntheticSegments());
  client.end();
  await new Promise((r) => setTimeout(r, 100));
  server.close();
  t.ok(Buffer.concat(received).equals(expected), 'socket: byte for byte what the file got');
  t.equal(parseCoreBuffer(Buffer.concat(received)).threads.length, 2);
});

t.test('aarch64 cores: registers by name and the FPSIMD note', async (t) => {
  const registers = Buffer.alloc(34 * 8);
  for (let i = 0; i < 34; i++) registers.writeBigUInt64LE(BigInt(0x1000 + i), i * 8);
  const fpsimd = Buffer.alloc(528);
  fpsimd.writeUInt32LE(0x10, 512); // fpsr
  const notes = encodeCoreNotes({
    arch: AARCH64,
    threads: [
      {
        prstatus: {
          signal: 11,
          code: 0,
          errno: 0,
          cursig: 11,
          sigpend: 0n,
          sighold: 0n,
          pid: 7,
          ppid: 1,
          pgrp: 7,
          sid: 7,
          utime: 0n,
          stime: 0n,
          cutime: 0n,
          cstime: 0n,
          registers,
          fpvalid: true,
        },
        regsets: [
          { type: 2, desc: fpsimd },
          { type: 0x401, desc: Buffer.alloc(8, 0x11) }, // NT_ARM_TLS
        ],
      },
    ],
    psinfo: { state: 0, sname: 'R', zombie: false, nice: 0, flags: 0n, uid: 0, gid: 0, pid: 7, ppid: 1, pgrp: 7, sid: 7, fname: 'arm', psargs: 'arm' },
    siginfo: Buffer.alloc(128),
    auxv: Buffer.alloc(16),
    files: [],
  });
  const pass = new PassThrough();
  const [core] = await Promise.all([
    readCoreStream(pass),
    writeCore(pass, Machine.AARCH64, notes, [{ vaddr: 0x10000n, flags: 4, data: Buffer.alloc(4096, 1) }]).then(() => pass.end()),
  ]);
  t.equal(core.arch, AARCH64);
  t.equal(core.threads[0]!.registers.x0, 0x1000n);
  t.equal(core.threads[0]!.registers.sp, 0x1000n + 31n);
  t.equal(core.threads[0]!.registers.pc, 0x1000n + 32n);
  t.equal(core.threads[0]!.signal, 11);
  t.equal(core.threads[0]!.fpRegisters?.length, 528);
  t.match(core.arch.decodeFp(core.threads[0]!.fpRegisters!), { fpsr: 0x10 });
  t.equal(core.threads[0]!.regsets.get(0x401)?.readBigUInt64LE(0), 0x1111111111111111n, 'NT_ARM_TLS kept by type');
  t.equal(core.notes.find((n) => n.type === 0x401)?.name, 'LINUX');
});
