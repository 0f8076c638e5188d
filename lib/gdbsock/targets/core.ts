/**
 * A core file as a gdbsock Target: the threads of NT_PRSTATUS, their
 * registers, the memory of the PT_LOAD segments (and of the mapped files the
 * core left out, as gdb itself reads them), auxv, siginfo, the executable's
 * path and the shared libraries from the link map in the core's memory.
 * Nothing can run or change: see ReadOnlyTarget.
 */
import fs from 'node:fs';
import { AuxvType } from '../../procfs/auxv';
import { type Core, type CoreThread, Machine, NoteType, openCore, type CoreFile } from '../../coredump';
import { machineName } from '../../coredump/elf';
import { CoreFormatError } from '../../coredump/errors';
import { type RegisterDef, type Regsets, x86_64Layout } from '../registers';
import type { Capabilities, OwnFiles, PartialRegisters, StopEvent, ThreadInfo } from '../target';
import { MappedFiles } from './mapped-files';
import { ReadOnlyTarget } from './read-only';
import { ServedFiles } from './served-files';
import { type LibraryListStart, readLibraryList } from './svr4';

export interface CoreTargetOptions {
  /** The program, when the core's own record of it (NT_FILE) is wrong or the file has moved. */
  exe?: string;
  /** How to call the core in messages (a cored id, say); its path by default. */
  name?: string;
}

export class CoreTarget extends ReadOnlyTarget implements OwnFiles, PartialRegisters {
  readonly pid: number;
  readonly capabilities: Capabilities = { hostIo: this, partialRegisters: this };
  protected readonly description: string;
  private readonly byTid = new Map<number, CoreThread>();
  private readonly regsets = new Map<number, Regsets>();
  private readonly siginfoByTid = new Map<number, Buffer>();
  private readonly rawAuxv: Buffer | undefined;
  private readonly files: MappedFiles;
  private readonly stop: StopEvent;
  private readonly exe: string | undefined;
  private readonly served: ServedFiles;

  constructor(
    readonly core: Core,
    options: CoreTargetOptions = {},
  ) {
    super(x86_64Layout(core.xsaveLayout));
    this.description = `core file ${options.name ?? ''}`.trim();
    if (core.header.machine !== Machine.X86_64) {
      throw new RangeError(`${this.description} is from ${machineName(core.header.machine)}: gdbsock serves x86_64 cores`);
    }
    const first = core.threads[0];
    if (!first) throw new CoreFormatError(0, 'no NT_PRSTATUS note: the core records no thread');
    for (const thread of core.threads) this.byTid.set(thread.tid, thread);
    this.pid = core.pid ?? first.tid;

    // NT_SIGINFO belongs to the thread whose NT_PRSTATUS came last before it, as NT_PRFPREG does.
    let tid: number | undefined;
    for (const note of core.notes) {
      if (note.name !== 'CORE') continue;
      if (note.type === NoteType.PRSTATUS) tid = note.desc.readInt32LE(32);
      else if (note.type === NoteType.SIGINFO && tid !== undefined) this.siginfoByTid.set(tid, note.desc);
      else if (note.type === NoteType.AUXV) this.rawAuxv = note.desc;
    }
    // The thread the kernel wrote first is the one that took the signal; gdb makes it current too (corelow.c).
    const signal = core.siginfo?.signo || first.signal;
    this.stop = { kind: 'signal', tid: first.tid, signal };
    this.files = new MappedFiles(core.files);
    this.exe = options.exe ?? this.programPath();
    const maps = new RegExp(`^/proc/${this.pid}/(task/(\\d+)/)?maps$`);
    this.served = new ServedFiles([...core.files.map((f) => f.path), ...(this.exe ? [this.exe] : [])], (path) => {
      const m = maps.exec(path);
      return m && (!m[2] || this.byTid.has(Number(m[2]))) ? this.maps() : undefined;
    });
  }

  hostIo(packet: Buffer): Buffer | string | undefined {
    return this.served.handle(packet);
  }

  /**
   * /proc/PID/maps as it was, from the segments and NT_FILE (proc(5) format).
   * gdb reads it to find the vDSO's extent, which it then leaves out of the
   * shared libraries and reads symbols from (linux-tdep.c, linux_vsyscall_range_raw).
   */
  private maps(): Buffer {
    const hex = (v: bigint, width: number) => v.toString(16).padStart(width, '0');
    const lines = this.core.memory.segments.map((s) => {
      const file = this.core.files.find((f) => s.vaddr >= f.start && s.vaddr < f.end);
      const perms = `${s.flags & 4 ? 'r' : '-'}${s.flags & 2 ? 'w' : '-'}${s.flags & 1 ? 'x' : '-'}p`;
      const offset = file ? file.offset + (s.vaddr - file.start) : 0n;
      const start = `${hex(s.vaddr, 8)}-${hex(s.vaddr + s.memsz, 8)} ${perms} ${hex(offset, 8)} 00:00 0`;
      return file ? `${start.padEnd(72)} ${file.path}` : start;
    });
    return Buffer.from(`${lines.join('\n')}\n`);
  }

