/**
 * The kernel as a gdbsock Target (`gdbsock 0`), read-only: its memory from an
 * ELF kcore (/proc/kcore: PT_LOAD segments at kernel virtual addresses,
 * fs/proc/kcore.c), its symbols from kallsyms turned into a symbol file gdb
 * loads as the exec file, and every task in /proc as a thread, with its name
 * and state. A task's registers are not known from here: gdb shows them as
 * <unavailable>, except the pc, which gdb cannot do without (it stops setting
 * up the connection with "PC register is not available"): it reads as 0.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { type CoreFile, openCore } from '../../coredump';
import { CoreFormatError } from '../../coredump/errors';
import { SystemError, fromNodeError } from '../../errors';
import { parseKallsyms } from '../kernel/kallsyms';
import { buildSymbolFile } from '../kernel/symbol-file';
import { type KernelTask, listTasks, stateName } from '../kernel/tasks';
import type { Capabilities, OwnFiles, PartialRegisters, StopEvent, ThreadInfo } from '../target';
import { ReadOnlyTarget } from './read-only';
import { ServedFiles } from './served-files';

/**
 * The process id gdb sees. 0 means "any process" on the wire, so the kernel
 * takes PID_MAX_LIMIT (include/linux/threads.h, 2^22 on 64-bit), which no
 * real process can have.
 */
export const KERNEL_PID = 0x400000;

export interface KernelTargetOptions {
  /** Default /proc/kcore. */
  kcore?: string;
  /** Default /proc/kallsyms. */
  kallsyms?: string;
  /** The task list (tests); default: every task in /proc. */
  tasks?: () => KernelTask[];
}

const PAGE = 4096;

export class KernelTarget extends ReadOnlyTarget implements OwnFiles, PartialRegisters {
  readonly pid = KERNEL_PID;
  readonly capabilities: Capabilities = { hostIo: this, partialRegisters: this };
  protected readonly description = 'the kernel';
  readonly kcorePath: string;
  readonly kallsymsPath: string;
  /** The generated ELF symbol file (in a temporary directory, removed by close()). */
  readonly symbolFile: string;
  private readonly listTasks: () => KernelTask[];
  private current: KernelTask[];
  private readonly known = new Set<number>();
  private readonly stop: StopEvent;
  private readonly unknownRegisters: ReadonlySet<number>;
  private readonly served: ServedFiles;

  private constructor(
    private readonly kcore: CoreFile,
    kcorePath: string,
    kallsymsPath: string,
    symbolFile: string,
    tasks: () => KernelTask[],
  ) {
    super();
    this.kcorePath = kcorePath;
    this.kallsymsPath = kallsymsPath;
    this.symbolFile = symbolFile;
    this.listTasks = tasks;
    this.current = this.refresh();
    const first = this.current[0];
    if (!first) throw new Error('no tasks in /proc');
    this.stop = { kind: 'signal', tid: first.tid, signal: 0 };
    this.unknownRegisters = new Set(this.registers.registers.flatMap((_, i) => (i === this.registers.pcRegno ? [] : [i])));
    this.served = new ServedFiles([symbolFile]);
  }

