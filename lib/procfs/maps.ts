import { readProcText } from './read';

/** One line of /proc/PID/maps. */
export interface Mapping {
  start: bigint;
  end: bigint;
  /** 'r-xp', 'rw-s', ... */
  perms: string;
  readable: boolean;
  writable: boolean;
  executable: boolean;
  shared: boolean;
  offset: bigint;
  /** 'major:minor' in hex, as the kernel prints it. */
  dev: string;
  inode: number;
  /** The file, a special name ('[stack]', '[heap]', '[vdso]', '[anon:name]'), or '' for anonymous memory. */
  path: string;
  /** The file was unlinked after it was mapped (the kernel's " (deleted)" suffix, removed from `path`). */
  deleted: boolean;
  /** A bracketed kernel name such as [stack], [heap], [vdso], [vvar], [vsyscall]. */
  special: boolean;
}

const LINE = /^([0-9a-f]+)-([0-9a-f]+) ([r-][w-][x-][ps]) ([0-9a-f]+) ([0-9a-f]+:[0-9a-f]+) (\d+)(?: +(.*))?$/;
const DELETED = ' (deleted)';

/** The memory map of a process (or thread), parsed. */
export function maps(pid: number, tid?: number): Mapping[] {
  return parseMaps(readProcText(pid, 'maps', tid));
}

/**
 * Parses maps text. The kernel escapes a newline in a path as "\012"
 * (fs/proc/task_mmu.c, seq_file_path with "\n"), so lines split safely.
 */
export function parseMaps(text: string): Mapping[] {
  const result: Mapping[] = [];
  for (const line of text.split('\n')) {
    if (line === '') continue;
    const m = LINE.exec(line);
    if (!m) throw new Error(`unexpected line in maps: ${JSON.stringify(line)}`);
    let path = (m[7] ?? '').replace(/\\012/g, '\n');
    const deleted = path.startsWith('/') && path.endsWith(DELETED);
    if (deleted) path = path.slice(0, -DELETED.length);
    const perms = m[3]!;
    result.push({
      start: BigInt(`0x${m[1]}`),
      end: BigInt(`0x${m[2]}`),
      perms,
      readable: perms[0] === 'r',
      writable: perms[1] === 'w',
      executable: perms[2] === 'x',
      shared: perms[3] === 's',
      offset: BigInt(`0x${m[4]}`),
      dev: m[5]!,
      inode: Number(m[6]),
      path,
      deleted,
      special: path.startsWith('[') && path.endsWith(']'),
    });
  }
  return result;
}
