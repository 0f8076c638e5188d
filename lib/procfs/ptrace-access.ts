/**
 * Who may ptrace whom on this host, from what the kernel publishes: Yama's
 * ptrace_scope (Documentation/admin-guide/LSM/Yama.rst), our effective
 * capabilities (CapEff) and a target's TracerPid. `hostkit doctor` reports
 * these facts; the bridge uses the same ones to explain a refused attach.
 */
import fs from 'node:fs';

export const YAMA_SCOPE = '/proc/sys/kernel/yama/ptrace_scope';

/** linux/capability.h bit numbers of the capabilities hostkit's facilities ask for. */
export const Capability = { SYS_RAWIO: 17, SYS_PTRACE: 19, SYS_ADMIN: 21 } as const;

const SCOPE_WORDS = [
  'classic: any process of the same uid',
  'restricted: only descendants (or processes that allowed it with PR_SET_PTRACER)',
  'admin-only: only with CAP_SYS_PTRACE',
  'no attach: ptrace is off until reboot',
];

/** Yama's scope 0-3, or undefined where Yama is not built in. */
export function yamaScope(file = YAMA_SCOPE): number | undefined {
  try {
    const n = Number.parseInt(fs.readFileSync(file, 'utf8'), 10);
    return Number.isInteger(n) ? n : undefined;
  } catch {
    return undefined;
  }
}

export function describeScope(scope: number | undefined): string {
  return scope === undefined
    ? 'Yama is not in this kernel (classic rules: same uid, or CAP_SYS_PTRACE)'
    : `Yama ptrace_scope ${scope} (${SCOPE_WORDS[scope] ?? 'unknown'})`;
}

export function effectiveCapabilities(status = '/proc/self/status'): bigint {
  const m = /^CapEff:\s*([0-9a-f]+)/m.exec(fs.readFileSync(status, 'utf8'));
  return m ? BigInt(`0x${m[1]}`) : 0n;
}

export function hasCapability(bit: number): boolean {
  return ((effectiveCapabilities() >> BigInt(bit)) & 1n) === 1n;
}

export type AttachReach = 'any' | 'same uid' | 'descendants' | 'none';

/** Which processes an attach may reach, from the scope and whether we hold CAP_SYS_PTRACE. */
export function attachReach(scope: number | undefined, capable: boolean): AttachReach {
  if (scope === 3) return 'none';
  if (capable) return 'any';
  if (scope === undefined || scope === 0) return 'same uid';
  if (scope === 1) return 'descendants';
  return 'none';
}

/** What to do about a scope that keeps an attach out. */
export function fixForScope(scope: number | undefined): string {
  if (scope === 3) return 'ptrace_scope 3 cannot be lowered until reboot: set kernel.yama.ptrace_scope in /etc/sysctl.d and reboot';
  if (scope === 2) return 'run as root (CAP_SYS_PTRACE), or lower the scope: sysctl kernel.yama.ptrace_scope=1';
  return 'launch the program under the debugger (a descendant may be traced), run with CAP_SYS_PTRACE, or sysctl kernel.yama.ptrace_scope=0';
}

/** The process tracing pid (TracerPid), 0 for none or when it cannot be read. */
export function tracerOf(pid: number): number {
  try {
    const m = /^TracerPid:\s*(\d+)/m.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) : 0;
  } catch {
    return 0;
  }
}

/** Why an attach to pid was refused with EPERM, in a sentence: another tracer, Yama, or a process not ours. */
export function ptraceRefusal(pid: number): string {
  if (pid === process.pid) return 'a process cannot trace itself or its own threads';
  const tracer = tracerOf(pid);
  if (tracer) return `process ${pid} is already traced by process ${tracer}: detach that debugger first`;
  const scope = yamaScope();
  const reach = attachReach(scope, hasCapability(Capability.SYS_PTRACE));
  if (reach === 'descendants' || reach === 'none') return `${describeScope(scope)} keeps process ${pid} out: ${fixForScope(scope)}`;
  return `process ${pid} belongs to another user or is not dumpable (setuid, or PR_SET_DUMPABLE 0): run as its owner or with CAP_SYS_PTRACE`;
}