  /**
   * Opens the kcore and kallsyms. A missing or unreadable file is a
   * SystemError naming its path and errno (this machine has no /proc/kcore,
   * for one: CONFIG_PROC_KCORE is off, or it needs CAP_SYS_RAWIO).
   */
  static open(options: KernelTargetOptions = {}): KernelTarget {
    const kcorePath = options.kcore ?? '/proc/kcore';
    const kallsymsPath = options.kallsyms ?? '/proc/kallsyms';
    let kcore: CoreFile;
    try {
      kcore = openCore(kcorePath, { allowTruncated: true });
    } catch (err) {
      if (err instanceof SystemError) throw explain(err, "the kernel's memory", '--kcore FILE');
      if (err instanceof CoreFormatError) throw new Error(`${kcorePath}: ${err.message}`);
      throw err;
    }
    let dir: string | undefined;
    try {
      let text: string;
      try {
        text = fs.readFileSync(kallsymsPath, 'utf8');
      } catch (err) {
        const error = fromNodeError(err, { path: kallsymsPath });
        throw error instanceof SystemError ? explain(error, "the kernel's symbols", '--kallsyms FILE') : error;
      }
      const symbols = parseKallsyms(text, kallsymsPath);
      dir = fs.mkdtempSync(path.join(os.tmpdir(), 'gdbsock-kernel-'));
      const symbolFile = path.join(dir, 'kallsyms.elf');
      fs.writeFileSync(symbolFile, buildSymbolFile(symbols), { mode: 0o600 });
      return new KernelTarget(kcore, kcorePath, kallsymsPath, symbolFile, options.tasks ?? listTasks);
    } catch (err) {
      kcore.close();
      if (dir) fs.rmSync(dir, { recursive: true, force: true });
      throw err;
    }
  }

  get tasks(): number {
    return this.current.length;
  }

  close(): void {
    this.kcore.close();
    fs.rmSync(path.dirname(this.symbolFile), { recursive: true, force: true });
  }

  private refresh(): KernelTask[] {
    this.current = this.listTasks();
    for (const t of this.current) this.known.add(t.tid);
    return this.current;
  }

  /** Read again at each ask (gdb's `info threads`), so new tasks show up. */
  threads(): ThreadInfo[] {
    return this.refresh().map((t) => ({
      tid: t.tid,
      name: t.name,
      extra: t.kernelThread ? `${stateName(t.state)}, kernel thread` : `${stateName(t.state)}, process ${t.pid}`,
    }));
  }

  /** A task seen once stays selectable: its registers were never known anyway. */
  isAlive(tid: number): boolean {
    return this.known.has(tid);
  }

  readRegisters(): Buffer {
    return Buffer.alloc(this.registers.gSize);
  }

  readRegister(_tid: number, regno: number): Buffer {
    const def = this.registers.registers[regno];
    if (!def) throw new RangeError(`no register ${regno}`);
    return Buffer.alloc(def.size);
  }

  unavailableRegisters(): ReadonlySet<number> {
    return this.unknownRegisters;
  }

  /** gdb fetches the symbol file (the exec file) through vFile; nothing else is served. */
  hostIo(packet: Buffer): Buffer | string | undefined {
    return this.served.handle(packet);
  }

  /**
   * From the kcore's segments, as far as they go without a gap. Reading
   * /proc/kcore fails (EFAULT, EIO) where nothing backs an address; then the
   * read goes page by page and stops at the first that fails.
   */
  readMemory(address: bigint, length: number): Buffer {
    const memory = this.kcore.memory;
    try {
      return memory.readAvailable(address, length);
    } catch {
      const parts: Buffer[] = [];
      let at = address;
      let remaining = length;
      while (remaining > 0) {
        const n = Math.min(remaining, PAGE - Number(at % BigInt(PAGE)));
        let got: Buffer;
        try {
          got = memory.readAvailable(at, n);
        } catch {
          break;
        }
        parts.push(got);
        if (got.length < n) break;
        remaining -= n;
        at += BigInt(n);
      }
      return Buffer.concat(parts);
    }
  }

  lastStop(): StopEvent {
    return this.stop;
  }

  auxv(): undefined {
    return undefined;
  }

  /** gdb loads the exec file's symbols by itself: the kallsyms symbol file. */
  execFile(): string {
    return this.symbolFile;
  }

  siginfo(): undefined {
    return undefined;
  }

  /** No shared libraries in the kernel. */
  async librariesSvr4(): Promise<string> {
    return '<library-list-svr4 version="1.0"/>';
  }
}

function explain(err: SystemError, what: string, option: string): Error {
  return Object.assign(new Error(`cannot read ${what}: ${err.message}; give another file with ${option}`), {
    code: err.code,
    errno: err.errno,
    path: err.path,
  });
}
