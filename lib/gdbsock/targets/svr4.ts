/**
 * The shared-library list gdb asks for with qXfer:libraries-svr4 (GDB manual,
 * "Library List Format for SVR4 Targets"), read from the dynamic linker's
 * r_debug: auxv AT_PHDR gives the program headers, PT_DYNAMIC holds DT_DEBUG,
 * which points at r_debug, whose r_map chains the link_maps (<link.h>).
 */

const AT_PHDR = 3n;
const AT_PHNUM = 5n;
const PT_DYNAMIC = 2;
const PT_PHDR = 6;
const DT_NULL = 0n;
const DT_DEBUG = 21n;
const PHDR_SIZE = 56;

type Read = (address: bigint, length: number) => Promise<Buffer>;

const hex = (v: bigint) => `0x${v.toString(16)}`;

export function auxvEntry(auxv: Buffer, type: bigint): bigint | undefined {
  for (let i = 0; i + 16 <= auxv.length; i += 16) if (auxv.readBigUInt64LE(i) === type) return auxv.readBigUInt64LE(i + 8);
  return undefined;
}

/** One little-endian 64-bit word of the target's memory. */
export async function readWord(read: Read, address: bigint): Promise<bigint> {
  const b = await read(address, 8);
  if (b.length < 8) throw new RangeError(`cannot read ${hex(address)}`);
  return b.readBigUInt64LE(0);
}

/** A NUL-terminated string of the target's memory (a link map's l_name). */
export async function readString(read: Read, address: bigint): Promise<string> {
  const b = await read(address, 4096);
  const end = b.indexOf(0);
  return b.subarray(0, end < 0 ? b.length : end).toString();
}

/**
 * Where the program's DT_DEBUG value lives (the dynamic linker stores r_debug's
 * address there), with the value itself; undefined for a program without one
 * (static). LLDB's qShlibInfoAddr asks for the slot, gdb's list needs the value.
 */
export async function debugEntry(read: Read, auxv: Buffer): Promise<{ slot: bigint; value: bigint } | undefined> {
  const phdr = auxvEntry(auxv, AT_PHDR);
  const phnum = Number(auxvEntry(auxv, AT_PHNUM) ?? 0n);
  if (!phdr || phnum <= 0 || phnum > 256) return undefined;
  const headers = await read(phdr, phnum * PHDR_SIZE);
  let bias: bigint | undefined;
  let dynamic: { vaddr: bigint; size: number } | undefined;
  for (let i = 0; i + PHDR_SIZE <= headers.length; i += PHDR_SIZE) {
    const type = headers.readUInt32LE(i);
    const vaddr = headers.readBigUInt64LE(i + 16);
    if (type === PT_PHDR) bias = phdr - vaddr;
    if (type === PT_DYNAMIC) dynamic = { vaddr, size: Number(headers.readBigUInt64LE(i + 40)) };
  }
  if (!dynamic) return undefined;
  const start = (bias ?? 0n) + dynamic.vaddr;
  const dyn = await read(start, Math.min(dynamic.size, 16 * 1024));
  for (let i = 0; i + 16 <= dyn.length; i += 16) {
    const tag = dyn.readBigInt64LE(i);
    if (tag === DT_NULL) break;
    if (tag === DT_DEBUG) return { slot: start + BigInt(i + 8), value: dyn.readBigUInt64LE(i + 8) };
  }
  return undefined;
}

/**
 * Where gdb asks the list to start (qXfer:libraries-svr4's annex,
 * "lmid=ADDR;start=ADDR;prev=ADDR", sent by gdb when a probe in the dynamic
 * linker says libraries were added to one namespace): zero fields are absent.
 */
export interface LibraryListStart {
  lmid: bigint;
  start: bigint;
  prev: bigint;
}

