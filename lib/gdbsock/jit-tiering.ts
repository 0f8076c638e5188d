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
 * Not too early, though: with an interrupt budget of 2000 (V8's default is
 * 67584), a young session sent function after function to TurboFan, and
 * the compiles, with the deoptimizations of code optimized on a few calls'
 * feedback, landed on gdb's next commands. A Ctrl-C right behind a
 * `continue&` took 1.8-4.2 ms to its stop reply in a session's second to
 * fourth rounds, against 0.7 with 20000 (medians of 12 sessions; gdbserver
 * ~0.2), and gdb.base/bg-execution-repeat.exp, which types its next command
 * within half a millisecond of its `interrupt`, lost a test in 8 runs of 8
 * (with 20000, in 5 of 16). The price: `next 3000` about 5% slower, within
 * this machine's noise (gdbsock/gdbserver 0.80 and 0.84 against 0.76 and
 * 0.79). Raising the budget once a session had sent 1000 packets bought no
 * measurable `next` back, so the budget stays as it starts.
 *
 * Those optimizing compiles run on V8's worker threads, at the default
 * priority. Under SCHED_IDLE (tried: on two CPUs, two workers compiling for
 * 5 ms delayed gdb, woken by a reply already sent) they got a CPU only when
 * nothing else wanted one: with the CPUs busy, a gdbsock that exited or was
 * killed took 0.5-2.5 s to end, its threads waiting to run their own exit
 * (its connection closed only then); and wherever V8 makes the JavaScript
 * thread wait for a worker (a garbage collection's safepoint), it would
 * have waited as long.
 */
import { setFlagsFromString } from 'node:v8';
import { TIERING_FLAGS } from './tiering-flags';

for (const flag of TIERING_FLAGS) setFlagsFromString(flag);
