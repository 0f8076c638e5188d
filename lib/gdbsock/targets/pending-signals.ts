/**
 * Signals a stopped thread has pending, for two things its stop does not say.
 *
 * A queued step trap: a single-step that enters a system call ends with a
 * SIGTRAP the kernel queues as the call returns (kernel/entry/common.c,
 * syscall_exit_work -> arch/x86/kernel/step.c, user_single_step_report). When the call blocks (a
 * read of an empty pipe) and the thread is interrupted there (PTRACE_INTERRUPT:
 * Ctrl-C, or all-stop stopping it for another thread's event), the call returns
 * -ERESTARTSYS, the trap is queued, and the interrupt stop comes first
 * (kernel/signal.c, get_signal: job-control traps before dequeuing). The trap
 * stays queued: delivered at the next resume, it is a SIGTRAP gdb never asked
 * for; after a detach, nothing catches it and it kills the process. The same
 * holds for the trap of a breakpoint or a debug register hit just as the
 * interrupt came (gdb.threads/schedlock.exp met it: the breakpoint deleted
 * meanwhile, the trap arrived as a bare SIGTRAP).
 *
 * A SIGKILL from outside: it ends a thread's ptrace stop, so a thread gdb saw
 * stopped may be dying, or gone, when gdb resumes it.
 */
import { addon } from '../../native';
import { stat, status } from '../../procfs';
import { SIGTRAP } from '../signals';

/**
 * True when `tid` has a SIGTRAP pending on its own queue and unblocked, so the
 * kernel will deliver it (a signal-delivery stop) before the thread runs any
 * more of its code. Asked of ptrace (its queue, its mask), not of /proc:
 * this runs at every interrupt stop, and the first read of a thread's status
 * after it stopped took 40-110 us (later ones 12), against 2-4 us.
 */
export function trapQueued(tid: number): boolean {
  try {
    return addon.signalWaiting(tid, SIGTRAP);
  } catch {
    return false; // gone: nothing will be delivered
  }
}

const SIGKILL_BIT = 1n << 8n; // signal 9
/** PF_EXITING in /proc's task flags (include/linux/sched.h): set as do_exit starts. */
const PF_EXITING = 0x4;

/**
 * True when `tid` is on its way out of a SIGKILL sent from outside: the kill
 * is queued to every thread of the group (kernel/signal.c, complete_signal),
 * which ptrace can no longer stop; a thread that has taken it off its queue
 * is exiting (kernel/exit.c, do_exit), then a zombie, then gone.
 */
export function killedMeanwhile(pid: number, tid: number): boolean {
  try {
    const s = status(pid, tid);
    if (s.state === 'Z' || s.state === 'X' || (s.sigPending & SIGKILL_BIT) !== 0n) return true;
    return (stat(pid, tid).flags & PF_EXITING) !== 0;
  } catch {
    return true;
  }
}
