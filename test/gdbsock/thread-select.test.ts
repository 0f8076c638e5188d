/**
 * Thread selection with H (GDB manual, "Packets": H op thread-id, and
 * "thread-id syntax"): 0 is any thread, -1 all threads, pPID.TID names a
 * thread of a process. Against `threads churn 3` (threads born and joined one
 * after another) stopped with one thread dead and one at a breakpoint, every
 * form gdb or another client may send gets OK or an error, never a crash;
 * after a valid Hg, g reads that thread; after a stop, the stop's thread
 * (gdb assumes so without sending Hg). T (thread alive?) reads the same
 * thread-ids; with a fork kept, pPID.TID must name a thread of PID. Compared
 * with gdbserver where the manual leaves no room for choice, and at gdb
 * level: `thread N` then the registers of thread N.
 */
import t from 'tap';
import { fixture, symbol } from '../helpers';
import { requireTool, rspClient, runGdb, startGdbserver, startGdbsock } from './gdb';

requireTool('gdb');
requireTool('gdbserver');
const threads = fixture('threads');
const BREAK = symbol(threads, 'short_lived');

type Client = Awaited<ReturnType<typeof rspClient>>;

/** rip out of a g reply (x86_64: register 16, after sixteen 8-byte registers), or the reply itself when it is an error. */
function ripOf(g: string): bigint | string {
  if (!/^[0-9a-fx]{300,}$/.test(g)) return g;
  return Buffer.from(g.slice(16 * 16, 17 * 16), 'hex').readBigUInt64LE();
}

const threadOf = (stop: string) => Number.parseInt(/thread:p[0-9a-f]+\.([0-9a-f]+);/.exec(stop)?.[1] ?? 'x', 16);

/**
 * Runs `threads churn 3` to the breakpoint in the second short-lived thread:
 * the first one has been joined (dead), the main thread waits in pthread_join.
 */
async function toSecondThread(c: Client) {
  await c.ask('QStartNoAckMode');
  await c.ask('qSupported:multiprocess+;swbreak+');
  const pid = Number.parseInt(/^QCp([0-9a-f]+)\./.exec(await c.ask('qC'))![1]!, 16);
  await c.ask('?');
  const bp = BREAK.toString(16);
  await c.ask(`Z0,${bp},1`);
  const first = threadOf(await c.ask('vCont;c'));
  // Over the breakpoint the way gdb steps over one: out, a step of that thread, back in.
  await c.ask(`z0,${bp},1`);
  const stepped = await c.ask(`vCont;s:p${pid.toString(16)}.${first.toString(16)}`);
  await c.ask(`Z0,${bp},1`);
  const second = threadOf(await c.ask('vCont;c'));
  return { pid, dead: first, live: second, stepped };
}

const hex = (n: number) => n.toString(16);

