/**
 * Every task on the machine, from /proc: each thread of each process, and
 * the kernel's own threads, with its name and scheduler state (proc(5),
 * /proc/PID/task/TID/stat).
 */
import fs from 'node:fs';
import { stat } from '../../procfs';

export interface KernelTask {
  tid: number;
  /** The thread group (process) it belongs to. */
  pid: number;
  name: string;
  /** The state letter (R, S, D, T, t, Z, X, I, ...). */
  state: string;
  /** A kernel thread (PF_KTHREAD): no user space behind it. */
  kernelThread: boolean;
}

/** include/linux/sched.h */
const PF_KTHREAD = 0x00200000;

/** fs/proc/array.c, task_state_array. */
const STATE_NAMES: Record<string, string> = {
  R: 'running',
  S: 'sleeping',
  D: 'disk sleep',
  T: 'stopped',
  t: 'tracing stop',
  X: 'dead',
  Z: 'zombie',
  P: 'parked',
  I: 'idle',
};

export function stateName(state: string): string {
  return STATE_NAMES[state] ?? state;
}

const numeric = (names: string[]) =>
  names
    .filter((n) => /^\d+$/.test(n))
    .map(Number)
    .sort((a, b) => a - b);

/** Tasks that exist now, by tid; one that ends while being read is left out. */
export function listTasks(): KernelTask[] {
  const tasks: KernelTask[] = [];
  for (const pid of numeric(fs.readdirSync('/proc'))) {
    let tids: number[];
    try {
      tids = numeric(fs.readdirSync(`/proc/${pid}/task`));
    } catch {
      continue; // gone
    }
    for (const tid of tids) {
      try {
        const s = stat(pid, tid);
        tasks.push({ tid, pid, name: s.comm, state: s.state, kernelThread: (s.flags & PF_KTHREAD) !== 0 });
      } catch {
        // exited between the listing and the read
      }
    }
  }
  return tasks.sort((a, b) => a.tid - b.tid);
}
