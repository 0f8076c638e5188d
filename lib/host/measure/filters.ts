/**
 * The seccomp filters the measurements run under: allow-all (the bare cost
 * of having a filter), forkexec's own lock (fork and exec refused), and
 * getppid sent to SECCOMP_RET_TRAP or SECCOMP_RET_USER_NOTIF.
 */
import { Assembler, Ret, SeccompData } from '../../forkexec/bpf';
import { buildFilter } from '../../forkexec/filter';
import { filterSpec, parseOptions } from '../../forkexec/options';
import { archTable } from '../../forkexec/syscalls';

/** getppid, the call every syscall measurement makes (as `perf bench syscall basic`). */
const GETPPID: Record<string, number> = { x86_64: 110, aarch64: 173 };

export function getppidNumber(): number {
  const nr = GETPPID[archTable().name];
  if (nr === undefined) throw new RangeError(`no getppid number for ${archTable().name}`);
  return nr;
}

export function allowAll(): Buffer {
  return new Assembler().ret(Ret.ALLOW).assemble();
}

/** The filter `lock({ fork: true, exec: true })` installs. */
export function forkexecLock(): Buffer {
  return buildFilter(filterSpec(parseOptions({ fork: true, exec: true })));
}

/** getppid of this architecture gets `ret`; everything else is allowed. */
export function getppidTo(ret: number): Buffer {
  const { audit } = archTable();
  return new Assembler()
    .load(SeccompData.arch)
    .jeq(audit, 'next', 'allow')
    .load(SeccompData.nr)
    .jeq(getppidNumber(), 'hit', 'allow')
    .label('hit')
    .ret(ret)
    .label('allow')
    .ret(Ret.ALLOW)
    .assemble();
}

export const trapGetppid = (): Buffer => getppidTo(Ret.TRAP);
export const notifyGetppid = (): Buffer => getppidTo(Ret.USER_NOTIF);
