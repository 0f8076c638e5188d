import type { Test } from 'tap';
import { probeDebugRegisters } from '../lib/ptrace';

/**
 * For a test that needs the CPU's debug registers (hardware breakpoints and
 * watchpoints, through gdbsock or gdbserver): whether this host's fire
 * (lib/ptrace/debug-registers-fire.ts). Where they are taken and never fire
 * (a PVM guest), the test says so in its output and checks nothing more: what
 * gdbsock does there instead (refuses them, and gdb's software watchpoints
 * work) is test/gdbsock/no-debug-registers.test.ts, and the probe's own
 * answer is checked against a raw DR0 breakpoint in test/ptrace/registers.test.ts.
 */
export function debugRegistersFire(t: Test): boolean {
  const probe = probeDebugRegisters();
  if (!probe.fire) t.comment(`not run here: this host's debug registers do not fire (${probe.why}); no-debug-registers.test.ts checks gdbsock on such a host`);
  return probe.fire;
}
