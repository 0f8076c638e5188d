/**
 * Delivering the signals gdb asks for. Only a signal-delivery or syscall stop
 * hands one on with the resume (ptrace(2), "Signal injection and
 * suppression"); at an interrupt or event stop, a Ctrl-C's for one, the
 * kernel drops it (kernel/signal.c: do_jobctl_trap and ptrace_do_notify ignore
 * what ptrace_stop returns). There it is sent with tgkill instead, and passed
 * on unreported when the thread stops for it.
 */
import { addon } from '../../../native';
import type { Thread, TraceEvent } from '../../../ptrace';
import { SIGINFO_SIZE } from '../../../ptrace/siginfo';

export const SIGINT = 2;
export const SIGSTOP = 19;

export class SignalInjection {
  /** Signals sent with tgkill, by thread, until the thread stops for them. */
  private readonly injected = new Map<number, number>();

  constructor(private readonly pid: number) {}

  /** The signal to resume `t` with when gdb asks to deliver `signal` (its `signal` command, or a signal it passes). */
  deliverable(t: Thread, signal: number): number {
    if (signal === 0 || takesSignal(t.lastEvent)) return signal;
    addon.tgkill(this.pid, t.tid, signal);
    this.injected.set(t.tid, signal);
    return 0;
  }

  /** `tid` stopped for `signal`: true (once) if it is one we sent for gdb. */
  take(tid: number, signal: number): boolean {
    if (this.injected.get(tid) !== signal) return false;
    this.injected.delete(tid);
    return true;
  }
}

/** Stops whose resume delivers the signal it is given: signal-delivery stops (SIGTRAP ones included) and syscall stops. */
const SIGNAL_STOPS = new Set<TraceEvent['type']>(['signal', 'step', 'breakpoint', 'removed-breakpoint', 'hardware-trap', 'syscall-entry', 'syscall-exit']);

function takesSignal(event: TraceEvent | undefined): boolean {
  return event !== undefined && SIGNAL_STOPS.has(event.type);
}

/**
 * The siginfo of a Ctrl-C stop, as if gdbsock had sent the SIGINT with kill(2)
 * (it stops the thread with PTRACE_INTERRUPT instead): what gdb shows with
 * gdbserver, which does send one. x86_64 layout: si_signo, si_errno, si_code
 * (SI_USER, 0), then si_pid and si_uid at offset 16 (asm-generic/siginfo.h).
 */
export function ctrlCSiginfo(): Buffer {
  const info = Buffer.alloc(SIGINFO_SIZE);
  info.writeInt32LE(SIGINT, 0);
  info.writeInt32LE(process.pid, 16);
  info.writeUInt32LE(process.getuid?.() ?? 0, 20);
  return info;
}
