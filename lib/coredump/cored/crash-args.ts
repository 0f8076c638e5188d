/**
 * The arguments the kernel passes to a core_pattern pipe handler, in the
 * order `cored install` writes them (core(5), "Naming of core dump files"):
 * %P %I %s %t %u %g %d %c %e %F. Since Linux 5.3 the pattern is split into
 * argv before the specifiers are expanded, so %e stays one argument even when
 * the process named itself "a b; rm -rf /".
 */
import os from 'node:os';

export interface CrashArgs {
  /** %P: the crashing process's pid in the initial pid namespace. */
  pid: number;
  /** %I: the crashing thread's tid in the initial pid namespace. */
  tid: number;
  /** %s: the signal that caused the dump. */
  signal: number;
  /** %t: seconds since the epoch. */
  time: number;
  uid: number;
  gid: number;
  /** %d: 1 dumpable by its user, 2 dumped only because fs.suid_dumpable is 2 (keep it root-only). */
  dumpMode: number;
  /** %c: RLIMIT_CORE soft limit (2^64-1 for unlimited), as a decimal string. */
  rlimitCore: string;
  /** %e: the thread's comm; untrusted. */
  comm: string;
  /** %F: a pidfd for the crashing process (Linux 6.16+), when the pattern had it. */
  pidfd?: number;
}

/** The specifiers, in the order `handle` expects them. */
export const SPECIFIERS = ['%P', '%I', '%s', '%t', '%u', '%g', '%d', '%c', '%e', '%F'] as const;

function int(value: string | undefined, name: string, min = 0): number {
  if (value === undefined || !/^-?\d+$/.test(value)) throw new RangeError(`handle: ${name} must be an integer, got ${JSON.stringify(value)}`);
  const n = Number(value);
  if (!Number.isSafeInteger(n) || n < min) throw new RangeError(`handle: ${name} ${value} is out of range`);
  return n;
}

/** Parses the positional arguments after `handle` (the config option already removed). */
export function parseCrashArgs(argv: readonly string[]): CrashArgs {
  if (argv.length < 9 || argv.length > 10) {
    throw new RangeError(`handle: expected ${SPECIFIERS.join(' ')} (9 or 10 arguments), got ${argv.length}`);
  }
  const args: CrashArgs = {
    pid: int(argv[0], '%P pid', 1),
    tid: int(argv[1], '%I tid', 1),
    signal: int(argv[2], '%s signal', 0),
    time: int(argv[3], '%t time'),
    uid: int(argv[4], '%u uid'),
    gid: int(argv[5], '%g gid'),
    dumpMode: int(argv[6], '%d dump mode'),
    rlimitCore: /^\d+$/.test(argv[7]!) ? argv[7]! : String(int(argv[7], '%c core limit')),
    comm: argv[8]!,
  };
  if (argv.length === 10) args.pidfd = int(argv[9], '%F pidfd');
  return args;
}

/** Number to name; the first name wins where two share a number (SIGABRT, not SIGIOT). */
const SIGNAL_NAMES = new Map<number, string>();
for (const [name, n] of Object.entries(os.constants.signals)) if (!SIGNAL_NAMES.has(n)) SIGNAL_NAMES.set(n, name);

export function signalName(signo: number): string {
  return SIGNAL_NAMES.get(signo) ?? `SIG${signo}`;
}
