/** Which sinks take a crash: the first rule that matches decides; with no rules, every sink. */
import type { CoredConfig, RuleConfig, SinkConfig } from './config';
import { globMatcher } from './glob';

export interface CrashFacts {
  exe?: string;
  signal: number;
  uid: number;
  size?: number;
}

export function ruleMatches(rule: RuleConfig, facts: CrashFacts): boolean {
  if (rule.exe && !(facts.exe !== undefined && rule.exe.some((g) => globMatcher(g)(facts.exe!)))) return false;
  if (rule.signal && !rule.signal.includes(facts.signal)) return false;
  if (rule.uid && !rule.uid.includes(facts.uid)) return false;
  if (rule.minSize !== undefined && (facts.size === undefined || facts.size < rule.minSize)) return false;
  if (rule.maxSize !== undefined && (facts.size === undefined || facts.size > rule.maxSize)) return false;
  return true;
}

/** The sinks for a crash, and the index of the rule that chose them (undefined: no rules). */
export function chooseSinks(config: CoredConfig, facts: CrashFacts): { sinks: SinkConfig[]; rule?: number } {
  if (config.rules.length === 0) return { sinks: config.sinks };
  const index = config.rules.findIndex((r) => ruleMatches(r, facts));
  if (index < 0) return { sinks: [], rule: -1 };
  const names = new Set(config.rules[index]!.sinks);
  return { sinks: config.sinks.filter((s) => names.has(s.name)), rule: index };
}
