/**
 * Which sinks take a crash, and why a crash is refused: the first rule that
 * matches decides (with no rules, every sink), then the per-executable rate,
 * the size cap and the dump mode. The same decision runs twice in socket
 * mode: on the kernel's request, before a byte of the core exists, with what
 * is known then (the executable, the uid; the signal only on kernels whose
 * pidfd reports it), and again once the core's headers gave its size and
 * signal. A decision that hangs on a fact not yet known says so instead of
 * guessing.
 */
import type { CoredConfig, RuleConfig, SinkConfig } from './config';
import { globMatcher } from './glob';

export interface CrashFacts {
  exe?: string;
  /** Unknown (undefined) before the headers in socket mode on kernels before 6.19. */
  signal?: number;
  uid: number;
  /** The core's size from its program headers: unknown before the headers. */
  size?: number;
  /** %d: 1 dumpable by its user, 2 only because fs.suid_dumpable is 2. */
  dumpMode?: number;
  /** Seconds since the epoch. */
  time?: number;
}

/** True when `exe` already had its quota of stored crashes in the rate window ending at `now` (asked only for crashes otherwise stored). */
export type RateCheck = (exe: string, now: number) => boolean;

export type Decision =
  | { kind: 'store'; sinks: SinkConfig[] }
  | { kind: 'refuse'; reason: string }
  /** Hangs on a fact not known yet (the signal or the size): ask again after the headers. */
  | { kind: 'later' };

/** True or false, or undefined when the answer needs a fact that is not known yet. */
export function ruleMatches(rule: RuleConfig, facts: CrashFacts): boolean | undefined {
  if (rule.exe && !(facts.exe !== undefined && rule.exe.some((g) => globMatcher(g)(facts.exe!)))) return false;
  if (rule.uid && !rule.uid.includes(facts.uid)) return false;
  let unknown = false;
  if (rule.signal) {
    if (facts.signal === undefined) unknown = true;
    else if (!rule.signal.includes(facts.signal)) return false;
  }
  if (rule.minSize !== undefined || rule.maxSize !== undefined) {
    if (facts.size === undefined) unknown = true;
    else if ((rule.minSize !== undefined && facts.size < rule.minSize) || (rule.maxSize !== undefined && facts.size > rule.maxSize)) return false;
  }
  return unknown ? undefined : true;
}

/**
 * The sinks for a crash, and the index of the rule that chose them (undefined:
 * no rules). With `final`, an unknown fact counts as no match (a core without
 * readable headers has no size); without, it makes the choice undecided.
 */
export function chooseSinks(config: CoredConfig, facts: CrashFacts, final?: true): { sinks: SinkConfig[]; rule?: number };
export function chooseSinks(config: CoredConfig, facts: CrashFacts, final: boolean): { sinks: SinkConfig[]; rule?: number } | undefined;
export function chooseSinks(config: CoredConfig, facts: CrashFacts, final = true): { sinks: SinkConfig[]; rule?: number } | undefined {
  if (config.rules.length === 0) return { sinks: config.sinks };
  for (let index = 0; index < config.rules.length; index++) {
    const match = ruleMatches(config.rules[index]!, facts);
    if (match === undefined && !final) return undefined;
    if (!match) continue;
    const names = new Set(config.rules[index]!.sinks);
    return { sinks: config.sinks.filter((s) => names.has(s.name)), rule: index };
  }
  return { sinks: [], rule: -1 };
}

/** The whole decision: size cap, rules, the dump mode's restriction, the quota, then the rate. */
export interface DecideOptions {
  rate?: RateCheck;
  /** Why the chosen sinks have no room (the quota), if they have none. */
  room?: (sinks: readonly SinkConfig[]) => string | undefined;
  /** After the headers: an unknown fact counts as no match rather than 'later'. */
  final: boolean;
}

export function decide(config: CoredConfig, facts: CrashFacts, options: DecideOptions): Decision {
  const limits = config.limits;
  if (limits.maxCoreSize !== undefined && limits.onOversize === 'skip') {
    if (facts.size === undefined && !options.final) return { kind: 'later' };
    if (facts.size !== undefined && facts.size > limits.maxCoreSize)
      return { kind: 'refuse', reason: `core of ${facts.size} bytes exceeds max_core_size ${limits.maxCoreSize}` };
  }
  const chosen = chooseSinks(config, facts, options.final);
  if (!chosen) return { kind: 'later' };
  if (chosen.rule !== undefined && chosen.sinks.length === 0)
    return { kind: 'refuse', reason: chosen.rule < 0 ? 'no rule matched' : `rule ${chosen.rule} ignores it` };
  // %d 2: dumped only because fs.suid_dumpable = 2; such a core may hold another user's secrets
  // (systemd CVE-2022-4415): only sinks marked `restricted` (root-only directories by default) get it.
  const allowed = facts.dumpMode === 1 ? chosen.sinks : chosen.sinks.filter((s) => s.restricted);
  if (allowed.length === 0) return { kind: 'refuse', reason: `dump mode ${facts.dumpMode}: no sink accepts restricted cores` };
  const full = options.room?.(allowed);
  if (full !== undefined) return { kind: 'refuse', reason: full };
  // Last, so a rate that counts what it lets through counts only crashes about to be stored.
  if (limits.ratePerExe !== undefined && options.rate && facts.exe !== undefined && options.rate(facts.exe, facts.time ?? Math.floor(Date.now() / 1000))) {
    return { kind: 'refuse', reason: `rate limit: ${limits.ratePerExe} crashes of this executable in ${limits.rateWindow} s` };
  }
  return { kind: 'store', sinks: allowed };
}
