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

function auxvEntry(auxv: Buffer, type: bigint): bigint | undefined {
  for (let i = 0; i + 16 <= auxv.length; i += 16) if (auxv.readBigUInt64LE(i) === type) return auxv.readBigUInt64LE(i + 8);
  return undefined;
}

async function readWord(read: Read, address: bigint): Promise<bigint> {
  const b = await read(address, 8);
  if (b.length < 8) throw new RangeError(`cannot read ${hex(address)}`);
  return b.readBigUInt64LE(0);
}

async function readString(read: Read, address: bigint): Promise<string> {
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

export async function readLibraryList(pid: number, read: Read, auxv: Buffer | undefined): Promise<string | undefined> {
  void pid;
  if (!auxv) return undefined;
  const empty = '<library-list-svr4 version="1.0"/>';
  let rDebug: bigint;
  try {
    rDebug = (await debugEntry(read, auxv))?.value ?? 0n;
  } catch {
    return empty;
  }
  if (rDebug === 0n) return empty;
  const rows: string[] = [];
  let mainLm: bigint | undefined;
  try {
    let lm = await readWord(read, rDebug + 8n);
    for (let n = 0; lm !== 0n && n < 4096; n++) {
      const [lAddr, lName, lLd, lNext] = await Promise.all([0n, 8n, 16n, 24n].map((o) => readWord(read, lm + o)));
      if (mainLm === undefined)
        mainLm = lm; // the program itself comes first
      else {
        const name = lName ? await readString(read, lName) : '';
        rows.push(`<library name="${escapeXml(name)}" lm="${hex(lm)}" l_addr="${hex(lAddr!)}" l_ld="${hex(lLd!)}" lmid="0x0"/>`);
      }
      lm = lNext!;
    }
  } catch {
    // a list being changed under us: report what was read
  }
  const main = mainLm === undefined ? '' : ` main-lm="${hex(mainLm)}"`;
  return `<library-list-svr4 version="1.0"${main}>${rows.join('')}</library-list-svr4>`;
}

function escapeXml(s: string): string {
  return s.replace(/[<>&"']/g, (c) => `&#${c.charCodeAt(0)};`);
}
