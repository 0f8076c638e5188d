/**
 * ELF notes: namesz, descsz, type, then the name and the descriptor, each
 * padded to 4 bytes (gABI "Note Section"; Linux cores use 4-byte alignment
 * even on 64-bit, fs/binfmt_elf.c writenote/notesize).
 */
import { CoreFormatError } from './errors';

export interface Note {
  name: string;
  type: number;
  desc: Buffer;
  /** File offset of the note's header. */
  offset: number;
}

/** Rounds up to 4 without 32-bit bit tricks: sizes come from the file and may be near 2^32. */
const align4 = (n: number) => n + ((4 - (n % 4)) % 4);

/** Parses a PT_NOTE segment's bytes; `base` is their file offset (for errors and `offset`). */
export function parseNotes(buf: Buffer, base: number): Note[] {
  const notes: Note[] = [];
  let at = 0;
  while (at < buf.length) {
    if (buf.length - at < 12) throw new CoreFormatError(base + at, `note header cut short (${buf.length - at} of 12 bytes left in the segment)`);
    const namesz = buf.readUInt32LE(at);
    const descsz = buf.readUInt32LE(at + 4);
    const type = buf.readUInt32LE(at + 8);
    const nameAt = at + 12;
    const descAt = nameAt + align4(namesz);
    const end = descAt + align4(descsz);
    if (descAt > buf.length || descAt + descsz > buf.length) {
      throw new CoreFormatError(base + at, `note (namesz ${namesz}, descsz ${descsz}, type 0x${type.toString(16)}) runs past the end of its segment`);
    }
    let nameEnd = nameAt + namesz;
    if (namesz > 0 && buf[nameEnd - 1] === 0) nameEnd--; // the name's NUL is counted in namesz
    notes.push({
      name: buf.toString('latin1', nameAt, nameEnd),
      type,
      desc: buf.subarray(descAt, descAt + descsz),
      offset: base + at,
    });
    at = Math.min(end, buf.length);
  }
  return notes;
}

export function noteSize(name: string, descLength: number): number {
  return 12 + align4(Buffer.byteLength(name, 'latin1') + 1) + align4(descLength);
}

export function encodeNote(name: string, type: number, desc: Buffer): Buffer {
  const nameBytes = Buffer.byteLength(name, 'latin1') + 1;
  const buf = Buffer.alloc(noteSize(name, desc.length));
  buf.writeUInt32LE(nameBytes, 0);
  buf.writeUInt32LE(desc.length, 4);
  buf.writeUInt32LE(type, 8);
  buf.write(name, 12, 'latin1');
  desc.copy(buf, 12 + align4(nameBytes));
  return buf;
}
