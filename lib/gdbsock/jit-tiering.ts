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
 *
 * Those optimizing compiles run on V8's worker threads, and on a machine of two
 * CPUs two of them compiling took both for 5 ms at a time: gdb, woken by a stop
 * reply already sent, waited for a CPU (seen with `perf sched` while gdb's
 * Ctrl-C took 2-5 ms instead of 0.5). So every thread but this one (V8's
 * workers, Node's watchdogs; libuv's pool, which reads big memory ranges,
 * starts later, on first use) runs under SCHED_IDLE: only on a CPU that
 * nothing else wants. A compile that never finds one is only late; the code
 * runs meanwhile as it is.
 */
import { setFlagsFromString } from 'node:v8';
import { addon } from '../native';
import { TIERING_FLAGS } from './tiering-flags';

for (const flag of TIERING_FLAGS) setFlagsFromString(flag);

try {
  addon.idleOtherThreads();
} catch {
  // Not allowed here (a seccomp policy, say): the compiles keep Node's default priority.
}
