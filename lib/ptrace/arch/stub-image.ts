/**
 * What remote-stub.ts needs of an architecture's stub: its code, where to
 * enter it and where its traps leave the pc, and the layout of the mapping
 * (offsets the code has built in). Only x86-64 has one (x86_64-stub.ts);
 * aarch64's would sit beside it.
 */
import { x86_64Stub } from './x86_64-stub';

export interface StubLayout {
  /** The whole mapping: a code page, then data, results and the stub's own stack. */
  readonly size: number;
  /** The batch: its count of records, then the records (nr and six arguments, 8 bytes each). */
  readonly data: number;
  readonly records: number;
  readonly record: number;
  /** Free for the caller's own data (a timespec, a path). */
  readonly scratch: number;
  readonly scratchSize: number;
  /** The sigactions a fault-catching batch installs and saves. */
  readonly sigactions: number;
  /** One 8-byte result per record. */
  readonly results: number;
  /** What the fault handler records: signo, si_code, si_addr, err, trapno, ip. */
  readonly fault: number;
  /** Parked mode: the request counter we raise, and the one the stub answers with (32-bit futex words). */
  readonly request: number;
  readonly answer: number;
  /** How many records have run. */
  readonly done: number;
  readonly stackTop: number;
}

export interface StubImage {
  readonly code: Buffer;
  /** Offsets in the code page: a batch, the SIGSEGV/SIGBUS handler, its restorer, the parked loop. */
  readonly entry: { readonly batch: number; readonly handler: number; readonly restorer: number; readonly park: number };
  /** The pc after the trap that ends each. */
  readonly end: { readonly batch: number; readonly fault: number; readonly park: number };
  /** Record numbers the stub takes as "touch this address" (read a byte; read and write it back) instead of a system call. */
  readonly touch: { readonly read: number; readonly write: number };
  readonly layout: StubLayout;
}

/** The stub of an architecture, or undefined where there is none yet. */
export function stubImage(arch: string): StubImage | undefined {
  return arch === 'x86_64' ? x86_64Stub : undefined;
}
