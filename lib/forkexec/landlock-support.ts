/**
 * Whether this kernel has Landlock, and in words why not: the launcher's
 * exec allow-list refuses with this explanation, and `hostkit doctor`
 * reports the same.
 */
import { hasCode, SystemError } from '../errors';
import { addon } from '../native';

export interface LandlockAbsence {
  why: string;
  fix: string;
}

/** Why landlock_create_ruleset failed with `err`, and what to do. */
export function landlockAbsence(err: unknown): LandlockAbsence {
  if (hasCode(err, 'EOPNOTSUPP', 'ENOTSUP')) {
    return {
      why: 'Landlock is built into this kernel but not enabled (not in the lsm= list)',
      fix: 'add landlock to the lsm= kernel parameter (or CONFIG_LSM) and reboot',
    };
  }
  return { why: 'this kernel has no Landlock (landlock_create_ruleset is unknown)', fix: 'a kernel with CONFIG_SECURITY_LANDLOCK (5.13+)' };
}

/** The Landlock ABI; where there is none, the SystemError says why and what to do (its hint). */
export function landlockAbi(): number {
  try {
    return addon.landlockAbi();
  } catch (err) {
    if (!(err instanceof SystemError)) throw err;
    const { why, fix } = landlockAbsence(err);
    throw new SystemError(err.errno, err.syscall, { hint: `${why}: ${fix}` });
  }
}
