/**
 * The files the kernel opens for execution when it runs a program: the program,
 * its ELF interpreter (PT_INTERP, the dynamic loader) or its #! interpreter.
 * Landlock checks LANDLOCK_ACCESS_FS_EXECUTE on each of them (they are opened
 * with FMODE_EXEC, fs/exec.c open_exec), so an allow-list must name them too.
 */
import fs from 'node:fs';

const PT_INTERP = 3;

/** The interpreter a program needs, or null (static binary, unreadable, unknown format). */
export function interpreterOf(file: string): string | null {
  let head: Buffer;
  try {
    const fd = fs.openSync(file, 'r');
    try {
      head = Buffer.alloc(4096);
      head = head.subarray(0, fs.readSync(fd, head, 0, head.length, 0));
    } finally {
      fs.closeSync(fd);
    }
  } catch {
    return null;
  }
  if (head.subarray(0, 2).toString('latin1') === '#!') {
    const line = head
      .subarray(2, head.indexOf(10) >= 0 ? head.indexOf(10) : head.length)
      .toString('utf8')
      .trim();
    return line.split(/\s+/)[0] || null;
  }
  // ELF64 little-endian only (the architectures this package runs on).
  if (head.length < 64 || head.readUInt32BE(0) !== 0x7f454c46 || head[4] !== 2 || head[5] !== 1) return null;
  const phoff = Number(head.readBigUInt64LE(32));
  const phentsize = head.readUInt16LE(54);
  const phnum = head.readUInt16LE(56);
  for (let i = 0; i < phnum; i++) {
    const at = phoff + i * phentsize;
    if (at + 56 > head.length) return null;
    if (head.readUInt32LE(at) !== PT_INTERP) continue;
    const offset = Number(head.readBigUInt64LE(at + 8));
    const size = Number(head.readBigUInt64LE(at + 32));
    if (offset + size > head.length || size < 2) return null;
    return head.subarray(offset, offset + size - 1).toString('utf8');
  }
  return null;
}

/** `files` plus the interpreters they need, transitively, without duplicates. */
export function withInterpreters(files: string[]): string[] {
  const out = new Set<string>();
  const queue = [...files];
  while (queue.length) {
    const file = queue.shift()!;
    if (out.has(file)) continue;
    out.add(file);
    const interp = interpreterOf(file);
    if (interp) queue.push(interp);
  }
  return [...out];
}
