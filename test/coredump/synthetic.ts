/** A small core built from scratch (two threads, three segments), for tests that need no process. */
import { encodeCoreNotes, X86_64 } from '../../lib/coredump';
import type { SegmentData } from '../../lib/coredump';
import type { Prstatus } from '../../lib/coredump/note-payloads';

export const MESSAGE_AT = 0x400000n;

function prstatus(tid: number, rip: bigint): Prstatus {
  const registers = Buffer.alloc(27 * 8);
  registers.writeBigUInt64LE(rip, 16 * 8); // rip
  registers.writeBigUInt64LE(0x7ffff000n, 19 * 8); // rsp
  return {
    signal: 0,
    code: 0,
    errno: 0,
    cursig: 0,
    sigpend: 0n,
    sighold: 0n,
    pid: tid,
    ppid: 1,
    pgrp: tid,
    sid: tid,
    utime: 1_500_000n,
    stime: 20n,
    cutime: 0n,
    cstime: 0n,
    registers,
    fpvalid: true,
  };
}

export function syntheticNotes(): Buffer {
  const auxv = Buffer.alloc(32);
  auxv.writeBigUInt64LE(6n, 0); // AT_PAGESZ
  auxv.writeBigUInt64LE(4096n, 8);
  return encodeCoreNotes({
    arch: X86_64,
    threads: [
      {
        prstatus: prstatus(100, 0x401000n),
        regsets: [
          { type: 2, desc: Buffer.alloc(512, 1) },
          { type: 0x202, desc: Buffer.alloc(832, 2) },
        ],
      },
      { prstatus: prstatus(101, 0x401100n), regsets: [{ type: 2, desc: Buffer.alloc(512, 3) }] },
    ],
    psinfo: {
      state: 1,
      sname: 'S',
      zombie: false,
      nice: 0,
      flags: 0n,
      uid: 0,
      gid: 0,
      pid: 100,
      ppid: 1,
      pgrp: 100,
      sid: 100,
      fname: 'synthetic',
      psargs: 'synthetic --flag',
    },
    siginfo: Buffer.alloc(128),
    auxv,
    files: [{ start: 0x400000n, end: 0x402000n, offset: 0n, path: '/usr/bin/synthetic' }],
  });
}

export function syntheticSegments(): SegmentData[] {
  const text = Buffer.alloc(4096);
  text.write('hello from a synthetic core\0', 0);
  return [
    { vaddr: MESSAGE_AT, memsz: 0x2000n, flags: 5, data: text },
    { vaddr: 0x600000n, flags: 6, data: Buffer.alloc(8192, 0x5a) },
    { vaddr: 0x7fffe000n, flags: 6, data: Buffer.alloc(8192) },
  ];
}
