/**
 * Whether this host's debug registers fire. The kernel takes DR0..DR7 through
 * PTRACE_POKEUSER on every x86-64 machine, but some hypervisors never raise the
 * #DB they ask for (the PVM guests seen here): a watchpoint or a hardware
 * breakpoint is then accepted and never stops anything, silently, through
 * gdbserver and native gdb alike. The answer comes from a child of ours that
 * stores to a watched word and calls a watched function (native/probe.c), once
 * per process.
 */
import { errnoCode } from '../errors';
import { addon } from '../native';

export interface DebugRegisterProbe {
  /** Both a data watch and an instruction breakpoint stopped the child. */
  fire: boolean;
  /** Why not, when they do not: for a warning or `hostkit doctor`. */
  why?: string;
}

let answer: DebugRegisterProbe | undefined;

export function probeDebugRegisters(): DebugRegisterProbe {
  if (answer) return answer;
  const { rc, syscall } = addon.probeDebugRegisters();
  if (rc === 1) answer = { fire: true };
  else if (rc === 0) answer = { fire: false, why: 'the CPU takes them, but a tracee ran past a watched store and a watched call without a trap' };
  else answer = { fire: false, why: `they could not be tried (${syscall}: ${errnoCode(rc)})` };
  return answer;
}
