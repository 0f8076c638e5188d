/**
 * What cored learns about a crashing process from /proc while the kernel
 * holds it. Every read goes through one directory fd for /proc/PID, opened
 * once and then checked against the kernel's pidfd (%F): if the pidfd still
 * names PID after the open, the directory is the crashing process and not a
 * newcomer that reused its pid (systemd CVE-2025-4598, apport CVE-2025-5054).
 * Reads through that fd fail with ESRCH once the process is gone; they never
 * reach another process.
 */
import fs from 'node:fs';
import { parseStat } from '../../procfs/stat';
import { parseStatus } from '../../procfs/status';
import type { CrashArgs } from './crash-args';
import { globMatcher } from './glob';

export interface ProcessMetadata {
  /** True when the pidfd confirmed the /proc directory belongs to the crashing process. */
  pidVerified: boolean;
  /** Why /proc could not be trusted or read, when it could not. */
  procError?: string;
  exe?: string;
  cwd?: string;
  cmdline?: string[];
  /** KEY -> value, with redacted values replaced by "<redacted>"; absent for dump mode 2. */
  environ?: Record<string, string>;
  comm?: string;
  ppid?: number;
  /** Clock ticks after boot (with the pid, names the process uniquely). */
  startTime?: string;
  status?: Record<string, string>;
  limits?: string;
  cgroup?: string;
  maps?: string;
}

/** The pid a pidfd refers to, from its fdinfo (0 or -1 when the process is gone). */
export function pidOfPidfd(fd: number): number | undefined {
  try {
    const text = fs.readFileSync(`/proc/self/fdinfo/${fd}`, 'utf8');
    const m = /^Pid:\s*(-?\d+)$/m.exec(text);
    return m ? Number(m[1]) : undefined;
  } catch {
    return undefined;
  }
}

/** Confirms the pidfd (if any) still names `pid`. */
function pidfdNames(args: CrashArgs): boolean {
  if (args.pidfd === undefined) return false;
  return pidOfPidfd(args.pidfd) === args.pid;
}

export function collectMetadata(args: CrashArgs, redact: readonly string[]): ProcessMetadata {
  let dirfd: number;
  try {
    dirfd = fs.openSync(`/proc/${args.pid}`, fs.constants.O_RDONLY | fs.constants.O_DIRECTORY | fs.constants.O_NOFOLLOW);
  } catch (err) {
    return { pidVerified: false, procError: `open /proc/${args.pid}: ${(err as Error).message}` };
  }
  try {
    const verified = pidfdNames(args);
    if (args.pidfd !== undefined && !verified) {
      // The pid no longer names the process the kernel dumped: reading /proc would describe someone else.
      return { pidVerified: false, procError: `the pidfd no longer names pid ${args.pid}: not reading /proc (pid reuse)` };
    }
    const at = (name: string) => `/proc/self/fd/${dirfd}/${name}`;
    const text = (name: string) => tryRead(() => fs.readFileSync(at(name), 'utf8'));
    const meta: ProcessMetadata = { pidVerified: verified };
    meta.exe = tryRead(() => fs.readlinkSync(at('exe')));
    meta.cwd = tryRead(() => fs.readlinkSync(at('cwd')));
    const cmdline = tryRead(() => fs.readFileSync(at('cmdline')));
    if (cmdline) meta.cmdline = splitNul(cmdline);
    if (args.dumpMode === 1) {
      const environ = tryRead(() => fs.readFileSync(at('environ')));
      if (environ) meta.environ = redactEnviron(splitNul(environ), redact);
    }
    const stat = text('stat');
    if (stat) {
      try {
        const s = parseStat(stat); // takes the name between the first '(' and the last ')'
        meta.comm = s.comm;
        meta.ppid = s.ppid;
        meta.startTime = String(s.startTime);
      } catch {
        /* a malformed stat is left out */
      }
    }
    const status = text('status');
    if (status) meta.status = Object.fromEntries(parseStatus(status).fields);
    meta.limits = text('limits');
    meta.cgroup = text('cgroup');
    meta.maps = text('maps');
    return meta;
  } finally {
    fs.closeSync(dirfd);
  }
}

function tryRead<T>(read: () => T): T | undefined {
  try {
    return read();
  } catch {
    return undefined;
  }
}

function splitNul(buf: Buffer): string[] {
  const parts = buf.toString('utf8').split('\0');
  if (parts[parts.length - 1] === '') parts.pop();
  return parts;
}

/** Environment as an object; names matching a redaction glob (case-insensitive) keep their name, not their value. */
export function redactEnviron(entries: readonly string[], patterns: readonly string[]): Record<string, string> {
  const matchers = patterns.map((p) => globMatcher(p.toUpperCase(), { slash: false }));
  const out: Record<string, string> = Object.create(null);
  for (const entry of entries) {
    const eq = entry.indexOf('=');
    const name = eq < 0 ? entry : entry.slice(0, eq);
    const value = eq < 0 ? '' : entry.slice(eq + 1);
    out[name] = matchers.some((m) => m(name.toUpperCase())) ? '<redacted>' : value;
  }
  return out;
}
