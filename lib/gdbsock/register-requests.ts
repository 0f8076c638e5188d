/**
 * The register packets (g, G, p, P) against a target: the server has picked
 * the thread; these read or write and spell the answer.
 */
import * as reply from './replies';
import { OK, type Reply } from './replies';
import type { Target } from './target';

/** g: every register; the ones the target does not know as 'xx'. */
export function readAll(t: Target, tid: number): Reply {
  // Read first: the read may find the thread's registers gone (killed from outside).
  const hex = reply.hex(t.readRegisters(tid));
  return reply.registers(hex, t.registers, t.capabilities.partialRegisters?.unavailableRegisters(tid));
}

/** g from a saved block (a trace frame's), with the registers it lacks. */
export function readAllSaved(t: Target, raw: Buffer, unavailable: ReadonlySet<number> | undefined): Reply {
  return reply.registers(reply.hex(raw), t.registers, unavailable);
}

/** p from a saved block. */
export function readOneSaved(t: Target, raw: Buffer, unavailable: ReadonlySet<number> | undefined, regno: number): Reply {
  const layout = t.registers;
  const def = layout.registers[regno];
  if (!def) return reply.NO_SUCH_REGISTER;
  if (unavailable?.has(regno)) return reply.unavailableRegister(def.size);
  const offset = layout.offsets[regno]!;
  return reply.hex(raw.subarray(offset, offset + def.size));
}

/** p: one register. */
export function readOne(t: Target, tid: number, regno: number): Reply {
  if (regno >= t.registers.registers.length) return reply.NO_SUCH_REGISTER;
  // Read first: the read may find the thread's registers gone (killed from outside).
  const value = t.readRegister(tid, regno);
  if (t.capabilities.partialRegisters?.unavailableRegisters(tid)?.has(regno)) return reply.unavailableRegister(t.registers.registers[regno]!.size);
  return reply.hex(value);
}

/** G: every register the data covers, in the layout's order, written together. */
export function writeAll(t: Target, tid: number, data: Buffer): Reply {
  t.writeRegisters(tid, data);
  return OK;
}

/** P: one register; a new pc also cancels the restart of an interrupted system call. */
export function writeOne(t: Target, tid: number, regno: number, value: Buffer): Reply {
  t.writeRegister(tid, regno, value);
  if (regno === t.registers.pcRegno) noSyscallRestart(t, tid);
  return OK;
}

const NO_SYSCALL = Buffer.alloc(8, 0xff);

/**
 * After a client moves a thread's pc: a thread stopped inside an interrupted
 * system call would otherwise have the kernel back its new pc up by the
 * syscall instruction and run the call again (arch/x86/kernel/signal.c).
 * orig_rax = -1 says there is no call to restart. gdb writes it itself
 * (amd64_linux_write_pc); LLDB does not, so its expressions, which set the pc
 * to the function called, crashed in a thread attached in pause().
 */
function noSyscallRestart(t: Target, tid: number): void {
  const regno = t.registers.registers.findIndex((r) => r.name === 'orig_rax');
  if (regno >= 0) t.writeRegister(tid, regno, NO_SYSCALL);
}
