/**
 * What the verifying filesystem asks of its caller: per file, a checker of
 * pages (the fingerprint table, lib/veriexec's business), and where refusals
 * are reported.
 */
import type { Stats } from 'node:fs';

export interface FilePages {
  /** Pages are this many bytes (4096). */
  readonly pageSize: number;
  /** Whether `data` (the whole page; shorter for the file's last page) is page `index` as fingerprinted. */
  check(index: number, data: Buffer): boolean;
}

export interface PageVerifier {
  /**
   * At OPEN (and for exec/mmap, which open too): the checker of this file
   * (path relative to the source, '/'-separated, no leading '/'), or a reason
   * string to refuse the open with EACCES (e.g. 'not in the table', 'size differs').
   */
  file(relPath: string, stat: Stats): FilePages | string;
}

export interface DeniedRecord {
  /** Relative to the source, as the verifier saw it: may hold any byte but '/' and NUL in a name (a newline, say). */
  path: string;
  /** The page refused, for a read; absent for a refused open. */
  page?: number;
  reason: string;
  /** The process whose request it was, as the kernel tells (0 or absent: unknown). */
  pid?: number;
}

export interface VerifyLog {
  denied(record: DeniedRecord): void;
}

/**
 * A log that writes one JSON object a line: a name with a newline or an
 * escape sequence in it stays inside its string, so one refusal is one line.
 */
export function jsonLinesLog(write: (line: string) => void): VerifyLog {
  return { denied: (record) => write(`${JSON.stringify({ event: 'denied', ...record })}\n`) };
}
