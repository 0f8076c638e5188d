/** Watching cored's store from the tests: the index as it grows, and polling until something shows up. */
import { SafeDir } from '../../lib/coredump/cored/safe-dir';
import { type IndexEntry, readIndex } from '../../lib/coredump/cored/store';

/** Polls until `probe` returns a value: cored releases the crashing process before its sinks finish. */
export async function waitFor<T>(what: string, probe: () => T | undefined, ms = 60_000): Promise<T> {
  const until = Date.now() + ms;
  for (;;) {
    const value = probe();
    if (value !== undefined) return value;
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** The store's index lines so far (none when the store does not exist yet). */
export function readEntries(store: string): IndexEntry[] {
  let dir: SafeDir;
  try {
    dir = SafeDir.open(store, false);
  } catch {
    return [];
  }
  try {
    return readIndex(dir);
  } finally {
    dir.close();
  }
}
