/**
 * ptrace: Yama's ptrace_scope, our capabilities, whether a child of ours can
 * be traced, and PTRACE_SET_SYSCALL_INFO (Linux 6.16). The facts come from
 * procfs/ptrace-access.ts, which also explains a refused attach to the bridge.
 */
import { errnoCode } from '../../errors';
import { addon } from '../../native';
import { probeDebugRegisters } from '../../ptrace/debug-registers-fire';
import { attachReach, Capability, describeScope, fixForScope, hasCapability, yamaScope } from '../../procfs/ptrace-access';
import type { Finding } from './finding';

export function probePtrace(): Finding[] {
  const scope = yamaScope();
  const capable = hasCapability(Capability.SYS_PTRACE);
  const reach = attachReach(scope, capable);
  const { rc, syscall } = addon.probeSetSyscallInfo();
  const childTraced = rc === 0 || syscall === 'ptrace(PTRACE_SET_SYSCALL_INFO)';
  const findings: Finding[] = [];
  const who = `${describeScope(scope)}; CAP_SYS_PTRACE ${capable ? 'held' : 'not held'}; attach reaches ${reach === 'any' ? 'any process' : reach === 'none' ? 'no process' : `${reach} processes`}`;
  findings.push({
    facility: 'ptrace',
    state: !childTraced || reach === 'none' ? 'missing' : reach === 'any' || reach === 'same uid' ? 'ok' : 'limited',
    detail: childTraced ? who : `${who}; even a child of ours could not be traced (${syscall}: ${errnoCode(rc)})`,
    neededBy: 'gdbsock (attach to a PID), Tracee, gcore-style snapshots',
    fix: reach === 'any' || reach === 'same uid' ? undefined : fixForScope(scope),
    facts: { yamaScope: scope ?? null, capSysPtrace: capable, attachReach: reach, traceChild: childTraced },
  });
  if (childTraced) {
    const works = rc === 0;
    findings.push({
      facility: 'PTRACE_SET_SYSCALL_INFO',
      state: works ? 'ok' : 'missing',
      detail: works ? 'a syscall stop can be rewritten in one request' : `the kernel refuses it (${errnoCode(rc)}): before Linux 6.16`,
      neededBy: 'remote system calls in a tracee (hostkit falls back to saving and restoring registers)',
      fix: works ? undefined : 'nothing to do: the register path is used; Linux 6.16+ has the faster one',
      facts: { works, errno: works ? null : errnoCode(rc) },
    });
  }
  if (childTraced && process.arch === 'x64') findings.push(debugRegisterFinding());
  return findings;
}

/** Whether DR0..DR7 fire for a tracee: some hypervisors take them and never raise #DB (lib/ptrace/debug-registers-fire.ts). */
function debugRegisterFinding(): Finding {
  const probe = probeDebugRegisters();
  return {
    facility: 'debug registers',
    state: probe.fire ? 'ok' : 'missing',
    detail: probe.fire ? 'a data watch and an instruction breakpoint each stopped a child of ours' : (probe.why ?? 'they do not fire'),
    neededBy: 'hardware breakpoints and watchpoints (gdbsock, gdbserver, gdb); gdbsock also keeps conditions and tracepoints in them when free',
    fix: probe.fire
      ? undefined
      : 'a host (or hypervisor) that passes #DB through; meanwhile gdbsock emulates hardware breakpoints with int3s and watchpoints by stepping (write ones by the bytes changing, read and access ones by decoding the operands of each instruction), and uses int3s for its own conditions and tracepoints',
    facts: { fire: probe.fire },
  };
}
