/**
 * A loaded signatures file with its page table: what enforcement, checks
 * and the verifying mount look files up in. The page digests of a file are
 * trusted only once they give the root its signature line names (checked
 * the first time they are asked for, then kept).
 */
import fs from 'node:fs';
import { type PageRecord, pageTableFile, readPageTable, trustedPages } from './page-table';
import { type Entry, readSignatures } from './signatures';

export class VeriexecTable {
  private readonly checkedPages = new Map<string, Buffer | null>();

  private constructor(
    readonly file: string,
    private readonly entries: Map<string, Entry>,
    private readonly records: Map<string, PageRecord>,
  ) {}

  /** Reads FILE and, when it is there, FILE.pages. */
  static load(file: string): VeriexecTable {
    const entries = readSignatures(file);
    const pages = pageTableFile(file);
    const records = fs.existsSync(pages) ? readPageTable(pages) : new Map<string, PageRecord>();
    return new VeriexecTable(file, entries, records);
  }

  get size(): number {
    return this.entries.size;
  }

  get(path: string): Entry | undefined {
    return this.entries.get(path);
  }

  all(): IterableIterator<Entry> {
    return this.entries.values();
  }

  /** The page digests of a listed file, or undefined when the page table lacks them or they do not give its root. */
  pages(path: string): Buffer | undefined {
    const known = this.checkedPages.get(path);
    if (known !== undefined) return known ?? undefined;
    const entry = this.entries.get(path);
    const pages = entry ? trustedPages(entry, this.records.get(path)) : undefined;
    this.checkedPages.set(path, pages ?? null);
    return pages;
  }
}
