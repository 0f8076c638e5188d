/**
 * One line of `hostkit doctor`: a kernel facility, what this host says of it,
 * which hostkit feature stands on it, and what to do when it falls short.
 */
import fs from 'node:fs';

/**
 * ok: works as hostkit needs. limited: works, with a restriction that some
 * uses meet. missing: absent or refused. info: a fact with no good or bad
 * (the CPU's XSAVE layout, a mitigation).
 */
export type State = 'ok' | 'limited' | 'missing' | 'info';

export interface Finding {
  /** Short name: 'ptrace', 'seccomp user notification', 'fs-verity /home'. */
  facility: string;
  state: State;
  /** What the probe saw, in words. */
  detail: string;
  /** The hostkit features that need it. */
  neededBy: string;
  /** What to do, when state is limited or missing. */
  fix?: string;
  /** The raw facts, for --json. */
  facts?: Record<string, unknown>;
}

/** A setting under /proc or /sys without its trailing newline, or undefined when it cannot be read. */
export function readSetting(path: string): string | undefined {
  try {
    return fs.readFileSync(path, 'utf8').replace(/\n$/, '');
  } catch {
    return undefined;
  }
}
