/**
 * cored's store as other programs see it: a stored crash by id, as a plain
 * core file (decompressed to a temporary file when stored compressed) with
 * the executable cored recorded. gdbsock's `--core ID` and `cored gdb` both
 * go through here rather than through the store's internals.
 */
import fs from 'node:fs';
import { HostkitError } from '../../errors';
import { defaultConfig, loadConfig } from './config';
import { DEFAULT_STATE_DIR, readState } from './kernel-pattern';
import { SafeDir } from './safe-dir';
import { locateCore, plainCore, readRecord } from './stored-core';

/** What a crash id looks like (crashId in store.ts): never a path. */
export const CRASH_ID = /^[A-Za-z0-9_+-][A-Za-z0-9_.+-]*$/;

export interface StoredCrashCore {
  /** A plain core file. */
  file: string;
  /** The stored file it came from. */
  stored: string;
  /** The program cored recorded, when it still exists under that path. */
  exe?: string;
  /** Removes a temporary decompressed copy. */
  cleanup(): void;
}

/** The store cored was installed with (its config's), or cored's default. */
export function installedStore(stateDir = DEFAULT_STATE_DIR): string {
  const state = readState(stateDir);
  return (state?.config ? loadConfig(state.config) : defaultConfig()).store.directory;
}

/** The crash `id` from `store` (default: the installed one) as a plain core; ERR_HOSTKIT_NO_STORE or ERR_HOSTKIT_NO_CORE when there is none. */
export async function openStoredCore(id: string, store = installedStore()): Promise<StoredCrashCore> {
  if (!CRASH_ID.test(id)) throw new HostkitError('ERR_HOSTKIT_NO_CORE', `${JSON.stringify(id)} is not a crash id`);
  let dir: SafeDir;
  try {
    dir = SafeDir.open(store, false);
  } catch (err) {
    throw new HostkitError('ERR_HOSTKIT_NO_STORE', `no cored store at ${store}: ${(err as Error).message}`);
  }
  try {
    const located = locateCore(dir, id);
    if (!located) throw new HostkitError('ERR_HOSTKIT_NO_CORE', `no stored core with id ${id} in ${store}`);
    const record = readRecord(dir, id);
    const plain = await plainCore(located);
    const exe = record?.exe && !record.exe.endsWith(' (deleted)') && fs.existsSync(record.exe) ? record.exe : undefined;
    return { file: plain.file, stored: located.file, ...(exe ? { exe } : {}), cleanup: plain.cleanup };
  } finally {
    dir.close();
  }
}
