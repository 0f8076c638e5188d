/**
 * The read-only targets the CLI can serve: `--core FILE|ID` and `0` (the
 * kernel). Opens the one the options ask for, with what the CLI prints about it.
 */
import path from 'node:path';
import { CoreFormatError } from '../../coredump/errors';
import { defaultSocketPath } from '../transport';
import { CoreTarget } from './core';
import { resolveCore } from './core-source';
import { KernelTarget } from './kernel';
import type { ReadOnlyTarget } from './read-only';

export interface ReadOnlyOptions {
  pid?: number;
  core?: string;
  exe?: string;
  store?: string;
  kcore?: string;
  kallsyms?: string;
}

export interface ReadOnlyServing {
  target: ReadOnlyTarget;
  /** "core file /tmp/core.123 (process 123)" */
  label: string;
  /** The default unix socket, beside the live targets' ones. */
  socketPath: string;
  /** Extra lines for the user (the kernel's add-symbol-file command). */
  hints: string[];
  close(): void;
}

const socketIn = (name: string) => path.join(path.dirname(defaultSocketPath(0)), name);

/** undefined when the options ask for a live process. */
export async function openReadOnly(options: ReadOnlyOptions): Promise<ReadOnlyServing | undefined> {
  if (options.core !== undefined) {
    const source = await resolveCore(options.core, options.store);
    let target: CoreTarget;
    try {
      const exe = options.exe ?? source.exe;
      target = CoreTarget.open(source.file, { name: source.name, ...(exe ? { exe } : {}) }, (warning) =>
        process.stderr.write(`gdbsock: warning: ${warning}\n`),
      );
    } catch (err) {
      source.cleanup();
      // Name the file: "bad core at offset 16" alone does not say which.
      if (err instanceof CoreFormatError) throw new Error(`${source.name}: ${err.message}`);
      throw err;
    }
    return {
      target,
      label: `core file ${source.name} (process ${target.pid})`,
      socketPath: socketIn(`core-${target.pid}.sock`),
      hints: [],
      close: () => {
        target.close();
        source.cleanup();
      },
    };
  }
  if (options.pid === 0) {
    const target = KernelTarget.open({ kcore: options.kcore, kallsyms: options.kallsyms });
    return {
      target,
      label: `the kernel (${target.kcorePath}, ${target.tasks} tasks)`,
      socketPath: socketIn('kernel.sock'),
      hints: [`gdb loads the symbols from ${target.kallsymsPath} by itself; or: add-symbol-file ${target.symbolFile}`],
      close: () => target.close(),
    };
  }
  return undefined;
}
