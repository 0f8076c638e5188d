/**
 * What the core and kernel targets share: they show a stopped world and can
 * change nothing in it. Writes and every resume or step are refused with a
 * TargetRefusal: gdb prints "Remote failure reply: E.<why>" for a resume, and
 * gdbsock logs the reason to its stderr, which gdb shows under --stdio.
 */
import { type RegisterLayout, x86_64Layout } from '../registers';
import { type Capabilities, type StopEvent, type Target, type ThreadInfo, TargetRefusal } from '../target';
import type { LibraryListStart } from './svr4';

export abstract class ReadOnlyTarget implements Target {
  /** The kernel target's AVX-only layout unless a subclass knows better (a core's own XSAVE layout). */
  constructor(readonly registers: RegisterLayout = x86_64Layout()) {}

  /** gdb detaches (D) rather than kills (vKill) on quit: nothing here can be killed. */
  readonly attached = true;
  abstract readonly pid: number;
  /** A subclass names what it serves beyond the core (its own files, registers it lacks). */
  abstract readonly capabilities: Capabilities;
  /** Names the target in refusals: "core file /tmp/core.123". */
  protected abstract readonly description: string;

  abstract threads(): ThreadInfo[];
  abstract isAlive(tid: number): boolean;
  abstract readRegisters(tid: number): Buffer;
  abstract readRegister(tid: number, regno: number): Buffer;
  abstract readMemory(address: bigint, length: number): Buffer | Promise<Buffer>;
  abstract lastStop(): StopEvent;
  abstract auxv(): Buffer | undefined;
  abstract execFile(): string | undefined;
  abstract siginfo(tid: number): Buffer | undefined;
  abstract librariesSvr4(from?: LibraryListStart): Promise<string | undefined>;
  /** Releases files; the CLI calls it when it stops serving. */
  abstract close(): void;

  protected refuse(what: string): never {
    throw new TargetRefusal(`${this.description} is read-only: ${what}`);
  }

  writeRegister(): void {
    this.refuse('registers cannot be changed');
  }

  writeRegisters(): void {
    this.refuse('registers cannot be changed');
  }

  writeMemory(): number {
    this.refuse('memory cannot be written');
  }

  /**
   * Accepted and forgotten, as gdb itself takes `break` on a core: they could
   * never be hit. Refusing here would make gdb print "Cannot access memory"
   * and drop our reason; the resume that follows is refused with it.
   */
  insertBreakpoint(): void {}

  removeBreakpoint(): void {}

  async resume(): Promise<void> {
    this.refuse('it cannot be resumed or stepped');
  }

  /** Never reached (resume refuses); the stop is the one it is in. */
  wait(): Promise<StopEvent> {
    return Promise.resolve(this.lastStop());
  }

  interrupt(): void {}

  writeSiginfo(): void {
    this.refuse('$_siginfo cannot be changed');
  }

  /** Detaching and killing leave the core or kernel as they are; the target stays open for the next connection. */
  async detach(): Promise<void> {}

  async kill(): Promise<void> {}

  /** Nothing here runs, so nothing is reported: the session's options change nothing. */
  useSession(): void {}
}
