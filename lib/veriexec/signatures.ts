/**
 * The signatures file: one line per file allowed, a person can read and diff
 * it, as NetBSD's veriexec(5) has it, with two fields added for per-page
 * checks:
 *
 *   PATH ALGORITHM FINGERPRINT FLAGS SIZE PAGE-ROOT
 *
 * PATH is absolute, with a space, tab, newline, backslash or other control
 * character written as \ooo (octal, as /proc/mounts does). FLAGS is a comma
 * list of NetBSD's: `direct` (may be executed), `indirect` (may be run as an
 * interpreter or the dynamic loader), `file` (may be opened and mapped: a
 * library, a script an interpreter reads), `untrusted` (on storage that may
 * change behind our back: its verdict is never cached). `#` starts a comment.
 */
import fs from 'node:fs';
import path from 'node:path';
import { HostkitError } from '../errors';
import { ALGORITHMS, type Algorithm, digestLength } from './fingerprint';

export type Flag = 'direct' | 'indirect' | 'file' | 'untrusted';
export const FLAGS: readonly Flag[] = ['direct', 'indirect', 'file', 'untrusted'];

export interface Entry {
  path: string;
  algorithm: Algorithm;
  /** Hex digest of the whole file. */
  digest: string;
  flags: ReadonlySet<Flag>;
  size: number;
  /** Hex root over the page digests (fingerprint.ts pageRoot). */
  pageRoot: string;
}

/** A signatures file that cannot be read as one: the file and line say where. */
export class SignaturesError extends HostkitError {
  constructor(
    message: string,
    readonly path: string,
    readonly line: number,
  ) {
    super('ERR_HOSTKIT_VERIEXEC_SIGNATURES', `${path}:${line}: ${message}`);
  }
}

export const HEADER = '# hostkit veriexec signatures: path algorithm fingerprint flags size page-root';

export function formatEntry(e: Entry): string {
  const flags = FLAGS.filter((f) => e.flags.has(f)).join(',');
  return `${escapePath(e.path)} ${e.algorithm} ${e.digest} ${flags} ${e.size} ${e.pageRoot}`;
}

export function formatSignatures(entries: Iterable<Entry>): string {
  const lines = [...entries].sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0)).map(formatEntry);
  return `${HEADER}\n${lines.join('\n')}${lines.length ? '\n' : ''}`;
}

/** Parses a signatures file's text; `source` names it in errors. */
export function parseSignatures(text: string, source: string): Map<string, Entry> {
  const entries = new Map<string, Entry>();
  const lines = text.split('\n');
  if (lines.at(-1) === '') lines.pop();
  else if (lines.length > 0) throw new SignaturesError('the file does not end with a newline: truncated?', source, lines.length);
  lines.forEach((raw, i) => {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) return;
    const entry = parseLine(line, source, i + 1);
    if (entries.has(entry.path)) throw new SignaturesError(`${JSON.stringify(entry.path)} is listed twice`, source, i + 1);
    entries.set(entry.path, entry);
  });
  return entries;
}

export function readSignatures(file: string): Map<string, Entry> {
  return parseSignatures(fs.readFileSync(file, 'utf8'), file);
}

function parseLine(line: string, source: string, n: number): Entry {
  const fields = line.split(/[ \t]+/);
  const fail = (why: string) => new SignaturesError(why, source, n);
  if (fields.length !== 6) throw fail(`expected 6 fields (path algorithm fingerprint flags size page-root), found ${fields.length}`);
  const [rawPath, algorithm, digest, flagList, size, root] = fields as [string, string, string, string, string, string];
  const file = unescapePath(rawPath, fail);
  if (!path.isAbsolute(file) || path.normalize(file) !== file) throw fail(`${JSON.stringify(file)} is not an absolute, normal path`);
  if (!ALGORITHMS.includes(algorithm as Algorithm)) throw fail(`unknown algorithm ${JSON.stringify(algorithm)} (${ALGORITHMS.join(', ')})`);
  const hex = new RegExp(`^[0-9a-f]{${digestLength(algorithm as Algorithm) * 2}}$`);
  if (!hex.test(digest)) throw fail(`the fingerprint is not ${digestLength(algorithm as Algorithm) * 2} hex digits`);
  if (!hex.test(root)) throw fail(`the page root is not ${digestLength(algorithm as Algorithm) * 2} hex digits`);
  const flags = new Set<Flag>();
  for (const f of flagList.split(',')) {
    if (!FLAGS.includes(f as Flag)) throw fail(`unknown flag ${JSON.stringify(f)} (${FLAGS.join(', ')})`);
    flags.add(f as Flag);
  }
  if (!/^\d{1,15}$/.test(size)) throw fail(`the size ${JSON.stringify(size)} is not a number of bytes`);
  return { path: file, algorithm: algorithm as Algorithm, digest, flags, size: Number(size), pageRoot: root };
}

/** Space, tab, newline, backslash and other control characters as \ooo. */
export function escapePath(p: string): string {
  let out = '';
  for (const c of p) {
    const code = c.charCodeAt(0);
    out += code <= 0x20 || code === 0x7f || c === '\\' ? `\\${code.toString(8).padStart(3, '0')}` : c;
  }
  return out;
}

function unescapePath(field: string, fail: (why: string) => Error): string {
  return field.replace(/\\(.{0,3})/g, (_, digits: string) => {
    if (!/^[0-7]{3}$/.test(digits)) throw fail(`bad escape \\${digits} in the path (write \\ooo, octal)`);
    return String.fromCharCode(Number.parseInt(digits, 8));
  });
}