t.test('every H form gets OK or an error; g reads the thread Hg chose', async (t) => {
  const server = await startGdbsock(['--once', '--listen', '127.0.0.1:0', '--', threads, 'churn', '3']);
  t.teardown(() => server.stop());
  const c = await rspClient(server.target);
  t.teardown(c.close);
  const { pid, dead, live } = await toSecondThread(c);
  t.ok(dead > 0 && live > 0 && dead !== live && dead !== pid && live !== pid, 'stopped in a second short-lived thread');
  const p = hex(pid);
  const g = async () => ripOf(await c.ask('g'));

  // Explicit threads, with and without the process.
  t.equal(await c.ask(`Hg${hex(pid)}`), 'OK', 'Hg the main thread');
  const mainRip = await g();
  t.type(mainRip, 'bigint');
  t.not(mainRip, BREAK, 'the main thread is not at the breakpoint (it waits in pthread_join)');
  t.equal(await c.ask(`Hg${hex(live)}`), 'OK');
  t.equal(await g(), BREAK, 'g reads the thread at the breakpoint once Hg chose it');
  t.equal(await c.ask(`Hgp${p}.${hex(pid)}`), 'OK', 'Hgp PID.TID');
  t.equal(await g(), mainRip, 'and back to the main thread');
  t.equal(
    await c.ask(`p10`),
    Buffer.from(
      BigInt.asUintN(64, mainRip as bigint)
        .toString(16)
        .padStart(16, '0'),
      'hex',
    )
      .reverse()
      .toString('hex'),
    'p reads the same thread as g',
  );
  t.equal(await c.ask('qC'), `QCp${p}.${hex(pid)}`, 'qC names it');

  // Any thread, all threads.
  for (const any of ['Hg0', 'Hg-1', `Hgp${p}.0`, `Hgp${p}.-1`, `Hgp${p}`, 'Hgp0.0', 'Hgp-1.-1']) {
    t.equal(await c.ask(any), 'OK', `${any}: any thread`);
    const rip = await g();
    t.ok(rip === BREAK || rip === mainRip, `${any}: g then reads one of the process's threads`);
  }
  for (const cont of ['Hc0', 'Hc-1', `Hc${hex(live)}`, `Hcp${p}.0`, `Hcp${p}.-1`, 'Hs0']) t.equal(await c.ask(cont), 'OK', cont);

  // A thread that is gone, a process not debugged here: errors, and the selection stays as it was.
  t.equal(await c.ask(`Hg${hex(live)}`), 'OK');
  const otherPid = hex(process.pid); // alive, but not ours
  for (const bad of [
    `Hg${hex(dead)}`,
    `Hgp${p}.${hex(dead)}`,
    `Hc${hex(dead)}`,
    `Hg${otherPid}`,
    `Hgp${otherPid}.${hex(live)}`,
    `Hgp${otherPid}.0`,
    `Hgp${otherPid}.-1`,
    `Hgp${otherPid}.${otherPid}`,
    `Hgp${p}.${otherPid}`,
  ]) {
    t.match(await c.ask(bad), /^E/, `${bad}: an error`);
  }
  t.equal(await g(), BREAK, 'refused H packets left the general thread alone');

  // Malformed: an error; an op that does not exist: the empty reply (unsupported), as gdbserver.
  for (const bad of ['Hgzz', 'Hg', `Hg${hex(live)}zz`, `Hgp${p}.`, `Hgp.${hex(live)}`, 'Hg--1', 'Hg-2', 'Hgp', `Hgp${p}.${hex(live)}.1`]) {
    t.match(await c.ask(bad), /^E/, `${JSON.stringify(bad)}: an error`);
  }
  for (const unknown of ['Hx1', `Hx${hex(live)}`, 'H']) t.equal(await c.ask(unknown), '', `${JSON.stringify(unknown)}: unsupported`);

  // T (is this thread alive?) reads the same thread-ids.
  for (const alive of [`T${hex(live)}`, `Tp${p}.${hex(live)}`, `T${p}`]) t.equal(await c.ask(alive), 'OK', alive);
  for (const gone of [`T${hex(dead)}`, `Tp${p}.${hex(dead)}`, `T${otherPid}`, `Tp${otherPid}.${hex(live)}`, 'T0', 'T-1', `Tp${p}.0`, 'Tzz', 'T']) {
    t.match(await c.ask(gone), /^E/, `${JSON.stringify(gone)}: not a live thread here`);
  }
  t.equal(await g(), BREAK, 'still the same thread, and the server still answers');

  // Random thread-ids made of real ids, their pieces and junk: one reply each, OK or E.. or empty, never a hang.
  let seed = 7;
  const rand = (n: number) => {
    seed = (seed * 1103515245 + 12345) & 0x7fffffff;
    return seed % n;
  };
  const pieces = [hex(pid), hex(live), hex(dead), otherPid, 'p', '.', '-1', '0', '-', 'zz', 'ffffffff', '1'.repeat(20), ';', ':', ''];
  let odd = 0;
  for (let i = 0; i < 400; i++) {
    let body = ['Hg', 'Hc', 'Hs', 'Hx', 'T', 'H'][rand(6)]!;
    for (let k = rand(5); k > 0; k--) body += pieces[rand(pieces.length)];
    const reply = await c.ask(body);
    if (!/^(OK|E[0-9a-f]{2}|)$/.test(reply)) {
      odd++;
      t.comment(`${JSON.stringify(body)} -> ${JSON.stringify(reply)}`);
    }
  }
  t.equal(odd, 0, '400 random H and T packets: each answered OK, E.. or empty');
  t.equal(await c.ask(`Hg${hex(live)}`), 'OK');
  t.equal(await g(), BREAK, 'and the server still reads the right thread');
  t.match(await c.ask(`vKill;${p}`), /^(OK|X09)/);
});

