/**
 * What a tracepoint collects at a hit (GDB manual, "Tracepoint Actions"):
 * its actions run against the stopped thread, into one trace frame. An
 * action that fails (memory gone, bytecode we cannot run) ends the run with
 * an error, as gdbserver records it (tracepoint.cc, record_tracepoint_error).
 */
import { type AgentContext, type AgentVariables, evaluate, littleEndianValue } from '../agent';
import type { Target } from '../target';
import type { FrameBuilder } from './frames';
import type { TraceAction } from './packets';

/** A register's value as a number (the agent's `reg`, an M action's base). */
export function registerValue(target: Target, tid: number, regno: number): bigint {
  const bytes = target.readRegister(tid, regno);
  return littleEndianValue(bytes);
}

/** Memory for a collection or a condition, read now; throws if it cannot all be read. */
export function readExactly(target: Target, address: bigint, size: number): Buffer {
  const chunks: Buffer[] = [];
  // Reads up to 64 KiB are synchronous (Target.readMemory): a collection runs while the thread is stopped.
  for (let at = 0; at < size; at += 0x10000) {
    const want = Math.min(0x10000, size - at);
    const bytes = target.readMemory(address + BigInt(at), want);
    if (bytes instanceof Promise || bytes.length < want) throw new RangeError(`cannot read ${size} bytes at 0x${address.toString(16)}`);
    chunks.push(bytes);
  }
  return Buffer.concat(chunks);
}

/** An agent context reading `tid`'s registers and memory; with `frame`, its trace bytecodes collect into it. */
export function agentContext(target: Target, tid: number, variables: AgentVariables, frame?: FrameBuilder): AgentContext {
  return {
    register: (regno) => registerValue(target, tid, regno),
    memory: (address, size) => littleEndianValue(readExactly(target, address, size)),
    variables,
    collect: frame
      ? (address, size, untilNul) => {
          let bytes = readExactly(target, address, size);
          if (untilNul) {
            const nul = bytes.indexOf(0);
            if (nul >= 0) bytes = bytes.subarray(0, nul + 1);
          }
          frame.memory(address, bytes);
        }
      : undefined,
  };
}

/** Runs `actions` for `tid`'s hit into `frame`; the pc recorded is the tracepoint's address (the trap moved it past). */
export function collect(target: Target, tid: number, actions: readonly TraceAction[], frame: FrameBuilder, pc: bigint, variables: AgentVariables): void {
  for (const action of actions) {
    switch (action.type) {
      case 'registers': {
        const raw = target.readRegisters(tid);
        // The frame holds the pc the thread stopped at: the tracepoint's address for a hit (the live
        // target rewinds an int3's pc; a debug register traps before the instruction), where it
        // stepped to for while-stepping, as gdbserver records stop_pc. Copied once, by finish().
        if (raw.readBigUInt64LE(pcOffset(target)) !== pc) throw new RangeError(`registers at 0x${pc.toString(16)} show another pc`);
        frame.registers(raw);
        break;
      }
      case 'memory': {
        const base = action.baseRegister === undefined ? 0n : registerValue(target, tid, action.baseRegister);
        const address = BigInt.asUintN(64, base + action.offset);
        frame.memory(address, readExactly(target, address, action.length));
        break;
      }
      case 'expression':
        evaluate(action.code, agentContext(target, tid, variables, frame));
        break;
    }
  }
}

/** Where the pc is in a `g` block. */
export function pcOffset(target: Target): number {
  return target.registers.offsets[target.registers.pcRegno]!;
}
