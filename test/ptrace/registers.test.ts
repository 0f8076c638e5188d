import t, { type Test } from 'tap';
import { probeDebugRegisters, type Thread, Tracee } from '../../lib/ptrace';
import { decodeFxsave } from '../../lib/ptrace/arch';
import { fixture, symbol } from '../helpers';

const binary = fixture('target');
const marker = symbol(binary, 'marker');

function launchAtMarker(t: Test): Promise<Tracee> {
  const tracee = Tracee.launch(binary, [], { stdio: ['inherit', 'inherit', 'inherit'] });
  t.teardown(() => tracee.state === 'traced' && tracee.kill());
  tracee.breakpoints.insert(marker);
  tracee.leader!.cont();
  return tracee.leader!.nextEvent().then((event) => {
    t.match(event, { type: 'breakpoint', address: marker });
    tracee.breakpoints.remove(marker);
    return tracee;
  });
}

t.test('general registers read and write, and a write changes behaviour', async (t) => {
  const tracee = await launchAtMarker(t);
  const thread = tracee.leader!;
  const regs = thread.getRegisters();
  t.equal(regs.rip, marker, 'the pc was rewound to the breakpoint');
  t.equal(thread.getRegistersRaw().length, 27 * 8);
  t.equal(thread.getRegistersRaw().readBigUInt64LE(16 * 8), marker, 'raw bytes are user_regs_struct');
  // Return 42 from marker() without running it: pop the return address into rip.
  const returnAddress = tracee.memory.read(regs.rsp!, 8).readBigUInt64LE(0);
  thread.setRegisters({ rip: returnAddress, rsp: regs.rsp! + 8n, rax: 42n });
  t.equal(thread.getRegisters().rax, 42n);
  thread.cont();
  t.same(await tracee.ended(), { pid: tracee.pid, code: 42 }, 'the program exits with the value we put in rax');
});

t.test('single-step advances rip', async (t) => {
  const tracee = await launchAtMarker(t);
  const thread = tracee.leader!;
  const before = thread.getPc();
  thread.step();
  t.same(await thread.nextEvent(), { type: 'step', tid: thread.tid });
  const after = thread.getPc();
  t.ok(after > before && after < before + 16n, `rip moved one instruction (${before.toString(16)} -> ${after.toString(16)})`);
});

/**
 * stepWhileIn until the pc leaves [start, end) or lands on `avoid`. A step
 * slower than its spin (a loaded machine) is left to the reaper and may stop
 * inside the range, as the doc says: then step on. Returns the events seen.
 */
async function stepThrough(thread: Thread, start: bigint, end: bigint, avoid: bigint[]): Promise<number> {
  let events = 0;
  for (;;) {
    const before = thread.events;
    thread.stepWhileIn(start, end, BigUint64Array.from(avoid));
    if (thread.state === 'running') await thread.nextEvent();
    events += thread.events - before;
    const pc = thread.getPc();
    if (pc < start || pc >= end || avoid.includes(pc)) return events;
  }
}

t.test('stepWhileIn steps through a range in native code and reports only the stop that leaves it', async (t) => {
  // marker() is five instructions ending in ret; its caller comes after it in the file. On a loaded
  // machine any step may outlast its spin and show up as an event, so take the best of three runs.
  const counts: number[] = [];
  for (let run = 0; run < 3 && !counts.includes(1); run++) {
    const tracee = await launchAtMarker(t);
    const thread = tracee.leader!;
    const returnAddress = tracee.memory.read(thread.getRegisters().rsp!, 8).readBigUInt64LE(0);
    counts.push(await stepThrough(thread, marker, returnAddress, []));
    t.same(thread.lastEvent, { type: 'step', tid: thread.tid });
    t.equal(thread.getPc(), returnAddress, 'the ret left the range');
  }
  t.ok(Math.min(...counts) < 5, `fewer events than instructions in some run (${counts}; 1 on a quiet machine)`);
});

t.test('stepWhileIn: an empty range is one step; an address to avoid ends the range there', async (t) => {
  let thread = (await launchAtMarker(t)).leader!;
  t.equal(await stepThrough(thread, 0n, 0n, []), 1);
  t.same(thread.lastEvent, { type: 'step', tid: thread.tid });
  const second = thread.getPc();
  t.ok(second > marker && second < marker + 16n, 'one instruction');
  thread = (await launchAtMarker(t)).leader!;
  await stepThrough(thread, marker, marker + 4096n, [second]);
  t.equal(thread.getPc(), second, 'stopped on the avoided address, still inside the range');
});

/**
 * The native step loop holds back the SIGCHLD of ptrace stops while it runs
 * (native/step.c): a stop of another thread during the loop must still
 * reach the event loop afterwards. Here the stepped thread's own system call
 * (tgkill) stops the other one mid-loop, and the loop then ends by leaving
 * the range, so no later stop of its own could stand in for the lost signal.
 */
