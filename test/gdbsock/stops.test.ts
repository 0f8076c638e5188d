/**
 * Stops in a live process as gdb sees them, against gdbserver (`stops`
 * fixture). Scheduler locking (gdb.threads/schedlock.exp): with several
 * threads on one line, a breakpoint whose target-side condition is false for
 * some of them, then gdb stepping one thread with the others held, every stop
 * must be of the thread gdb resumed; a hit another thread made while the
 * first was being reported waits until gdb resumes that thread, and goes if
 * gdb removed its breakpoint meanwhile.
 */
import { execFileSync } from 'node:child_process';
import t from 'tap';
import { gdbserverIsAnchor } from '../debug-registers';
import { fixture, sourceLine, symbol } from '../helpers';
import { requireTool, rspClient, runGdb, startGdbserver, startGdbsock } from './gdb';

requireTool('gdb');
requireTool('gdbserver');
const stops = fixture('stops');

/** `stops.c:LINE` of the line marked `stops: MARKER`. */
const at = (marker: string): string => `stops.c:${sourceLine('stops.c', `stops: ${marker} */`)}`;

type Server = 'gdbsock' | 'gdbserver';

async function withServer(server: Server, args: string[], commands: string[]): Promise<string> {
  if (server === 'gdbsock') {
    const s = await startGdbsock(['--once', '--listen', '127.0.0.1:0', '--', stops, ...args]);
    try {
      return await runGdb(`target extended-remote ${s.target}`, commands, { file: stops, timeout: 60000 });
    } finally {
      await s.stop();
    }
  }
  const s = await startGdbserver([stops, ...args]);
  try {
    return await runGdb(`target extended-remote ${s.target}`, commands, { file: stops, timeout: 60000 });
  } finally {
    s.stop();
  }
}

/** The values of `print $_thread` markers: `echo @NAME=` then the thread number. */
function marks(out: string): Record<string, string> {
  const found: Record<string, string> = {};
  for (const m of out.matchAll(/@(\w+)=\$\d+ = (\S+)/g)) found[m[1]!] = m[2]!;
  return found;
}

const mark = (name: string, expr = '$_thread') => [`echo @${name}=`, `print ${expr}`];

const SCHEDLOCK = [
  'set sysroot /',
  `break ${at('all threads started')}`,
  'continue',
  'delete',
  // A target-side condition false for the main thread (thread_function(0)): only the others stop.
  `break ${at('main loop')} if my_number != 0`,
  'continue',
  'delete',
  ...mark('cond', 'my_number != 0'),
  'set scheduler-locking step',
  ...mark('before'),
  'step',
  'step',
  'step',
  'next',
  'next',
  'stepi',
  ...mark('stepped'),
  // A breakpoint every thread hits: while one hit is reported, the others hit it too.
  `break ${at('main loop')}`,
  'continue',
  ...mark('hit'),
  'step', // over the breakpoint, this thread alone
  'step',
  'step',
  'next',
  ...mark('after'),
  'delete',
  'step',
  'step',
  ...mark('last'),
  'kill',
];

for (const server of ['gdbsock', 'gdbserver'] as const) {
  t.test(`scheduler locking: each step stops the thread gdb stepped (${server})`, async (t) => {
    t.setTimeout(240000);
    for (let round = 0; round < 2; round++) {
      const out = await withServer(server, ['loop', '4'], SCHEDLOCK);
      const m = marks(out);
      t.notMatch(out, /internal-error|Remote failure|badly formatted/, `no protocol error (round ${round})`);
      t.equal(m.cond, '1', `the conditional breakpoint stopped a thread it is true for (round ${round})`);
      t.ok(m.before, 'a thread was current');
      t.equal(m.stepped, m.before, `steps with scheduler-locking step stay in thread ${m.before} (round ${round})`);
      t.ok(m.hit, 'a thread hit the unconditional breakpoint');
      t.equal(m.after, m.hit, `stepping over a breakpoint the others hit stays in thread ${m.hit} (round ${round})`);
      t.equal(m.last, m.hit, `and so does stepping once it is gone (round ${round})`);
      if (m.stepped !== m.before || m.after !== m.hit || m.last !== m.hit) {
        t.comment(out);
        break;
      }
    }
  });
}

/** gdb's output with what differs between runs (pids, addresses, file fetches) taken out. */
const normalized = (out: string) =>
  out
    .split('\n')
    .filter((l) => !/^Reading |process \d+|^warning: /.test(l))
    .join('\n')
    .replace(/0x0*[0-9a-f]{6,}/g, 'ADDR');

const WATCH = [
  'set sysroot /',
  'break main',
  'continue',
  'watch watched_a',
  'rwatch watched_b',
  'awatch watched_pair[1]',
  'continue',
  'next', // a range step (vCont;r) over a write to watched_a
  'next',
  'next',
  'stepi',
  'stepi',
  'stepi',
  'stepi',
  `break ${at('write b')}`,
  'continue',
  'continue', // from the breakpoint: gdb steps over it, and the step reads watched_a
  'continue',
  'continue',
  'continue',
  'continue',
];

t.test('watchpoints hit by steps, range steps and steps over a breakpoint say so, as with gdbserver', async (t) => {
  t.setTimeout(120000);
  const ours = normalized(await withServer('gdbsock', ['watch'], WATCH));
  t.match(ours, /Hardware watchpoint 2: watched_a\s+Old value = 1\s+New value = 2/, 'a write during `next` stops it');
  t.match(ours, /Hardware read watchpoint 3: watched_b\s+Value = 3/, 'a read watchpoint reports a read');
  t.match(ours, /Hardware access \(read\/write\) watchpoint 4: watched_pair\[1\]/, 'an access watchpoint reports a write');
  if (!gdbserverIsAnchor(t)) return;
  const theirs = normalized(await withServer('gdbserver', ['watch'], WATCH));
  t.equal(ours, theirs, 'the same session as through gdbserver');
});

