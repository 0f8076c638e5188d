/**
 * The verifying mount's view of a signatures table: a file under the source
 * is served only if the table lists it (by its path under the source) with
 * the size it has and a page table that gives its root; each page the kernel
 * loads must then have the digest the page table holds for it.
 */
import type { Stats } from 'node:fs';
import path from 'node:path';
import { digestLength, hashPage, PAGE_SIZE } from './fingerprint';
import type { FilePages, PageVerifier } from './fuse';
import type { VeriexecTable } from './table';

export interface PageVerifierOptions {
  /**
   * 'deny' (default): a file the table does not list cannot be opened.
   * 'read': it is served unverified (data files a listed program reads).
   */
  unlisted?: 'deny' | 'read';
}

const UNVERIFIED: FilePages = { pageSize: PAGE_SIZE, check: () => true };

/** `source` must be the directory the table's paths were generated under (resolved, as gen resolves it). */
export function tablePageVerifier(table: VeriexecTable, source: string, options: PageVerifierOptions = {}): PageVerifier {
  return {
    file(relPath: string, stat: Stats): FilePages | string {
      const full = path.join(source, relPath);
      const entry = table.get(full);
      if (!entry) return options.unlisted === 'read' ? UNVERIFIED : 'not in the table';
      if (stat.size !== entry.size) return `size ${stat.size} differs from the table's ${entry.size}`;
      const pages = table.pages(full);
      if (!pages) return 'its page digests are missing or do not give the root its line names';
      const length = digestLength(entry.algorithm);
      return {
        pageSize: PAGE_SIZE,
        check(index: number, data: Buffer): boolean {
          const at = index * length;
          if (at + length > pages.length) return false;
          return hashPage(data, entry.algorithm).equals(pages.subarray(at, at + length));
        },
      };
    },
  };
}
