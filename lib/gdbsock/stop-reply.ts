/**
 * The stop reply for an event, with the registers gdb wants at once
 * ("expedited", GDB manual "Stop Reply Packets"): sent after every step, so
 * built in one pass.
 */
import { expeditedRegister, formatStopReply } from './replies';
import { SIGTRAP } from './signals';
import type { StopEvent, Target } from './target';

/** `afterStep`: the stop answers a resume that stepped a thread (vCont s or r). */
export function stopReplyFor(t: Target, event: StopEvent, multiprocess: boolean, afterStep: boolean): string {
  const { multiProcess, partialRegisters, registerHex } = t.capabilities;
  return formatStopReply(event, t.pid, {
    multiprocess,
    pidOf: (tid) => multiProcess?.pidOf(tid),
    expedite: (tid) => {
      try {
        // Every stop builds this: a plain loop, no intermediate arrays.
        const unavailable = partialRegisters?.unavailableRegisters(tid);
        const regnos = afterStep && endsStep(event) ? t.registers.expeditedAfterStep : t.registers.expedited;
        let text = '';
        for (const n of regnos) {
          if (unavailable?.has(n)) continue;
          text += expeditedRegister(n, registerHex ? registerHex.readRegisterHex(tid, n) : t.readRegister(tid, n).toString('hex'));
        }
        return text;
      } catch {
        return '';
      }
    },
  });
}

/** A stop that can end a step or a range step: a trap with nothing else to report (no breakpoint, watchpoint or event). */
function endsStep(event: StopEvent): boolean {
  return event.kind === 'signal' && event.signal === SIGTRAP && event.reason === undefined;
}