t.test('Z3 is refused (empty) on x86, as gdbserver does; Z2 and Z4 are not', async (t) => {
  const watched = symbol(stops, 'watched_b').toString(16);
  for (const server of ['gdbsock', 'gdbserver'] as const) {
    const s = server === 'gdbsock' ? await startGdbsock(['--once', '--listen', '127.0.0.1:0', '--', stops, 'watch']) : await startGdbserver([stops, 'watch']);
    const c = await rspClient(s.target);
    try {
      await c.ask('QStartNoAckMode');
      await c.ask('?');
      t.equal(await c.ask(`Z3,${watched},4`), '', `${server}: Z3 empty`);
      // gdbserver takes Z4 even where it never fires; gdbsock there watches it by stepping (emulated-debug-registers.test.ts).
      t.equal(await c.ask(`Z4,${watched},4`), 'OK', `${server}: Z4 OK`);
      t.equal(await c.ask(`z4,${watched},4`), 'OK', `${server}: z4 OK`);
      t.equal(await c.ask(`Z2,${watched},4`), 'OK', `${server}: Z2 OK`);
    } finally {
      c.close();
      if ('proc' in s) await s.stop();
      else s.stop();
    }
  }
});

t.test('a write to $_siginfo reaches the handler (qXfer:siginfo:write at its offset), as with gdbserver', async (t) => {
  t.setTimeout(120000);
  const commands = [
    'set sysroot /',
    'continue', // the SIGSEGV
    'set $_siginfo._sifields._sigfault.si_addr = 0x666',
    'echo @signo=',
    'print $_siginfo.si_signo',
    'break on_segv',
    'continue',
    'echo @addr=',
    'print info->_sifields._sigfault.si_addr',
    'kill',
  ];
  for (const server of ['gdbsock', 'gdbserver'] as const) {
    const m = marks(await withServer(server, ['siginfo'], commands));
    t.equal(m.signo, '11', `${server}: the rest of the siginfo is untouched`);
    t.equal(m.addr, '(void', `${server}: the handler got a pointer`);
  }
  const out = await withServer('gdbsock', ['siginfo'], commands);
  t.match(out, /@addr=\$\d+ = \(void \*\) 0x666/, 'the handler sees the address gdb wrote');
});

t.test('catch syscall from inside a vfork: the return is reported with its number, as with gdbserver', async (t) => {
  t.setTimeout(120000);
  const commands = ['set sysroot /', 'catch vfork', 'continue', 'catch syscall', 'continue', 'continue', 'kill'];
  const ours = await withServer('gdbsock', ['vfork'], commands);
  t.match(ours, /Catchpoint 2 \(returned from syscall vfork\)/, 'the vfork return, named');
  t.notMatch(ours, /badly formatted/, 'no malformed stop reply');
  t.equal(normalized(ours).replace(/\d{3,}/g, 'N'), normalized(await withServer('gdbserver', ['vfork'], commands)).replace(/\d{3,}/g, 'N'));
});

t.test('a hit another thread made during a stop-all is not the answer to a step of this one (RSP, Z1)', async (t) => {
  t.setTimeout(120000);
  const line = at('main loop').split(':')[1];
  const info = execFileSync('gdb', ['-q', '-batch', '-nx', '-ex', `info line stops.c:${line}`, stops], { encoding: 'utf8' });
  const loop = /starts at address (0x[0-9a-f]+)/.exec(info)![1]!.slice(2);
  // gdbsock's Z1 is an int3 reported as hwbreak where the debug registers do not fire; gdbserver's then never stops.
  for (const server of gdbserverIsAnchor(t) ? (['gdbsock', 'gdbserver'] as const) : (['gdbsock'] as const)) {
    const s =
      server === 'gdbsock' ? await startGdbsock(['--once', '--listen', '127.0.0.1:0', '--', stops, 'loop', '6']) : await startGdbserver([stops, 'loop', '6']);
    const c = await rspClient(s.target);
    try {
      await c.ask('QStartNoAckMode');
      await c.ask('qSupported:multiprocess+;swbreak+;hwbreak+');
      const pid = Number.parseInt(/^QCp([0-9a-f]+)\./.exec(await c.ask('qC'))![1]!, 16).toString(16);
      await c.ask('?');
      let wrong = 0;
      for (let round = 0; round < 8; round++) {
        t.equal(await c.ask(`Z1,${loop},1`), 'OK');
        const hit = await c.ask('vCont;c');
        const tid = /thread:p[0-9a-f]+\.([0-9a-f]+);/.exec(hit)?.[1];
        t.match(hit, /^T05/, `${server}: a thread hits the loop (round ${round})`);
        // gdb's step over it: out, then only that thread steps.
        t.equal(await c.ask(`z1,${loop},1`), 'OK');
        const step = await c.ask(`vCont;s:p${pid}.${tid}`);
        if (!step.includes(`thread:p${pid}.${tid};`) || /hwbreak/.test(step)) wrong++;
      }
      t.equal(wrong, 0, `${server}: every step stops the stepped thread, never a held hit`);
      await c.ask(`vKill;${pid}`);
    } finally {
      c.close();
      if ('proc' in s) await s.stop();
      else s.stop();
    }
  }
});