t.test("after a stop the general thread is the stop's thread, whatever Hg chose before", async (t) => {
  const server = await startGdbsock(['--once', '--listen', '127.0.0.1:0', '--', threads, 'churn', '3']);
  t.teardown(() => server.stop());
  const c = await rspClient(server.target);
  t.teardown(c.close);
  await c.ask('QStartNoAckMode');
  await c.ask('qSupported:multiprocess+;swbreak+');
  const pid = Number.parseInt(/^QCp([0-9a-f]+)\./.exec(await c.ask('qC'))![1]!, 16);
  const p = hex(pid);
  await c.ask('?');
  const bp = hex(Number(BREAK));
  await c.ask(`Z0,${bp},1`);
  const first = threadOf(await c.ask('vCont;c'));
  t.equal(await c.ask(`Hgp${p}.${p}`), 'OK', 'gdb looks at the main thread');
  t.not(ripOf(await c.ask('g')), BREAK);
  await c.ask(`z0,${bp},1`);
  t.match(await c.ask(`vCont;s:p${p}.${hex(first)}`), new RegExp(`thread:p${p}\\.${hex(first)};`), 'a step of the thread at the breakpoint');
  const afterStep = ripOf(await c.ask('g'));
  t.ok(typeof afterStep === 'bigint' && afterStep > BREAK && afterStep < BREAK + 16n, 'g reads the stepped thread, one instruction past the breakpoint');
  t.equal(await c.ask('qC'), `QCp${p}.${hex(first)}`, 'qC names it');
  await c.ask(`Z0,${bp},1`);
  t.equal(await c.ask(`Hgp${p}.${hex(first)}`), 'OK', 'gdb chooses the short-lived thread');
  const second = threadOf(await c.ask('vCont;c'));
  t.not(second, first, 'the next stop is in the next thread; the chosen one is gone');
  t.equal(ripOf(await c.ask('g')), BREAK, "g reads the new stop's thread, not an error for the dead one");
  t.equal(await c.ask('qC'), `QCp${p}.${hex(second)}`);
  t.match(await c.ask(`vKill;${p}`), /^(OK|X09)/);
});

/**
 * The answers that must match gdbserver's, with thread ids written as their
 * roles. Not compared: which thread g reads after Hg0 or HgpPID.0 (any one
 * will do: gdbserver takes the first, we take the one that stopped).
 */
async function anchoredAnswers(target: string): Promise<string[]> {
  const c = await rspClient(target);
  try {
    const { pid, dead, live, stepped } = await toSecondThread(c);
    const ids: Record<string, string> = { PID: hex(pid), MAIN: hex(pid), DEAD: hex(dead), LIVE: hex(live), OTHER: hex(process.pid) };
    const render = (template: string) => template.replace(/[A-Z]{3,}/g, (role) => ids[role] ?? role);
    const roles = (reply: string) =>
      reply.replace(/p([0-9a-f]+)\.([0-9a-f]+)/g, (_, a: string, b: string) => {
        const role = (id: string) => Object.keys(ids).find((k) => ids[k] === id) ?? '?';
        return `p${role(a)}.${role(b) === 'PID' ? 'MAIN' : role(b)}`;
      });
    const out = [`the step stops in ${roles(`p${hex(pid)}.${hex(threadOf(stepped))}`)}`];
    const templates = [
      'g',
      'HgMAIN',
      'g',
      'HgLIVE',
      'g',
      'HgpPID.MAIN',
      'g',
      'HgpPID.LIVE',
      'g',
      'Hg0',
      'Hc0',
      'HcLIVE',
      'HgpPID.0',
      'HgMAIN',
      'HgDEAD',
      'g',
      'HgpPID.DEAD',
      'HcDEAD',
      'HgOTHER',
      'HgpOTHER.LIVE',
      'HgpOTHER.0',
      'g',
      'Hx1',
      'qC',
      // T (is the thread alive), which takes the same thread-ids.
      'TLIVE',
      'TpPID.LIVE',
      'TMAIN',
      'TDEAD',
      'TpPID.DEAD',
      'TOTHER',
      'TpOTHER.LIVE',
      'T0',
      'T-1',
      'TpPID.0',
      'Tzz',
    ];
    for (const template of templates) {
      const reply = await c.ask(render(template));
      const rip = template === 'g' ? ripOf(reply) : undefined;
      const shown = template !== 'g' ? roles(reply) : rip === BREAK ? 'at the breakpoint' : typeof rip === 'bigint' ? 'elsewhere' : rip;
      out.push(`${template} -> ${shown}`);
    }
    await c.ask(`vKill;${hex(pid)}`);
    return out;
  } finally {
    c.close();
  }
}

t.test('the same answers as gdbserver where the manual leaves no choice', async (t) => {
  const anchor = await startGdbserver([threads, 'churn', '3']);
  const theirs = await anchoredAnswers(anchor.target);
  await anchor.exited;
  const server = await startGdbsock(['--once', '--listen', '127.0.0.1:0', '--', threads, 'churn', '3']);
  t.teardown(() => server.stop());
  const ours = await anchoredAnswers(server.target);
  t.same(ours, theirs);
  // Not compared either: gdbserver 13 refuses Hg-1, Hc-1 and HgpPID.-1 (its read_ptid makes "-1" a thread
  // of the current process, which does not exist) and pPID without .TID, both valid thread-ids in the
  // manual; and it takes Hgzz for Hg0 where we refuse a malformed id.
});

