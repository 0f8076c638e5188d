import { readProcText } from './read';

/** /proc/PID/status, with the fields hostkit uses typed and every field kept raw in `fields`. */
export interface Status {
  name: string;
  state: string;
  tgid: number;
  pid: number;
  ppid: number;
  tracerPid: number;
  /** real, effective, saved, filesystem */
  uid: [number, number, number, number];
  gid: [number, number, number, number];
  threads: number;
  /** kB, or undefined for a kernel thread or a zombie */
  vmRss?: number;
  /** 0 disabled, 1 strict, 2 filter */
  seccomp: number;
  seccompFilters: number;
  noNewPrivs: boolean;
  coreDumping: boolean;
  sigBlocked: bigint;
  sigIgnored: bigint;
  sigCaught: bigint;
  sigPending: bigint;
  shdPending: bigint;
  fields: Map<string, string>;
}

export function status(pid: number, tid?: number): Status {
  return parseStatus(readProcText(pid, 'status', tid));
}

/** Names in status are escaped by the kernel ("\n" as "\\n"), so one field per line holds. */
export function parseStatus(text: string): Status {
  const fields = new Map<string, string>();
  for (const line of text.split('\n')) {
    const colon = line.indexOf(':');
    if (colon > 0) fields.set(line.slice(0, colon), line.slice(colon + 1).trim());
  }
  const num = (key: string, fallback = 0) => (fields.has(key) ? Number.parseInt(fields.get(key)!, 10) : fallback);
  const quad = (key: string) => {
    const v = (fields.get(key) ?? '').split(/\s+/).map(Number);
    return [v[0] ?? 0, v[1] ?? 0, v[2] ?? 0, v[3] ?? 0] as [number, number, number, number];
  };
  const mask = (key: string) => BigInt(`0x${fields.get(key) ?? '0'}`);
  const vmRss = fields.get('VmRSS');
  return {
    name: unescapeName(fields.get('Name') ?? ''),
    state: (fields.get('State') ?? '?').charAt(0),
    tgid: num('Tgid'),
    pid: num('Pid'),
    ppid: num('PPid'),
    tracerPid: num('TracerPid'),
    uid: quad('Uid'),
    gid: quad('Gid'),
    threads: num('Threads', 1),
    ...(vmRss === undefined ? {} : { vmRss: Number.parseInt(vmRss, 10) }),
    seccomp: num('Seccomp'),
    seccompFilters: num('Seccomp_filters'),
    noNewPrivs: num('NoNewPrivs') === 1,
    coreDumping: num('CoreDumping') === 1,
    sigBlocked: mask('SigBlk'),
    sigIgnored: mask('SigIgn'),
    sigCaught: mask('SigCgt'),
    sigPending: mask('SigPnd'),
    shdPending: mask('ShdPnd'),
    fields,
  };
}

/** Undoes the kernel's escaping of Name (fs/proc/array.c: proc_task_name, "\n" and "\\"). */
function unescapeName(raw: string): string {
  return raw.replace(/\\(n|\\)/g, (_m, c: string) => (c === 'n' ? '\n' : '\\'));
}
