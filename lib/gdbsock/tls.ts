/**
 * qGetTLSAddr:THREAD,OFFSET,LM (GDB manual, "General Query Packets"): the
 * address of a thread-local variable, OFFSET into the TLS block of the module
 * whose link_map is at LM, for one thread. gdbserver asks libthread_db; gdbsock
 * reads the same glibc structures itself, x86-64 (TLS_TCB_AT_TP, glibc's
 * sysdeps/x86_64/nptl/tls.h):
 *
 * - fs_base is the thread pointer, and points at the thread's TCB, whose
 *   second word is `dtv`, the dynamic thread vector;
 * - dtv[-1] holds the number of slots, dtv[MODID] the address of module
 *   MODID's block for this thread, or -1 (TLS_DTV_UNALLOCATED) before the
 *   thread first touched it;
 * - MODID is the link_map's `l_tls_modid`, and a module in the static TLS area
 *   has its block at fs_base - `l_tls_offset`;
 * - dtv[0] holds the generation the thread's dtv was last brought up to, and
 *   the dynamic linker's slotinfo list (`_rtld_global._dl_tls_dtv_slotinfo_list`)
 *   the generation each module id was last (re)used at: a slot older than its
 *   module (a module id reused after a dlclose) is stale, and is not read, as
 *   libthread_db's td_thr_tlsbase does not read it.
 *
 * Where those fields sit is glibc's business and moves between releases (the
 * link_map grew between 2.36 and 2.41), so the offsets come from the
 * descriptors glibc exports for libthread_db (`_thread_db_link_map_l_tls_modid`
 * and friends, in libc.so.6's dynamic symbols since 2.34, libpthread.so.0
 * before; nptl_db/structs.def): three 32-bit words, the field's size in bits,
 * its count, and its offset. A statically linked program has the same
 * descriptors among its own symbols (.symtab, read from the file): no link
 * map there, one TLS module (the program), and no dynamic linker to ask for
 * generations.
 */
import type { Target } from './target';
import { DynamicSymbols } from './dynamic-symbols';
import { fileSymbols } from './file-symbols';
import { auxvEntry, debugEntry, readString, readWord } from './targets/svr4';

export class TlsUnavailable extends Error {
  constructor(message: string) {
    super(`qGetTLSAddr: ${message}`);
    this.name = 'TlsUnavailable';
  }
}

type Read = (address: bigint, length: number) => Promise<Buffer>;

/** A field of a glibc structure as its libthread_db descriptor gives it. */
interface Field {
  offset: bigint;
  /** Bytes of one element (the descriptor gives bits). */
  size: number;
}

interface Layout {
  modid: Field;
  tlsOffset: Field;
  /** pthread's dtv pointer (the TCB's second word). */
  dtvPointer: Field;
  /** One dtv slot (dtv_t); the block address is its first word. */
  dtvSlot: Field;
  /** Where module ids' generations are, when this glibc says (else slots are trusted). */
  slotinfo?: SlotinfoLayout;
}

interface SlotinfoLayout {
  /** libc's __nptl_rtld_global: a pointer to the dynamic linker's _rtld_global. */
  rtldGlobalPointer: bigint;
  /** _rtld_global._dl_tls_dtv_slotinfo_list: the list's first chunk. */
  list: Field;
  /** A chunk: its length, its next chunk, its array of dtv_slotinfo. */
  length: Field;
  next: Field;
  array: Field;
  /** A dtv_slotinfo's generation. */
  generation: Field;
}

const TLS_DTV_UNALLOCATED = 0xffffffffffffffffn;
const AT_ENTRY = 9n;
// l_tls_offset's two values that mean "no static block" (glibc's dl-tls.h).
const NO_TLS_OFFSET = 0n;
const FORCED_DYNAMIC_TLS_OFFSET = 0xffffffffffffffffn;