/** Parses the annex; unknown keys are skipped, as gdbserver does. */
export function parseLibraryListAnnex(annex: string): LibraryListStart {
  const from: LibraryListStart = { lmid: 0n, start: 0n, prev: 0n };
  for (const field of annex.split(';')) {
    const [key, value] = field.split('=');
    if (value === undefined || !(key === 'lmid' || key === 'start' || key === 'prev')) continue;
    if (!/^[0-9a-fA-F]+$/.test(value)) throw new RangeError(`qXfer:libraries-svr4: ${key} is not hex: ${JSON.stringify(value)}`);
    from[key] = BigInt(`0x${value}`);
  }
  return from;
}

// <link.h>: r_debug { int r_version; link_map *r_map; ... }, and glibc 2.35's
// r_debug_extended adds r_next (at 40 on LP64): the next namespace's r_debug,
// walked when r_version is 2 or more.
const R_MAP = 8n;
const R_NEXT = 40n;
// link_map { l_addr, l_name, l_ld, l_next, l_prev }
const L_NAME = 8n;
const L_LD = 16n;
const L_NEXT = 24n;
const L_PREV = 32n;

/**
 * The library list of every link-map namespace (dlmopen), each library tagged
 * with its namespace's r_debug as lmid; or, given a start, that one namespace
 * from there on. The base namespace's first entry is the program (main-lm);
 * entries without a name are left out, and a chain whose l_prev does not
 * point back is cut there (being changed under us).
 */
export async function readLibraryList(read: Read, auxv: Buffer | undefined, from?: LibraryListStart): Promise<string | undefined> {
  if (!auxv) return undefined;
  const rows: string[] = [];
  const open = '<library-list-svr4 version="1.0"';
  const close = '</library-list-svr4>';
  if (from && from.start !== 0n) {
    await readNamespace(read, rows, from.lmid, from.start, from.prev).catch(() => undefined);
    return `${open}>${rows.join('')}${close}`;
  }
  let entry: Awaited<ReturnType<typeof debugEntry>>;
  try {
    entry = await debugEntry(read, auxv);
  } catch {
    return `${open}/>`;
  }
  // No DT_DEBUG at all (a static program, or ld.so run as the program with PROG as its argument):
  // an error, as gdbserver gives, so that gdb finds r_debug itself (ld.so's _r_debug symbol).
  if (entry === undefined) return undefined;
  const base = entry.value;
  if (base === 0n) return `${open}/>`; // not yet filled in: ld.so has not run
  let main = '';
  try {
    let rDebug = base;
    for (let n = 0; rDebug !== 0n && n < 1024; n++) {
      const version = (await read(rDebug, 4)).readInt32LE(0);
      if (version < 1) break;
      let lm = await readWord(read, rDebug + R_MAP);
      let prev = 0n;
      if (rDebug === base && lm !== 0n) {
        main = ` main-lm="${hex(lm)}"`; // the program itself comes first
        prev = lm;
        lm = await readWord(read, lm + L_NEXT);
      }
      await readNamespace(read, rows, rDebug, lm, prev);
      if (version < 2) break;
      rDebug = await readWord(read, rDebug + R_NEXT);
    }
  } catch {
    // a list being changed under us: report what was read
  }
  return `${open}${main}>${rows.join('')}${close}`;
}

async function readNamespace(read: Read, rows: string[], lmid: bigint, start: bigint, prev: bigint): Promise<void> {
  let lm = start;
  for (let n = 0; lm !== 0n && n < 4096; n++) {
    const [lAddr, lName, lLd, lNext, lPrev] = await Promise.all([0n, L_NAME, L_LD, L_NEXT, L_PREV].map((o) => readWord(read, lm + o)));
    if (lPrev !== prev) break;
    const name = lName ? await readString(read, lName!).catch(() => '') : '';
    if (name) rows.push(`<library name="${escapeXml(name)}" lm="${hex(lm)}" l_addr="${hex(lAddr!)}" l_ld="${hex(lLd!)}" lmid="${hex(lmid)}"/>`);
    prev = lm;
    lm = lNext!;
  }
}

function escapeXml(s: string): string {
  return s.replace(/[<>&"']/g, (c) => `&#${c.charCodeAt(0)};`);
}
