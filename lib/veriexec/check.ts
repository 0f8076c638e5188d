/**
 * `veriexec check`: the listed files on disk against their signatures,
 * offline. Each file is `ok`, `missing`, `size` (a different size, not read),
 * `mismatch` (its content differs), `unreadable`, or `pages` (the content is
 * right but the page table does not give its page root: `gen` again).
 */
import { type Fingerprint, fingerprintFile } from './fingerprint';
import type { VeriexecTable } from './table';

export type CheckStatus = 'ok' | 'missing' | 'size' | 'mismatch' | 'unreadable' | 'pages';

export interface CheckResult {
  path: string;
  status: CheckStatus;
  /** For a mismatch: the digest found; for unreadable or missing: the error code. */
  detail?: string;
}

export function checkFile(table: VeriexecTable, path: string): CheckResult {
  const entry = table.get(path);
  if (!entry) return { path, status: 'missing', detail: 'not in the table' };
  let found: Fingerprint;
  try {
    found = fingerprintFile(path, entry.algorithm);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    return { path, status: code === 'ENOENT' ? 'missing' : 'unreadable', detail: code ?? (err as Error).message };
  }
  if (found.size !== entry.size) return { path, status: 'size', detail: String(found.size) };
  if (found.digest !== entry.digest) return { path, status: 'mismatch', detail: found.digest };
  if (table.pages(path) === undefined) return { path, status: 'pages' };
  return { path, status: 'ok' };
}

export function checkAll(table: VeriexecTable): CheckResult[] {
  return [...table.all()].map((e) => checkFile(table, e.path));
}
