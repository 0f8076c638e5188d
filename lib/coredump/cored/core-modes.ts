/**
 * Which ways of receiving cores this kernel offers, from the kernel itself:
 * /proc/sys/kernel/core_modes (Linux 6.17+) lists them, and whether `@@`
 * (the request protocol) or only `@` is understood is learned by writing the
 * pattern (a 6.16 kernel refuses "@@/path" as a relative socket path). Never
 * from the version string.
 */
import fs from 'node:fs';
import { HostkitError } from '../../errors';

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

/** True when the listed modes include the coredump socket (spelt "socket", or a name ending in ".socket"). */
function hasSocket(modes: readonly string[]): boolean {
  return modes.some((m) => m === 'socket' || m.endsWith('.socket'));
}

/** The mode to install: the one asked for if the kernel has it (else an error before anything changes), or the best it has. */
export function chooseMode(requested: InstallMode | 'auto', kernel: { modes?: string[] } = { modes: kernelCoreModes() }): ModeChoice {
  const { modes } = kernel;
  const seen = modes ? `${CORE_MODES} reads "${modes.join(' ')}"` : `${CORE_MODES} does not exist (a kernel before 6.17)`;
  const socket = modes !== undefined && hasSocket(modes);
  if (requested === 'socket' && !socket) {
    throw new HostkitError('ERR_HOSTKIT_UNSUPPORTED', `socket mode needs the kernel's coredump socket (core_pattern "@@/path", Linux 6.17+): ${seen}`);
  }
  if (requested === 'pipe') return { mode: 'pipe', why: `asked for (--mode pipe); ${seen}` };
  if (socket) return { mode: 'socket', why: requested === 'socket' ? `asked for (--mode socket); ${seen}` : `${seen}: one resident daemon, no per-crash process, no core_pipe_limit` };
  return { mode: 'pipe', why: `${seen}: the pipe handler, with core_pipe_limit 0 so no core is skipped` };
}
