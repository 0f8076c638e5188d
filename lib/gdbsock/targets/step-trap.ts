/**
 * A single-step that enters a system call ends with a SIGTRAP the kernel
 * queues as the call returns (kernel/entry/common.c, syscall_exit_work ->
 * arch/x86/kernel/step.c, user_single_step_report). When the call blocks (a
 * read of an empty pipe) and the thread is interrupted there (PTRACE_INTERRUPT:
 * Ctrl-C, or all-stop stopping it for another thread's event), the call returns
 * -ERESTARTSYS, the trap is queued, and the interrupt stop comes first
 * (kernel/signal.c, get_signal: job-control traps before dequeuing). The trap
 * stays queued: delivered at the next resume, it is a SIGTRAP gdb never asked
 * for; after a detach, nothing catches it and it kills the process.
 */
import { status } from '../../procfs';

const SIGTRAP_BIT = 1n << 4n; // signal 5: bit 4 of /proc's signal masks

/**
 * True when `tid` has a SIGTRAP pending on its own queue and unblocked, so the
 * kernel will deliver it (a signal-delivery stop) before the thread runs any
 * more of its code. SigPnd in /proc/PID/task/TID/status is the thread's
 * private queue, SigBlk its mask (fs/proc/array.c, task_sig).
 */
export function stepTrapQueued(pid: number, tid: number): boolean {
  try {
    const s = status(pid, tid);
    return (s.sigPending & ~s.sigBlocked & SIGTRAP_BIT) !== 0n;
  } catch {
    return false; // gone: nothing will be delivered
  }
}
