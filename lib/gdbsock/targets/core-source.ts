/**
 * What `gdbsock --core X` means by X: a core file, or the id of a core that
 * cored stored (compressed or not; cored's own stored-core helpers turn it
 * into a plain file, as `cored gdb` does), through cored's public store API.
 */
import fs from 'node:fs';
import { CRASH_ID, type StoredCrashCore, installedStore, openStoredCore } from '../../coredump';
import { hasCode } from '../../errors';

export interface CoreSource {
  /** A plain core file. */
  file: string;
  /** How to call it in messages. */
  name: string;
  /** The program cored recorded for it, when it still exists. */
  exe?: string;
  /** Removes a temporary decompressed copy. */
  cleanup(): void;
}

export async function resolveCore(spec: string, store?: string): Promise<CoreSource> {
  if (fs.existsSync(spec) || !CRASH_ID.test(spec)) return { file: spec, name: spec, cleanup: () => undefined };
  const directory = store ?? installedStore();
  let stored: StoredCrashCore;
  try {
    stored = await openStoredCore(spec, directory);
  } catch (err) {
    if (hasCode(err, 'ERR_HOSTKIT_NO_STORE')) throw new Error(`no core file '${spec}', and no cored store to look for it in: ${(err as Error).message}`);
    if (hasCode(err, 'ERR_HOSTKIT_NO_CORE')) throw new Error(`no core file '${spec}', nor a stored core with that id in ${directory}`);
    throw err;
  }
  return { file: stored.file, name: `${spec} (${stored.stored})`, ...(stored.exe ? { exe: stored.exe } : {}), cleanup: stored.cleanup };
}