/** The thread-local address, or TlsUnavailable (gdbserver's E01) when it cannot be known yet. */
export async function threadLocalAddress(target: Target, tid: number, offset: bigint, lm: bigint): Promise<bigint> {
  const read: Read = async (address, length) => {
    const b = await target.readMemory(address, length);
    if (b.length < length) throw new TlsUnavailable(`cannot read ${length} bytes at 0x${address.toString(16)}`);
    return b;
  };
  const fsBase = target.registers.registers.findIndex((r) => r.name === 'fs_base');
  if (fsBase < 0) throw new TlsUnavailable('no fs_base register');
  const tp = target.readRegister(tid, fsBase).readBigUInt64LE(0);
  if (tp === 0n) throw new TlsUnavailable(`thread ${tid} has no thread pointer yet`);
  const layout = await glibcLayout(target, read);
  // A program without a link map (static) has one TLS module, itself, number 1.
  const modid = lm === 0n ? 1n : await readField(read, lm, layout.modid);
  if (modid === 0n) throw new TlsUnavailable(`the module at 0x${lm.toString(16)} has no TLS`);
  const dtv = await readField(read, tp, layout.dtvPointer);
  const slot = BigInt(layout.dtvSlot.size);
  if (dtv !== 0n) {
    const slots = await readWord(read, dtv - slot);
    const current = async (s: SlotinfoLayout) => (await readWord(read, dtv)) >= (await moduleGeneration(read, s, modid));
    if (modid <= slots && (!layout.slotinfo || (await current(layout.slotinfo)))) {
      const block = await readWord(read, dtv + modid * slot + layout.dtvSlot.offset);
      if (block !== TLS_DTV_UNALLOCATED && block !== 0n) return block + offset;
    }
  }
  // Not in this thread's dtv yet: a module in the static TLS area is still at a known place.
  if (lm !== 0n) {
    const staticOffset = await readField(read, lm, layout.tlsOffset);
    if (staticOffset !== NO_TLS_OFFSET && staticOffset !== FORCED_DYNAMIC_TLS_OFFSET) return tp - staticOffset + offset;
  }
  throw new TlsUnavailable(`module ${modid}'s block is not allocated in thread ${tid} yet`);
}

/** The generation module id `modid` was last given out at, from the dynamic linker's slotinfo list (chunks of `length` entries). */
async function moduleGeneration(read: Read, s: SlotinfoLayout, modid: bigint): Promise<bigint> {
  const rtldGlobal = await readWord(read, s.rtldGlobalPointer);
  let chunk = await readField(read, rtldGlobal, s.list);
  let index = modid;
  for (let n = 0; chunk !== 0n && n < 1024; n++) {
    const length = await readField(read, chunk, s.length);
    if (index < length) return readField(read, chunk + s.array.offset + index * BigInt(s.array.size), s.generation);
    index -= length;
    chunk = await readField(read, chunk, s.next);
  }
  throw new TlsUnavailable(`module ${modid} is not in the dynamic linker's slotinfo list`);
}

async function readField(read: Read, base: bigint, field: Field): Promise<bigint> {
  const b = await read(base + field.offset, field.size);
  return field.size === 8 ? b.readBigUInt64LE(0) : BigInt(b.readUInt32LE(0));
}

const layouts = new WeakMap<Target, { libc: bigint | string; layout: Layout }>();

