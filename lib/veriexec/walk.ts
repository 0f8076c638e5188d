/**
 * The regular files beneath some directories, for `veriexec gen`: symlinks
 * are not followed (the file they name is listed where it lives), and the
 * kernel's pseudo filesystems (/proc, /sys, /dev ...) are not entered.
 */
import fs from 'node:fs';
import path from 'node:path';
import { mounts } from '../procfs';

const PSEUDO = new Set([
  'proc',
  'sysfs',
  'devtmpfs',
  'devpts',
  'cgroup',
  'cgroup2',
  'securityfs',
  'debugfs',
  'tracefs',
  'bpf',
  'pstore',
  'configfs',
  'fusectl',
  'mqueue',
  'hugetlbfs',
  'autofs',
  'binfmt_misc',
  'efivarfs',
  'nsfs',
]);

/** Mount points of pseudo filesystems. */
export function pseudoMounts(): Set<string> {
  return new Set(
    mounts()
      .filter((m) => PSEUDO.has(m.type))
      .map((m) => m.mountPoint),
  );
}

export interface WalkProblem {
  path: string;
  code?: string;
  message: string;
}

/** Every regular file beneath `roots` (absolute paths, each once, sorted per directory). */
export function walk(roots: readonly string[], problems: WalkProblem[]): string[] {
  const skip = pseudoMounts();
  const seen = new Set<string>();
  const files: string[] = [];
  const stack = roots.map((r) => fs.realpathSync(path.resolve(r))).reverse();
  while (stack.length > 0) {
    const dir = stack.pop()!;
    if (seen.has(dir) || skip.has(dir)) continue;
    seen.add(dir);
    let st: fs.Stats;
    try {
      st = fs.lstatSync(dir);
    } catch (err) {
      problems.push({ path: dir, code: (err as NodeJS.ErrnoException).code, message: (err as Error).message });
      continue;
    }
    if (st.isFile()) {
      files.push(dir);
      continue;
    }
    if (!st.isDirectory()) continue;
    let names: fs.Dirent[];
    try {
      names = fs.readdirSync(dir, { withFileTypes: true });
    } catch (err) {
      problems.push({ path: dir, code: (err as NodeJS.ErrnoException).code, message: (err as Error).message });
      continue;
    }
    names.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    const subdirs: string[] = [];
    for (const d of names) {
      const full = path.join(dir, d.name);
      if (d.isFile()) files.push(full);
      else if (d.isDirectory()) subdirs.push(full);
    }
    stack.push(...subdirs.reverse());
  }
  return files;
}