t.test('stepWhileIn: another thread that stops while the loop steps is still reported', async (t) => {
  const stopper = fixture('stop-in-step');
  const poke = symbol(stopper, 'poke');
  const pokeEnd = symbol(stopper, 'poke_end');
  const tracee = Tracee.launch(stopper, [], { stdio: ['inherit', 'inherit', 'inherit'] });
  t.teardown(() => tracee.state === 'traced' && tracee.kill());
  const main = tracee.leader!;
  tracee.breakpoints.insert(poke);
  main.cont();
  for (let event = await main.nextEvent(); event.type !== 'breakpoint'; event = await main.nextEvent()) if (main.state === 'stopped') main.cont(); // past the clone
  t.equal(main.getPc(), poke, 'main at poke');
  tracee.breakpoints.remove(poke);
  const spinner = [...tracee.threads.values()].find((th) => th !== main)!;
  t.ok(spinner, 'the spinner thread is traced');
  t.equal(spinner.state, 'running', 'and runs while main is stopped');
  const spinnerStop = spinner.nextEvent();
  await stepThrough(main, poke, pokeEnd, []);
  t.equal(main.getPc(), pokeEnd, 'main stepped through the tgkill');
  const timeout = new Promise<'lost'>((resolve) => setTimeout(() => resolve('lost'), 5000).unref());
  t.match(await Promise.race([spinnerStop, timeout]), { type: 'signal', tid: spinner.tid, signal: 12 }, "the spinner's SIGUSR2 stop");
});

t.test('FP/SSE and XSTATE registers round trip', async (t) => {
  const tracee = await launchAtMarker(t);
  const thread = tracee.leader!;
  const fx = thread.getFpRegistersRaw();
  t.equal(fx.length, 512);
  t.equal(decodeFxsave(fx).mxcsr & 0xffc0, 0x1f80 & 0xffc0, 'default MXCSR masks');
  const pattern = Buffer.from('00112233445566778899aabbccddeeff', 'hex');
  pattern.copy(fx, 160 + 16 * 5); // xmm5
  thread.setFpRegistersRaw(fx);
  t.same(decodeFxsave(thread.getFpRegistersRaw()).xmm[5], pattern);

  const xstate = thread.getXstate();
  t.ok(xstate.length >= 576 + 256, `XSTATE holds AVX state (${xstate.length} bytes)`);
  t.same(xstate.subarray(160 + 16 * 5, 176 + 16 * 5), pattern, 'the legacy area is the FXSAVE image');
  const high = Buffer.alloc(16, 0x5a);
  high.copy(xstate, 576 + 16 * 5);
  xstate.writeBigUInt64LE(xstate.readBigUInt64LE(512) | 0b111n, 512); // x87, SSE and AVX state present
  thread.setXstate(xstate);
  const ymm5 = thread.getVectorRegisters().ymm[5]!;
  t.same(ymm5, Buffer.concat([pattern, high]), 'ymm5 = xmm5 plus the AVX upper half');
  t.throws(() => thread.setFpRegistersRaw(Buffer.alloc(10)), RangeError);
});

t.test('hardware debug registers: DR0 as an execution breakpoint', async (t) => {
  const tracee = Tracee.launch(binary, [], { stdio: ['inherit', 'inherit', 'inherit'] });
  t.teardown(() => tracee.state === 'traced' && tracee.kill());
  const thread = tracee.leader!;
  thread.setDebugRegister(0, marker);
  thread.setDebugRegister(7, 1n); // L0: enable DR0, break on execution, length 1
  t.equal(thread.getDebugRegister(0), marker);
  t.equal(thread.getDebugRegister(7) & 1n, 1n);
  thread.cont();
  const event = await thread.nextEvent();
  if (!probeDebugRegisters().fire) {
    // Taken, and never fired: the program ran past the marker to its end, as the probe says of this host.
    t.match(event, { type: 'exited', code: 3 }, 'where the probe says debug registers do not fire, DR0 did not');
    return;
  }
  t.match(event, { type: 'hardware-trap', tid: thread.tid }, 'the probe says they fire, and DR0 did');
  t.equal((event as { dr6?: bigint }).dr6! & 1n, 1n, 'DR6 says DR0 fired');
  t.equal(thread.getPc(), marker);
  thread.setDebugRegister(7, 0n);
  thread.cont();
  t.same(await tracee.ended(), { pid: tracee.pid, code: 3 });
  t.throws(() => thread.getDebugRegister(8), RangeError);
});

t.test('register access on a running or vanished thread is ESRCH', async (t) => {
  const tracee = Tracee.launch(binary, ['loop'], { stdio: ['inherit', 2, 'inherit'] });
  const thread = tracee.leader!;
  thread.cont();
  t.throws(() => thread.getRegisters(), { code: 'ESRCH', syscall: 'ptrace(PTRACE_GETREGSET)', tid: thread.tid });
  t.throws(() => thread.cont(), { code: 'ESRCH', syscall: 'ptrace(PTRACE_CONT)', tid: thread.tid });
  tracee.kill();
  t.match(await tracee.ended(), { signal: 9 });
});
