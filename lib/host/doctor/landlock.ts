/** Landlock: the ABI version landlock_create_ruleset reports, or why there is none. */
import { landlockAbsence } from '../../forkexec/landlock-support';
import { addon } from '../../native';
import type { Finding } from './finding';

/** What each ABI added that hostkit uses or a user may ask about (Documentation/userspace-api/landlock.rst). */
const ABI_NOTES: Record<number, string> = {
  1: 'execute rules',
  2: 'refer',
  3: 'truncate',
  4: 'TCP bind/connect',
  5: 'ioctl on devices',
  6: 'scoped signals and abstract sockets',
  7: 'audit logging flags',
  8: 'TSYNC: restrict every thread at once',
};

export function probeLandlock(): Finding {
  let abi: number;
  try {
    abi = addon.landlockAbi();
  } catch (err) {
    const { why, fix } = landlockAbsence(err);
    const code = (err as NodeJS.ErrnoException).code ?? null;
    return {
      facility: 'Landlock',
      state: 'missing',
      detail: `${why} (landlock_create_ruleset: ${code})`,
      neededBy: 'forkexec launcher --exec-allow (exec only beneath given paths)',
      fix,
      facts: { abi: null, error: code },
    };
  }
  const tsync = abi >= 8;
  return {
    facility: 'Landlock',
    state: 'ok',
    detail: `ABI ${abi} (${ABI_NOTES[abi] ?? 'newer than hostkit knows'}); ${tsync ? 'TSYNC: a lock can restrict every thread' : "no TSYNC: only a single-threaded process (the launcher's child) can be restricted whole"}`,
    neededBy: 'forkexec launcher --exec-allow (exec only beneath given paths)',
    facts: { abi, tsync },
  };
}
