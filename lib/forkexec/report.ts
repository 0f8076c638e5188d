/** What a supervisor saw, as JS values: the attempt a 'report' lock refused. */
import type { SupervisorNote } from '../native';
import { archName, AuditArch, syscallName } from './syscalls';

export interface Attempt {
  /** 'execve', 'clone', 'i386 execve', 'x32 execve', ... */
  syscall: string;
  arch: string;
  nr: number;
  /** The process and the thread that made the call. */
  pid: number;
  tid: number;
  /** The raw arguments. */
  args: bigint[];
  /** exec family: the path and argv that were asked for (read after the fact; see native/forkexec_supervisor.c). */
  path?: string;
  argv?: string[];
  /** clone: its flags. */
  flags?: number;
  /** The path or argv did not fit or could not be read in full. */
  truncated: boolean;
  /** true only for the launcher's own initial exec. */
  allowed: boolean;
}

export function toAttempt(note: SupervisorNote): Attempt {
  const name = syscallName(note.arch, note.nr);
  const attempt: Attempt = {
    syscall: name,
    arch: archName(note.arch),
    nr: note.nr,
    pid: note.pid || note.tid,
    tid: note.tid,
    args: note.args,
    truncated: note.truncated,
    allowed: note.allowed,
  };
  if (note.path) attempt.path = note.path.toString('utf8');
  if (note.argv) {
    const text = note.argv.toString('utf8');
    attempt.argv = text === '' ? [] : text.replace(/\0$/, '').split('\0');
  }
  if (/(^|\s)clone$/.test(name)) {
    // i386 clone and native clone both carry the flags in the first argument.
    attempt.flags = Number(note.args[0]! & (note.arch === AuditArch.I386 ? 0xffffffffn : 0xffffffffffffn));
  }
  return attempt;
}
