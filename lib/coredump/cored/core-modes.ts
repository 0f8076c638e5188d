/**
 * Which ways of receiving cores this kernel offers, from the kernel itself,
 * never from its version string: /proc/sys/kernel/core_modes (Linux 6.17+)
 * lists them; a 6.16 kernel, which has the plain `@` socket but no
 * core_modes, shows itself by answering PIDFD_GET_INFO's coredump question
 * (both came in 6.16). Whether `@@` (the request protocol) or only `@` is
 * understood is then learned by writing the pattern (6.16 refuses "@@/path"
 * as a relative socket path).
 */
import fs from 'node:fs';
import { HostkitError } from '../../errors';
import { libc } from '../../native';
import { PidfdInfoMask, pidfdInfo } from '../../procfs/pidfd';

export const CORE_MODES = '/proc/sys/kernel/core_modes';

export type InstallMode = 'pipe' | 'socket';

export interface ModeChoice {
  mode: InstallMode;
  /** Why, in words for `cored status`. */
  why: string;
}

/** The words of core_modes ("file pipe socket"), or undefined when the kernel has no such file. */
export function kernelCoreModes(file = CORE_MODES): string[] | undefined {
  try {
    return fs.readFileSync(file, 'utf8').split(/\s+/).filter(Boolean);
  } catch {
    return undefined;
  }
}

/** True when PIDFD_GET_INFO reports coredump information, which came with the coredump socket (6.16). */
export function pidfdKnowsCoredumps(): boolean {
  let fd: number | undefined;
  try {
    fd = libc().pidfdOpen(process.pid);
    return (pidfdInfo(fd).mask & PidfdInfoMask.COREDUMP) !== 0;
  } catch {
    return false; // no pidfd_open or no PIDFD_GET_INFO: older still
  } finally {
    if (fd !== undefined) fs.closeSync(fd);
  }
}

/** What the kernel says about itself, for chooseMode. */
export interface KernelCoreFacts {
  /** The words of core_modes, when the file exists. */
  modes?: string[];
  /** PIDFD_GET_INFO answers about coredumps (asked only when core_modes is missing). */
  pidfdCoredump?: boolean;
}

export function kernelCoreFacts(): KernelCoreFacts {
  const modes = kernelCoreModes();
  return modes ? { modes } : { pidfdCoredump: pidfdKnowsCoredumps() };
}

/** True when the listed modes include the coredump socket (spelt "socket", or a name ending in ".socket"). */
function hasSocket(modes: readonly string[]): boolean {
  return modes.some((m) => m === 'socket' || m.endsWith('.socket'));
}

/** The mode to install: the one asked for if the kernel has it (else an error before anything changes), or the best it has. */
export function chooseMode(requested: InstallMode | 'auto', kernel: KernelCoreFacts = kernelCoreFacts()): ModeChoice {
  const { modes } = kernel;
  const seen = modes
    ? `${CORE_MODES} reads "${modes.join(' ')}"`
    : kernel.pidfdCoredump
      ? `${CORE_MODES} does not exist but PIDFD_GET_INFO reports coredumps (Linux 6.16: the plain @ socket)`
      : `${CORE_MODES} does not exist and PIDFD_GET_INFO knows no coredumps (a kernel before 6.16)`;
  const socket = modes !== undefined ? hasSocket(modes) : kernel.pidfdCoredump === true;
  if (requested === 'socket' && !socket) {
    throw new HostkitError('ERR_HOSTKIT_UNSUPPORTED', `socket mode needs the kernel's coredump socket (core_pattern "@/path", Linux 6.16+): ${seen}`);
  }
  if (requested === 'pipe') return { mode: 'pipe', why: `asked for (--mode pipe); ${seen}` };
  if (socket)
    return {
      mode: 'socket',
      why: requested === 'socket' ? `asked for (--mode socket); ${seen}` : `${seen}: one resident daemon, no per-crash process, no core_pipe_limit`,
    };
  return { mode: 'pipe', why: `${seen}: the pipe handler, with core_pipe_limit 0 so no core is skipped` };
}
