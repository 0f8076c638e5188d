/**
 * A parsed core: what the headers and notes say, turned into threads,
 * process information, mapped files and a memory view. Shared by the file
 * and stream readers, which differ only in how they get the bytes.
 */
import { type Auxv, AuxvType, parseAuxv } from '../procfs/auxv';
import { decodeWords } from '../ptrace/arch';
import { type X86VectorRegisters, type XsaveLayout, decodeVectorRegisters } from '../ptrace/arch/xsave';
import type { Siginfo } from '../ptrace/siginfo';
import { type BuildId, findBuildIds } from './build-id';
import { ElfType, NoteType, PType, machineName } from './elf';
import { CoreFormatError } from './errors';
import type { ElfHeader, ProgramHeader } from './header';
import { type ByteSource, CoreMemory } from './memory';
import type { Note } from './notes';
import { type MappedFile, type Prpsinfo, type Prstatus, decodeCoreSiginfo, decodeFileNote, decodePrpsinfo, decodePrstatus } from './note-payloads';
import { type CoreArch, coreArch } from './registers';
import { coreXsaveLayout } from './xsave-layout';

export interface CoreThread {
  tid: number;
  /** The signal in pr_cursig (what the thread was stopped or killed by). */
  signal: number;
  prstatus: Prstatus;
  /** General registers by name (rip, rsp, ... or x0..x30, sp, pc, pstate). */
  registers: Record<string, bigint>;
  /** NT_PRFPREG: FXSAVE image (x86_64) or user_fpsimd_state (aarch64). */
  fpRegisters?: Buffer;
  /** NT_X86_XSTATE: the XSAVE image, laid out as Core.xsaveLayout says. */
  xstate?: Buffer;
  /** xmm, ymm, zmm, k and pkru by name, decoded from xstate at the core's own offsets (x86_64 with XSAVE). */
  vectors?: X86VectorRegisters;
  /** Every register note after this thread's NT_PRSTATUS, by note type. */
  regsets: Map<number, Buffer>;
}

export interface CoreParts {
  header: ElfHeader;
  programHeaders: ProgramHeader[];
  notes: Note[];
  source: ByteSource;
  /** File offset of the program headers' start, for error messages. */
  phoff: number;
}

export class Core {
  readonly header: ElfHeader;
  readonly programHeaders: readonly ProgramHeader[];
  readonly notes: readonly Note[];
  readonly arch: CoreArch;
  readonly threads: CoreThread[] = [];
  readonly process: Prpsinfo | undefined;
  readonly siginfo: Siginfo | undefined;
  readonly auxv: Auxv | undefined;
  readonly files: MappedFile[];
  readonly memory: CoreMemory;
  /** Where the XSAVE components sit in this core's NT_X86_XSTATE notes (null: it has none). */
  readonly xsaveLayout: XsaveLayout | null;

  constructor(parts: CoreParts) {
    const { header, programHeaders, notes } = parts;
    if (header.type !== ElfType.CORE) throw new CoreFormatError(16, `e_type ${header.type} is not ET_CORE`);
    const arch = coreArch(header.machine);
    if (!arch) throw new CoreFormatError(18, `unsupported ${machineName(header.machine)} (hostkit reads x86_64 and aarch64 cores)`);
    this.header = header;
    this.programHeaders = programHeaders;
    this.notes = notes;
    this.arch = arch;

    let process: Prpsinfo | undefined;
    let siginfo: Siginfo | undefined;
    let auxv: Auxv | undefined;
    let files: MappedFile[] = [];
    let current: CoreThread | undefined;
    for (const note of notes) {
      // gdb and the kernel's readers key notes on the name too: a "GNU" or vendor note may reuse numbers.
      if (note.name !== 'CORE' && note.name !== 'LINUX') continue;
      if (note.name === 'CORE' && note.type === NoteType.PRSTATUS) {
        const prstatus = decodePrstatus(note.desc, arch, note.offset);
        current = {
          tid: prstatus.pid,
          signal: prstatus.cursig,
          prstatus,
          registers: decodeWords(arch.layout.gprNames, prstatus.registers),
          regsets: new Map(),
        };
        this.threads.push(current);
      } else if (note.name === 'CORE' && note.type === NoteType.PRPSINFO) {
        process = decodePrpsinfo(note.desc, note.offset);
      } else if (note.name === 'CORE' && note.type === NoteType.SIGINFO) {
        siginfo = decodeCoreSiginfo(note.desc, note.offset);
      } else if (note.name === 'CORE' && note.type === NoteType.AUXV) {
        auxv = parseAuxv(Buffer.from(note.desc));
      } else if (note.name === 'CORE' && note.type === NoteType.FILE) {
        files = decodeFileNote(note.desc, note.offset);
      } else if (current) {
        // A register note belongs to the last NT_PRSTATUS before it (as gdb reads cores).
        current.regsets.set(note.type, note.desc);
        if (note.type === NoteType.PRFPREG) current.fpRegisters = note.desc;
        if (note.type === NoteType.X86_XSTATE) current.xstate = note.desc;
      }
    }
    this.xsaveLayout = coreXsaveLayout(notes, this.threads.find((t) => t.xstate)?.xstate);
    for (const thread of this.threads) {
      if (thread.xstate && this.xsaveLayout) thread.vectors = decodeVectorRegisters(thread.xstate, this.xsaveLayout);
    }
    this.process = process;
    this.siginfo = siginfo;
    this.auxv = auxv;
    this.files = files;

    const segments = [];
    for (const [i, ph] of programHeaders.entries()) {
      if (ph.type !== PType.LOAD) continue;
      if (BigInt(ph.filesz) > ph.memsz) {
        throw new CoreFormatError(parts.phoff + i * 56 + 32, `PT_LOAD ${i} has p_filesz ${ph.filesz} > p_memsz ${ph.memsz}`);
      }
      segments.push({ vaddr: ph.vaddr, memsz: ph.memsz, fileOffset: ph.offset, filesz: ph.filesz, flags: ph.flags });
    }
    this.memory = new CoreMemory(segments, parts.source);
  }

  get pid(): number | undefined {
    return this.process?.pid ?? this.threads[0]?.prstatus.pid;
  }

  /** The thread that crashed (or, in a snapshot, the first one): the kernel writes it first. */
  get firstThread(): CoreThread | undefined {
    return this.threads[0];
  }

  /** Build-ids of the executable, libraries and vDSO whose ELF headers the core captured. */
  buildIds(): BuildId[] {
    return findBuildIds(this.memory, this.files, this.auxv?.get(AuxvType.AT_SYSINFO_EHDR));
  }
}