t.test("gdb switching threads reads each thread's registers, as with gdbserver", async (t) => {
  // Flushing gdb's register cache after each switch makes it ask again (Hg, then g).
  const flush = 'maintenance flush register-cache';
  const commands = [
    'break short_lived',
    'continue',
    'continue',
    'thread 1',
    flush,
    'p $pc == short_lived',
    'thread 3',
    flush,
    'p $pc == short_lived',
    'p $rdi',
    'thread 1',
    flush,
    'p $rdi == 1',
    'thread 3',
    'stepi',
    'p $pc',
    'p $rdi',
    'kill',
  ];
  const values = (out: string) => out.split('\n').filter((l) => /^\$\d+ = /.test(l));
  const server = await startGdbsock(['--once', '--listen', '127.0.0.1:0', '--', threads, 'churn', '3']);
  t.teardown(() => server.stop());
  const ours = await runGdb(`target extended-remote ${server.target}`, commands, { file: threads });
  t.match(ours, /Thread 3 "threads" hit Breakpoint 1, short_lived \(arg=0x1\)/, 'stopped in the second short-lived thread');
  const [main, atBreak, arg, mainArg, afterStep, argAfterStep] = values(ours);
  t.equal(main, '$1 = 0', 'thread 1 is not at the breakpoint');
  t.equal(atBreak, '$2 = 1', 'thread 3 is');
  t.equal(arg, '$3 = 1', 'with its own argument in rdi');
  t.equal(mainArg, '$4 = 0', "which is not thread 1's rdi");
  t.match(afterStep, /^\$5 = .* <short_lived\+[1-9]\d*>$/, 'stepi moved thread 3');
  t.equal(argAfterStep, '$6 = 1', 'and g after the step read thread 3');
  const anchor = await startGdbserver([threads, 'churn', '3']);
  const theirs = await runGdb(`target extended-remote ${anchor.target}`, commands, { file: threads });
  t.same(values(ours), values(theirs), 'the same values as under gdbserver');
});

/** H and T against a fork gdb keeps (fork-events): each thread-id must name the right process. */
async function forkAnswers(target: string): Promise<string[]> {
  const c = await rspClient(target);
  try {
    await c.ask('QStartNoAckMode');
    await c.ask('qSupported:multiprocess+;swbreak+;fork-events+;vfork-events+');
    const parent = /^QCp([0-9a-f]+)\./.exec(await c.ask('qC'))![1]!;
    await c.ask('?');
    const stop = await c.ask('vCont;c');
    const child = /^T05fork:p([0-9a-f]+)\./.exec(stop)?.[1];
    if (!child) throw new Error(`no fork stop: ${stop}`);
    const roles = (reply: string) => reply.replaceAll(`p${parent}.${parent}`, 'pPARENT.PARENT').replaceAll(`p${child}.${child}`, 'pCHILD.CHILD');
    const out: string[] = [];
    const templates = [
      'HgpCHILD.0',
      'qC',
      'HgpCHILD.PARENT',
      'HgpPARENT.CHILD',
      'qC',
      'HgpCHILD.CHILD',
      'qC',
      'TpCHILD.CHILD',
      'TpPARENT.CHILD',
      'HgpPARENT.0',
      'qC',
      'D;CHILD',
      'HgpCHILD.0',
      'HgpCHILD.CHILD',
      'TpCHILD.CHILD',
      'qC',
      'HgpPARENT.PARENT',
      'qC',
    ];
    for (const template of templates) {
      const reply = await c.ask(template.replaceAll('PARENT', parent).replaceAll('CHILD', child));
      out.push(`${template} -> ${roles(reply)}`);
    }
    await c.ask(`vKill;${parent}`);
    return out;
  } finally {
    c.close();
  }
}

t.test('with a fork kept, pPID.TID must name a thread of PID; a detached child is gone; as gdbserver', async (t) => {
  const forker = fixture('forker');
  const server = await startGdbsock(['--once', '--listen', '127.0.0.1:0', '--', forker]);
  t.teardown(() => server.stop());
  const ours = await forkAnswers(server.target);
  t.same(ours, [
    'HgpCHILD.0 -> OK',
    'qC -> QCpCHILD.CHILD',
    'HgpCHILD.PARENT -> E01',
    'HgpPARENT.CHILD -> E01',
    'qC -> QCpCHILD.CHILD',
    'HgpCHILD.CHILD -> OK',
    'qC -> QCpCHILD.CHILD',
    'TpCHILD.CHILD -> OK',
    'TpPARENT.CHILD -> E01',
    'HgpPARENT.0 -> OK',
    'qC -> QCpPARENT.PARENT',
    'D;CHILD -> OK',
    'HgpCHILD.0 -> E01',
    'HgpCHILD.CHILD -> E01',
    'TpCHILD.CHILD -> E01',
    'qC -> QCpPARENT.PARENT',
    'HgpPARENT.PARENT -> OK',
    'qC -> QCpPARENT.PARENT',
  ]);
  const anchor = await startGdbserver([forker]);
  t.same(ours, await forkAnswers(anchor.target), 'the same answers as gdbserver');
});
