/**
 * The queries LLDB sends beyond gdb's (LLDB's "GDB Remote Protocol
 * Extensions", lldbgdbremote.md): what the host and the process are
 * (qHostInfo, qProcessInfo), which mapping holds an address
 * (qMemoryRegionInfo), and where the program keeps r_debug's address
 * (qShlibInfoAddr). Answers are `key:value;` lists; strings in them are hex.
 */
import os from 'node:os';
import { type Mapping, maps, status } from '../procfs';
import type { StopEvent, Target } from './target';
import { debugEntry } from './targets/svr4';

/** gdbsock serves x86_64 Linux only (registers.ts). */
const TRIPLE_HEX = Buffer.from('x86_64-pc-linux-gnu').toString('hex');
const ARCH_FIELDS = `triple:${TRIPLE_HEX};ptrsize:8;endian:little;ostype:linux;vendor:pc;`;

const hexText = (s: string) => Buffer.from(s).toString('hex');

/** qHostInfo. x86 debug registers report a watchpoint after the access. */
export function hostInfo(): string {
  const version = /^\d+\.\d+(\.\d+)?/.exec(os.release())?.[0];
  return `${ARCH_FIELDS}${version ? `os_version:${version};` : ''}hostname:${hexText(os.hostname())};watchpoint_exceptions_received:after;`;
}

/** qProcessInfo: the process, its parent and ids where /proc has them (not for a core). */
export function processInfo(target: Target): string {
  let reply = `pid:${target.pid.toString(16)};`;
  const running = target.capabilities.runningProcess;
  if (running) {
    try {
      const st = status(running.pid);
      reply += `parent-pid:${st.ppid.toString(16)};real-uid:${st.uid[0].toString(16)};real-gid:${st.gid[0].toString(16)};`;
      reply += `effective-uid:${st.uid[1].toString(16)};effective-gid:${st.gid[1].toString(16)};`;
    } catch {
      // gone meanwhile: the pid and the architecture still say enough
    }
  }
  return reply + ARCH_FIELDS;
}

const ADDRESS_END = 1n << 64n;

/**
 * qMemoryRegionInfo:ADDR: the mapping holding ADDR, or the gap around it
 * (no `permissions:` means unmapped to LLDB). undefined when the target has
 * no memory map to read (a core, the kernel).
 */
export function memoryRegionInfo(target: Target, address: bigint): string | undefined {
  const running = target.capabilities.runningProcess;
  if (!running) return undefined;
  return describeRegion(maps(running.pid), address);
}

export function describeRegion(mappings: readonly Mapping[], address: bigint): string {
  let gapStart = 0n;
  for (const m of mappings) {
    if (address < m.start) return region(gapStart, m.start);
    if (address < m.end) {
      const perms = `${m.readable ? 'r' : ''}${m.writable ? 'w' : ''}${m.executable ? 'x' : ''}`;
      const name = m.path ? `name:${hexText(m.path)};` : '';
      return `${region(m.start, m.end)}permissions:${perms};${name}`;
    }
    gapStart = m.end;
  }
  return region(gapStart, ADDRESS_END);
}

function region(start: bigint, end: bigint): string {
  return `start:${start.toString(16)};size:${(end - start).toString(16)};`;
}

/**
 * qShlibInfoAddr: the address of the program's DT_DEBUG value, where the
 * dynamic linker puts r_debug's address; LLDB's POSIX dynamic loader reads
 * the link map from there. undefined for a program without one.
 */
export async function shlibInfoAddress(target: Target): Promise<bigint | undefined> {
  const auxv = target.auxv();
  if (!auxv) return undefined;
  const entry = await debugEntry(async (a, n) => target.readMemory(a, n), auxv);
  return entry?.slot;
}

/** qThreadStopInfoTID: the last stop if it was this thread's, else a stop with no signal. */
export function threadStop(t: Target, tid: number): StopEvent {
  const last = t.lastStop();
  return last.kind === 'signal' && last.tid === tid ? last : { kind: 'signal', tid, signal: 0 };
}