/** The descriptors from the libc (or libpthread) of the program's base namespace; kept while that libc stays where it is. */
async function glibcLayout(target: Target, read: Read): Promise<Layout> {
  const auxv = target.auxv();
  const entry = auxv ? await debugEntry(read, auxv) : undefined;
  // No DT_DEBUG at all: a statically linked program.
  if (auxv && !entry) return staticLayout(target, read, auxv);
  const rDebug = entry?.value;
  if (!rDebug) throw new TlsUnavailable('no link map (r_debug) yet');
  let lm = await readWord(read, rDebug + 8n);
  for (let n = 0; lm !== 0n && n < 4096; n++) {
    const words = await read(lm, 32);
    const [lAddr, lName, lLd, lNext] = [0, 8, 16, 24].map((o) => words.readBigUInt64LE(o)) as [bigint, bigint, bigint, bigint];
    const name = lName ? await readString(async (a, n) => target.readMemory(a, n), lName) : '';
    if (/\/(libc\.so\.6|libpthread\.so\.0)$/.test(name)) {
      const cached = layouts.get(target);
      if (cached?.libc === lm) return cached.layout;
      const layout = await readLayout(read, lAddr, lLd);
      if (layout) {
        layouts.set(target, { libc: lm, layout });
        return layout;
      }
    }
    lm = lNext;
  }
  throw new TlsUnavailable("no libthread_db descriptors in the program's libc");
}

/** The descriptors among a static program's own symbols; its load bias from AT_ENTRY (a static PIE moves). */
async function staticLayout(target: Target, read: Read, auxv: Buffer): Promise<Layout> {
  const file = target.execFile();
  if (!file) throw new TlsUnavailable('no executable file to read the libthread_db descriptors from');
  const cached = layouts.get(target);
  if (cached?.libc === file) return cached.layout;
  let found: Awaited<ReturnType<typeof fileSymbols>>;
  try {
    found = await fileSymbols(file, (name) => name.startsWith('_thread_db_'));
  } catch (err) {
    throw new TlsUnavailable(`cannot read the symbols of ${file}: ${(err as Error).message}`);
  }
  const bias = (auxvEntry(auxv, AT_ENTRY) ?? found.entry) - found.entry;
  const layout = await layoutFrom(read, async (name) => {
    const at = found.symbols.get(name);
    return at === undefined ? undefined : at + bias;
  });
  if (!layout) throw new TlsUnavailable(`no libthread_db descriptors in ${file}`);
  layouts.set(target, { libc: file, layout });
  return layout;
}

async function readLayout(read: Read, base: bigint, dynamic: bigint): Promise<Layout | undefined> {
  const symbols = await DynamicSymbols.read(read, base, dynamic);
  return symbols && layoutFrom(read, (name) => symbols.lookup(name));
}

/** The layout from the descriptors `lookup` finds (their run-time addresses). */
async function layoutFrom(read: Read, lookup: (name: string) => Promise<bigint | undefined>): Promise<Layout | undefined> {
  const field = async (name: string): Promise<Field | undefined> => {
    const at = await lookup(`_thread_db_${name}`);
    if (at === undefined) return undefined;
    const d = await read(at, 12);
    return { size: d.readUInt32LE(0) / 8, offset: BigInt(d.readUInt32LE(8)) };
  };
  const [modid, tlsOffset, dtvPointer, dtvSlot] = await Promise.all([
    field('link_map_l_tls_modid'),
    field('link_map_l_tls_offset'),
    field('pthread_dtvp'),
    field('dtv_dtv'),
  ]);
  if (!modid || !tlsOffset || !dtvPointer || !dtvSlot) return undefined;
  const [list, length, next, array, generation] = await Promise.all([
    field('rtld_global__dl_tls_dtv_slotinfo_list'),
    field('dtv_slotinfo_list_len'),
    field('dtv_slotinfo_list_next'),
    field('dtv_slotinfo_list_slotinfo'),
    field('dtv_slotinfo_gen'),
  ]);
  const rtldGlobalPointer = await lookup('__nptl_rtld_global');
  const slotinfo =
    list && length && next && array && generation && rtldGlobalPointer !== undefined ? { rtldGlobalPointer, list, length, next, array, generation } : undefined;
  // dtv_dtv describes the vector itself: its element is one dtv_t, the block address first.
  return { modid, tlsOffset, dtvPointer, dtvSlot: { offset: 0n, size: dtvSlot.size }, ...(slotinfo ? { slotinfo } : {}) };
}
