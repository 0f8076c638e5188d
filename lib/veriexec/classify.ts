/**
 * What kind of runnable a file is, from its first bytes, and so which of
 * NetBSD's flags its signature line gets: an ELF executable or PIE `direct`,
 * an ELF shared object `file` (ld.so maps it), the dynamic loader (a shared
 * object that is also run) `direct,indirect,file`, a `#!` script `direct,file`
 * (executed, then read by its interpreter). Anything else is not listed.
 */
import type { Flag } from './signatures';

export type Kind = 'elf-executable' | 'elf-shared' | 'elf-loader' | 'script';

const ELF_MAGIC = Buffer.from([0x7f, 0x45, 0x4c, 0x46]);
const ET_EXEC = 2;
const ET_DYN = 3;
const PT_INTERP = 3;

/** The kind of a file from its head (its first bytes, up to the program headers), or null for none of them. */
export function classify(head: Buffer, mode: number): Kind | null {
  const executable = (mode & 0o111) !== 0;
  if (head.length >= 2 && head[0] === 0x23 && head[1] === 0x21) return executable ? 'script' : null;
  if (head.length < 64 || !head.subarray(0, 4).equals(ELF_MAGIC) || head[4] !== 2 || head[5] !== 1) return null; // 64-bit little-endian only
  const type = head.readUInt16LE(16);
  if (type === ET_EXEC) return 'elf-executable';
  if (type !== ET_DYN) return null;
  const interp = hasInterpreter(head);
  if (interp) return 'elf-executable'; // a PIE (libc.so.6 too: it can be run)
  // No interpreter: a library, or, with an execute bit, one that is run as well (ld.so; some 0755 plugins too).
  return executable ? 'elf-loader' : 'elf-shared';
}

export function flagsOf(kind: Kind): Flag[] {
  switch (kind) {
    case 'elf-executable':
      return ['direct', 'file'];
    case 'elf-shared':
      return ['file'];
    case 'elf-loader':
      return ['direct', 'indirect', 'file'];
    case 'script':
      return ['direct', 'file'];
  }
}

/** Whether the program headers (when within `head`) have PT_INTERP. */
function hasInterpreter(head: Buffer): boolean {
  const phoff = Number(head.readBigUInt64LE(32));
  const phentsize = head.readUInt16LE(54);
  const phnum = head.readUInt16LE(56);
  for (let i = 0; i < phnum; i++) {
    const at = phoff + i * phentsize;
    if (at + 4 > head.length) return false;
    if (head.readUInt32LE(at) === PT_INTERP) return true;
  }
  return false;
}
