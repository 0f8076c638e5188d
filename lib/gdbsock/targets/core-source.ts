/**
 * What `gdbsock --core X` means by X: a core file, or the id of a core that
 * cored stored (compressed or not; cored's own stored-core helpers turn it
 * into a plain file, as `cored gdb` does).
 */
import fs from 'node:fs';
import { defaultConfig, loadConfig } from '../../coredump/cored/config';
import { DEFAULT_STATE_DIR, readState } from '../../coredump/cored/kernel-pattern';
import { SafeDir } from '../../coredump/cored/safe-dir';
import { locateCore, plainCore, readRecord } from '../../coredump/cored/stored-core';

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

const CORE_ID = /^[A-Za-z0-9_.+-]+$/;

/** cored's store: the configured one (as installed), or cored's default. */
function configuredStore(): string {
  const state = readState(DEFAULT_STATE_DIR);
  return (state?.config ? loadConfig(state.config) : defaultConfig()).store.directory;
}

export async function resolveCore(spec: string, store?: string): Promise<CoreSource> {
  if (fs.existsSync(spec) || spec.includes('/') || !CORE_ID.test(spec) || spec.startsWith('.')) {
    return { file: spec, name: spec, cleanup: () => undefined };
  }
  const directory = store ?? configuredStore();
  let dir: SafeDir;
  try {
    dir = SafeDir.open(directory, false);
  } catch (err) {
    throw new Error(`no core file '${spec}', and no cored store to look for it in: ${(err as Error).message}`);
  }
  try {
    const located = locateCore(dir, spec);
    if (!located) throw new Error(`no core file '${spec}', nor a stored core with that id in ${directory}`);
    const record = readRecord(dir, spec);
    const plain = await plainCore(located);
    const exe = record?.exe && !record.exe.endsWith(' (deleted)') && fs.existsSync(record.exe) ? record.exe : undefined;
    return { file: plain.file, name: `${spec} (${located.file})`, ...(exe ? { exe } : {}), cleanup: plain.cleanup };
  } finally {
    dir.close();
  }
}
