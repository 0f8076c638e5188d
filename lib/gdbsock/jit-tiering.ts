/**
 * V8 tiering for the gdbsock command, imported by cli.ts for its side effect,
 * after its other imports so that loading the modules keeps V8's defaults.
 *
 * gdbsock's work is latency: each packet is a few microseconds of JavaScript
 * between two system calls, and a user's command (`next`, a breakpoint hit)
 * runs the same short path a few thousand times at most. V8's defaults wait
 * for many invocations before compiling a function with Sparkplug or TurboFan,
 * so a whole `next 3000` ran mostly in the interpreter: measured under gdb,
 * the first 3000 `next`s took 1.26 times as long as 3000 more run after
 * another 4000. These flags make hot functions reach optimized code within
 * the first few hundred packets. They are set only in the gdbsock process; the library never
 * changes an embedding program's V8 flags.
 */
import { setFlagsFromString } from 'node:v8';

export const TIERING_FLAGS = [
  '--always-sparkplug', // baseline code on first call instead of bytecode
  '--no-lazy-feedback-allocation', // collect type feedback from the first call
  '--interrupt-budget=2000', // consider optimizing after ~2 KB of bytecode ran, not ~66 KB
  '--ticks-before-optimization=1',
  '--minimum-invocations-after-ic-update=20',
];

for (const flag of TIERING_FLAGS) setFlagsFromString(flag);
