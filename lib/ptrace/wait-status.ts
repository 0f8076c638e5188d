import { PtraceEvent, STOP_SIGNALS, Signal } from './constants';

/** What one waitpid status says about a traced thread (ptrace(2), "Stopped states"). */
export type WaitStatus =
  | { kind: 'exited'; code: number }
  | { kind: 'killed'; signal: number; coreDumped: boolean }
  | { kind: 'signal-stop'; signal: number }
  | { kind: 'syscall-stop' }
  | { kind: 'group-stop'; signal: number }
  | { kind: 'interrupt-stop' }
  | { kind: 'event-stop'; event: 'fork' | 'vfork' | 'clone' | 'exec' | 'vfork-done' | 'exit' | 'seccomp' };

const EVENT_NAMES = {
  [PtraceEvent.FORK]: 'fork',
  [PtraceEvent.VFORK]: 'vfork',
  [PtraceEvent.CLONE]: 'clone',
  [PtraceEvent.EXEC]: 'exec',
  [PtraceEvent.VFORK_DONE]: 'vfork-done',
  [PtraceEvent.EXIT]: 'exit',
  [PtraceEvent.SECCOMP]: 'seccomp',
} as const;

export function decodeWaitStatus(status: number): WaitStatus {
  const low = status & 0x7f;
  if (low === 0) return { kind: 'exited', code: (status >> 8) & 0xff };
  if (low !== 0x7f) return { kind: 'killed', signal: low, coreDumped: (status & 0x80) !== 0 };
  const signal = (status >> 8) & 0xff;
  const event = (status >> 16) & 0xffff;
  // PTRACE_O_TRACESYSGOOD marks syscall stops with bit 7 of the signal.
  if (signal === (Signal.SIGTRAP | 0x80)) return { kind: 'syscall-stop' };
  if (event === 0) return { kind: 'signal-stop', signal };
  if (event === PtraceEvent.STOP) {
    return STOP_SIGNALS.has(signal) ? { kind: 'group-stop', signal } : { kind: 'interrupt-stop' };
  }
  const name = EVENT_NAMES[event as keyof typeof EVENT_NAMES];
  if (!name) throw new Error(`unknown ptrace event ${event} in wait status 0x${status.toString(16)}`);
  return { kind: 'event-stop', event: name };
}
