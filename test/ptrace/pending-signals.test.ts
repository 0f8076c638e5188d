/**
 * addon.signalWaiting: whether a stopped thread has a signal on its own queue
 * that it does not block. gdbsock asks it at every interrupt stop about
 * SIGTRAP (lib/gdbsock/targets/pending-signals.ts, trapQueued). Here it is
 * asked about every signal at a real signal-delivery stop with signals left
 * pending, queued and blocked several ways; the oracle is the kernel's own
 * account of the same stopped thread, /proc/PID/task/TID/status (SigPnd: its
 * queue, SigBlk: its mask, ShdPnd: the process's queue).
 */
import t from 'tap';
import { addon } from '../../lib/native';
import { status } from '../../lib/procfs';
import { Signal, Tracee } from '../../lib/ptrace';
import { fixture } from '../helpers';

const bit = (signal: number) => 1n << BigInt(signal - 1);

t.test('at a signal-delivery stop, each signal as /proc shows it: waiting, blocked, or on the process', async (t) => {
  const tracee = Tracee.launch(fixture('pending-signals'), [], { stdio: ['inherit', 2, 'inherit'] });
  t.teardown(() => tracee.state === 'traced' && tracee.kill());
  const leader = tracee.leader!;
  leader.cont();
  const stop = await leader.nextEvent();
  t.match(stop, { type: 'signal', signal: Signal.SIGUSR1 }, 'SIGUSR1, the lowest of those unblocked, comes first');

  const kernel = status(tracee.pid, tracee.pid);
  const waiting = kernel.sigPending & ~kernel.sigBlocked;
  t.equal(kernel.sigPending & bit(Signal.SIGUSR2), bit(Signal.SIGUSR2), 'oracle: SIGUSR2 is on the queue...');
  t.equal(kernel.sigBlocked & bit(Signal.SIGUSR2), bit(Signal.SIGUSR2), '... and blocked');
  t.not(kernel.shdPending, 0n, 'oracle: a signal waits on the process queue');
  const rtmin = [...Array(64).keys()].map((i) => i + 1).find((s) => (waiting & bit(s)) !== 0n);
  t.ok(rtmin !== undefined && rtmin >= 32, `oracle: one real-time signal (SIGRTMIN, ${rtmin}) waits on the thread's queue, unblocked`);

  for (let signal = 1; signal <= 64; signal++) {
    t.equal(addon.signalWaiting(tracee.pid, signal), (waiting & bit(signal)) !== 0n, `signal ${signal}`);
  }
  t.notOk(addon.signalWaiting(tracee.pid, Signal.SIGTRAP), 'no SIGTRAP: what gdbsock asks');
  t.notOk(addon.signalWaiting(tracee.pid, rtmin! + 1), "the process's queue is not the thread's");

  // The rest is delivered as the program expects: it exits 0 once SIGUSR1, SIGRTMIN and SIGRTMIN+1 ran.
  leader.cont(Signal.SIGUSR1);
  for (;;) {
    const e = await leader.nextEvent();
    if (e.type !== 'signal') break;
    leader.cont(e.signal);
  }
  t.same(await tracee.ended(), { pid: tracee.pid, code: 0 });
});

t.test('a thread that is not stopped, or not ours, is an error with its errno', async (t) => {
  t.throws(() => addon.signalWaiting(1, Signal.SIGTRAP), { code: 'ESRCH', syscall: 'ptrace(PTRACE_PEEKSIGINFO)', tid: 1 });
  t.throws(() => addon.signalWaiting(process.pid, 0), TypeError);
  t.throws(() => addon.signalWaiting(process.pid, 65), TypeError);
});
