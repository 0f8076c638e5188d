/**
 * qXfer:libraries-svr4 with link-map namespaces (GDB manual, "Library List
 * Format for SVR4 Targets"): the dlmopen fixture loads libtlsmod.so into the
 * base namespace and into two namespaces of its own; gdbsock lists every
 * namespace's libraries, each tagged with its namespace's r_debug as lmid,
 * as gdbserver does, and answers the start/prev/lmid annex gdb sends for one
 * namespace.
 */
import t from 'tap';
import { fixture, symbol } from '../helpers';
import { requireTool, rspClient, runGdb, startGdbserver, startGdbsock } from './gdb';

requireTool('gdb');
requireTool('gdbserver');
const binary = fixture('dlmopen');
const ready = symbol(binary, 'dlmopen_ready').toString(16);

interface Library {
  name: string;
  lm: string;
  lmid: string;
}

function libraries(document: string): Library[] {
  return [...document.matchAll(/<library name="([^"]*)" lm="(0x[0-9a-f]+)" l_addr="0x[0-9a-f]+" l_ld="0x[0-9a-f]+" lmid="(0x[0-9a-f]+)"\/>/g)].map((m) => ({
    name: m[1]!,
    lm: m[2]!,
    lmid: m[3]!,
  }));
}

/** The shared-library table `info sharedlibrary` prints: the lines that name a library. */
function sharedLibraryLines(out: string): string[] {
  return out
    .split('\n')
    .filter((line) => /^0x[0-9a-f]+ +0x[0-9a-f]+ +\S+ +\S/.test(line))
    .map((line) => line.replace(/^\S+ +\S+ +/, ''));
}

t.test('info sharedlibrary at dlmopen_ready lists every namespace, as through gdbserver', async (t) => {
  const commands = ['break dlmopen_ready', 'continue', 'info sharedlibrary', 'kill'];
  const ours = await startGdbsock(['--once', '--listen', '127.0.0.1:0', '--', binary]);
  t.teardown(() => ours.stop());
  const oursOut = await runGdb(`target extended-remote ${ours.target}`, commands, { file: binary, timeout: 60000 });
  const anchor = await startGdbserver([binary]);
  t.teardown(() => anchor.stop());
  const anchorOut = await runGdb(`target remote ${anchor.target}`, commands, { file: binary, timeout: 60000 });
  const oursLines = sharedLibraryLines(oursOut);
  const anchorLines = sharedLibraryLines(anchorOut);
  t.equal(oursLines.filter((l) => l.endsWith('/libtlsmod.so')).length, 3, `libtlsmod.so three times (one per namespace):\n${oursOut}`);
  t.same(oursLines, anchorLines, 'the same libraries, in the same order, as through gdbserver');
});

t.test('qXfer:libraries-svr4: lmid per namespace, and the start/prev/lmid annex', async (t) => {
  for (const server of ['gdbsock', 'gdbserver'] as const) {
    const s = server === 'gdbsock' ? await startGdbsock(['--once', '--listen', '127.0.0.1:0', '--', binary]) : await startGdbserver([binary]);
    const c = await rspClient(s.target);
    try {
      await c.ask('QStartNoAckMode');
      const supported = await c.ask('qSupported:multiprocess+;swbreak+;hwbreak+');
      t.match(supported, /(^|;)augmented-libraries-svr4-read\+(;|$)/, `${server}: augmented-libraries-svr4-read+`);
      await c.ask('?');
      t.equal(await c.ask(`Z0,${ready},1`), 'OK');
      t.match(await c.ask('vCont;c'), /^T05/, `${server}: stopped at dlmopen_ready`);
      const all = (await c.ask('qXfer:libraries-svr4:read::0,fff')).slice(1);
      t.match(all, /^<library-list-svr4 version="1.0" main-lm="0x[0-9a-f]+">/, `${server}: main-lm`);
      const listed = libraries(all);
      const ours = listed.filter((l) => l.name.endsWith('/libtlsmod.so'));
      t.equal(ours.length, 3, `${server}: libtlsmod.so in three namespaces`);
      t.equal(new Set(ours.map((l) => l.lmid)).size, 3, `${server}: each under a namespace of its own`);
      const namespaces = [...new Set(listed.map((l) => l.lmid))];
      t.equal(namespaces.length, 3, `${server}: three namespaces`);
      // The last namespace alone, from its first library on, as gdb asks after a dlmopen.
      const last = listed.filter((l) => l.lmid === namespaces[2]);
      const annex = `start=${last[0]!.lm.slice(2)};prev=0;lmid=${namespaces[2]!.slice(2)}`;
      const one = (await c.ask(`qXfer:libraries-svr4:read:${annex}:0,fff`)).slice(1);
      t.match(one, /^<library-list-svr4 version="1.0">/, `${server}: no main-lm for one namespace`);
      t.same(libraries(one), last, `${server}: that namespace's libraries`);
      // From its second library on, with the first as prev.
      const rest = (
        await c.ask(`qXfer:libraries-svr4:read:start=${last[1]!.lm.slice(2)};prev=${last[0]!.lm.slice(2)};lmid=${namespaces[2]!.slice(2)}:0,fff`)
      ).slice(1);
      t.same(libraries(rest), last.slice(1), `${server}: from the second library on`);
      // A prev that is not the start's l_prev: the list is cut there.
      const wrong = (await c.ask(`qXfer:libraries-svr4:read:start=${last[1]!.lm.slice(2)};prev=8;lmid=${namespaces[2]!.slice(2)}:0,fff`)).slice(1);
      t.same(libraries(wrong), [], `${server}: nothing past a broken prev`);
    } finally {
      c.close();
      if ('proc' in s) await s.stop();
      else s.stop();
    }
  }
});

