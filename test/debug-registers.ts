import type { Test } from 'tap';
import { probeDebugRegisters } from '../lib/ptrace';

/**
 * For a test that needs the CPU's debug registers themselves (gdbserver's
 * hardware breakpoints and watchpoints as the anchor, or read and access
 * watchpoints): whether this host's fire (lib/ptrace/debug-registers-fire.ts).
 * Where they are taken and never fire (a PVM guest), the test says so in its
 * output and checks nothing more: gdbserver accepts them there and never
 * stops. The probe's own answer is checked against a raw DR0 breakpoint in
 * test/ptrace/registers.test.ts.
 */
export function debugRegistersFire(t: Test): boolean {
  return fireOrSay(t, 'not run here', 'emulated-debug-registers.test.ts checks gdbsock on such a host');
}

/**
 * For a test of gdbsock's hardware breakpoints or write watchpoints, with
 * gdbserver as its anchor only where the debug registers fire: gdbsock
 * serves both everywhere (int3s and stepping where they do not fire), so the
 * test runs on every host, and this says whether to compare with gdbserver.
 * Oracles for the other hosts are the test's own (values the program stores).
 */
export function gdbserverIsAnchor(t: Test): boolean {
  return fireOrSay(t, 'gdbserver is no anchor here', 'gdbsock emulates them');
}

/** Whether the debug registers fire; if not, the test's output says so, and what follows from it. */
function fireOrSay(t: Test, consequence: string, instead: string): boolean {
  const probe = probeDebugRegisters();
  if (!probe.fire) t.comment(`${consequence}: this host's debug registers do not fire (${probe.why}); ${instead}`);
  return probe.fire;
}