  /**
   * Opens a core file; CoreFormatError if it is malformed, SystemError if it
   * cannot be read. A core cut short (RLIMIT_CORE, a full disk) is served
   * as far as it goes, its missing tail unavailable, as gdb reads one;
   * `onWarning` hears about it.
   */
  static open(file: string, options: CoreTargetOptions = {}, onWarning?: (message: string) => void): CoreTarget {
    let core: CoreFile;
    try {
      core = openCore(file);
    } catch (err) {
      if (!(err instanceof CoreFormatError) || !err.reason.includes('truncated core')) throw err;
      core = openCore(file, { allowTruncated: true });
      onWarning?.(`${file} is truncated (${err.reason}): memory past its end is unavailable`);
    }
    try {
      return new CoreTarget(core, { name: file, ...options });
    } catch (err) {
      core.close();
      throw err;
    }
  }

  close(): void {
    this.files.close();
    (this.core as Partial<CoreFile>).close?.();
  }

  /**
   * The executable's path: the file mapped where the entry point is (NT_FILE
   * with AT_ENTRY from the auxv), or else the command line's first word when
   * that is a path to a file.
   */
  private programPath(): string | undefined {
    const auxv = this.core.auxv;
    for (const type of [AuxvType.AT_ENTRY, AuxvType.AT_PHDR]) {
      const address = auxv?.get(type);
      const file = address === undefined ? undefined : this.core.files.find((f) => address >= f.start && address < f.end);
      if (file) return file.path;
    }
    const word = this.core.process?.psargs.split(' ')[0];
    return word?.startsWith('/') && fs.existsSync(word) ? word : undefined;
  }

  threads(): ThreadInfo[] {
    // In note order: gdb numbers a core's threads that way, and the first is the one that crashed.
    return this.core.threads.map((t) => ({ tid: t.tid }));
  }

  isAlive(tid: number): boolean {
    return this.byTid.has(tid);
  }

  private regsetsOf(tid: number): Regsets {
    let rs = this.regsets.get(tid);
    if (!rs) {
      const thread = this.byTid.get(tid);
      if (!thread) throw new RangeError(`no thread ${tid} in ${this.description}`);
      rs = { gpr: thread.registers, fxsave: thread.fpRegisters ?? NO_FXSAVE };
      if (thread.xstate) rs.xstate = thread.xstate;
      this.regsets.set(tid, rs);
    }
    return rs;
  }

  readRegisters(tid: number): Buffer {
    return this.registers.encodeAll(this.regsetsOf(tid));
  }

  readRegister(tid: number, regno: number): Buffer {
    return this.registers.encode(this.regsetsOf(tid), regno);
  }

  /** A thread without NT_PRFPREG (or NT_X86_XSTATE) has no x87/SSE (or AVX and up) values: say so rather than show zeros. */
  unavailableRegisters(tid: number): ReadonlySet<number> | undefined {
    const thread = this.byTid.get(tid);
    if (!thread) return undefined;
    if (!thread.fpRegisters) return this.fpRegnos;
    return thread.xstate ? undefined : this.xstateRegnos;
  }

  /** x87, SSE and the XSAVE components' registers: what NT_PRFPREG and NT_X86_XSTATE hold. */
  private readonly fpRegnos = this.regnos((r) => r.source.kind !== 'gpr');
  private readonly xstateRegnos = this.regnos((r) => r.source.kind === 'xstate');

  private regnos(pick: (r: RegisterDef) => boolean): ReadonlySet<number> {
    return new Set(this.registers.registers.flatMap((r, i) => (pick(r) ? [i] : [])));
  }

  /**
   * The core's bytes where it has them, else the mapped file's (as gdb reads a
   * core); stops at the first address neither holds, so a read is shorter,
   * or empty, and gdb reports the gap instead of seeing zeros.
   */
  readMemory(address: bigint, length: number): Buffer {
    const parts: Buffer[] = [];
    let at = address;
    let remaining = length;
    while (remaining > 0) {
      let got: Buffer;
      try {
        got = this.inCore(at, remaining);
        if (got.length === 0) got = this.files.read(at, remaining);
      } catch {
        break; // the core file itself is short or unreadable here
      }
      if (got.length === 0) break;
      parts.push(got);
      remaining -= got.length;
      at += BigInt(got.length);
    }
    return parts.length === 1 ? parts[0]! : Buffer.concat(parts);
  }

  /** Bytes of the one segment holding `address`, from there on (none if the segment has no data there). */
  private inCore(address: bigint, length: number): Buffer {
    const memory = this.core.memory;
    const segment = memory.segmentAt(address);
    if (!segment) return EMPTY;
    const into = Number(address - segment.vaddr);
    if (into >= segment.filesz) return EMPTY;
    return memory.readAvailable(address, Math.min(length, segment.filesz - into));
  }

  lastStop(): StopEvent {
    return this.stop;
  }

  auxv(): Buffer | undefined {
    return this.rawAuxv;
  }

  execFile(): string | undefined {
    return this.exe;
  }

  siginfo(tid: number): Buffer | undefined {
    return this.siginfoByTid.get(tid);
  }

  librariesSvr4(from?: LibraryListStart): Promise<string | undefined> {
    return readLibraryList(async (a, n) => this.readMemory(a, n), this.rawAuxv, from);
  }
}

const NO_FXSAVE = Buffer.alloc(512);
const EMPTY = Buffer.alloc(0);