t.test('a program started as `ld.so PROG`: gdb finds its libraries itself, as with gdbserver (gdb.server/solib-list.exp)', async (t) => {
  // The process's own program is then ld.so, which has no DT_DEBUG: gdbserver answers the
  // library list with an error and gdb finds r_debug through ld.so's _r_debug symbol. An empty
  // list instead left gdb with no libraries at all.
  // PROG is loaded only once ld.so runs: it stops itself later, with a fault (stops siginfo).
  const ldso = '/lib64/ld-linux-x86-64.so.2';
  const program = [ldso, fixture('stops'), 'siginfo'];
  const commands = ['continue', 'info sharedlibrary', 'kill'];
  const ours = await startGdbsock(['--once', '--listen', '127.0.0.1:0', '--', ...program]);
  t.teardown(() => ours.stop());
  const oursOut = await runGdb(`target extended-remote ${ours.target}`, commands, { timeout: 60000 });
  const anchor = await startGdbserver(program);
  t.teardown(() => anchor.stop());
  const anchorOut = await runGdb(`target remote ${anchor.target}`, commands, { timeout: 60000 });
  const oursLines = sharedLibraryLines(oursOut);
  t.ok(
    oursLines.some((l) => /\/libc\.so\.6$/.test(l)),
    `libc listed:\n${oursOut}`,
  );
  t.same(oursLines, sharedLibraryLines(anchorOut), 'the same libraries as through gdbserver');
});

t.test('a breakpoint in a library loaded where an unloaded one was: hit, as with gdbserver (gdb.base/unload.exp)', async (t) => {
  // gdb leaves the breakpoint of an unloaded library as it was and inserts the new one at the
  // same address: gdbsock, which still had the first, must see that its trap went with the old code.
  const reload = fixture('reload');
  const commands = ['set breakpoint pending on', 'break tlsmod_set', 'break tlsmod2_set', 'continue', 'continue', 'info breakpoints', 'kill'];
  const ours = await startGdbsock(['--once', '--listen', '127.0.0.1:0', '--', reload]);
  t.teardown(() => ours.stop());
  const oursOut = await runGdb(`target extended-remote ${ours.target}`, commands, { file: reload, timeout: 60000 });
  const anchor = await startGdbserver([reload]);
  t.teardown(() => anchor.stop());
  const anchorOut = await runGdb(`target remote ${anchor.target}`, commands, { file: reload, timeout: 60000 });
  const [first, second] = [...anchor.output().matchAll(/tlsmod2?_set (0x[0-9a-f]+)/g)].map((m) => m[1]);
  t.equal(first, second, 'the two functions at one address (else this tests nothing)');
  const hits = (out: string) => [...out.matchAll(/^Breakpoint (\d+), (\w+) /gm)].map((m) => `${m[1]} ${m[2]}`);
  t.same(hits(oursOut), ['1 tlsmod_set', '2 tlsmod2_set'], `both breakpoints hit:\n${oursOut}`);
  t.same(hits(oursOut), hits(anchorOut), 'as through gdbserver');
  t.notMatch(oursOut, /exited normally/, 'the program was still there to kill');
});
