/**
 * Turns "deny these families with this verdict" into a seccomp-bpf program.
 *
 * Shape (the order matters):
 *   1. arch: anything but the native arch (i386 through int 0x80, say) gets the
 *      foreign-arch verdict, since its numbers mean other syscalls.
 *   2. x32: native numbers with bit 30 set get the same verdict.
 *   3. clone3 answers ENOSYS when fork is denied: its flags live in a struct the
 *      filter cannot read, and ENOSYS makes glibc fall back to clone.
 *   4. clone is allowed only with CLONE_THREAD (threads, Workers); fork, vfork
 *      and clone without CLONE_THREAD (posix_spawn's CLONE_VM|CLONE_VFORK) get the verdict.
 *   5. exec and ptrace families by number; everything else is allowed.
 * io_uring_enter is never touched: libuv aborts when it fails.
 * Since Linux 5.11 the kernel caches ALLOW for syscalls whose verdict depends only
 * on (arch, nr), so every syscall but clone skips the filter entirely.
 */
import { Assembler, Ret, SeccompData } from './bpf';
import { archTable, CLONE_THREAD, X32_SYSCALL_BIT, type ArchTable } from './syscalls';

export type Verdict = { kind: 'allow' } | { kind: 'errno'; errno: number } | { kind: 'kill' } | { kind: 'trap' } | { kind: 'log' } | { kind: 'notify' };

export interface FilterSpec {
  fork?: Verdict;
  exec?: Verdict;
  ptrace?: Verdict;
  /** For foreign-arch and x32 syscalls. */
  foreignArch: Verdict;
}

const ENOSYS = 38;

export function verdictValue(v: Verdict): number {
  switch (v.kind) {
    case 'allow':
      return Ret.ALLOW;
    case 'errno':
      if (!Number.isInteger(v.errno) || v.errno < 1 || v.errno > 4095) throw new RangeError(`errno ${v.errno} out of range`);
      return (Ret.ERRNO | v.errno) >>> 0;
    case 'kill':
      return Ret.KILL_PROCESS;
    case 'trap':
      return Ret.TRAP;
    case 'log':
      return Ret.LOG;
    case 'notify':
      return Ret.USER_NOTIF;
  }
}

export function buildFilter(spec: FilterSpec, table: ArchTable = archTable()): Buffer {
  const a = new Assembler();
  a.load(SeccompData.arch).jeq(table.audit, 'next', 'foreign');
  a.load(SeccompData.nr);
  if (table.hasX32) a.jge(X32_SYSCALL_BIT, 'foreign');
  if (spec.fork) {
    a.jeq(table.clone3, 'enosys');
    a.jeq(table.clone, 'clone');
    for (const nr of table.fork) a.jeq(nr, 'fork');
  }
  if (spec.exec) for (const nr of table.exec) a.jeq(nr, 'exec');
  if (spec.ptrace) for (const nr of table.ptrace) a.jeq(nr, 'ptrace');
  a.ret(Ret.ALLOW);
  if (spec.fork) {
    a.label('clone').load(SeccompData.argLow(0)).jset(CLONE_THREAD, 'allow', 'fork');
    a.label('allow').ret(Ret.ALLOW);
    a.label('fork').ret(verdictValue(spec.fork));
    a.label('enosys').ret((Ret.ERRNO | ENOSYS) >>> 0);
  }
  if (spec.exec) a.label('exec').ret(verdictValue(spec.exec));
  if (spec.ptrace) a.label('ptrace').ret(verdictValue(spec.ptrace));
  a.label('foreign').ret(verdictValue(spec.foreignArch));
  return a.assemble();
}
