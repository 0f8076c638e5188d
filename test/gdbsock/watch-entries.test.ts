/**
 * Several watchpoints fired by one access: one `watch:ADDR;` (or rwatch,
 * awatch) entry per watchpoint in the stop reply (GDB manual, "Stop Reply
 * Packets"; gdb 17 reads them all, older gdb the last). gdbserver 13.1 names
 * one only: it is the anchor for that one being among ours, where the debug
 * registers fire. Where they do not, gdbsock watches by stepping, and the
 * oracle is the store itself (both words written at once).
 */
import t from 'tap';
import { gdbserverIsAnchor } from '../debug-registers';
import { fixture, symbol } from '../helpers';
import { rspClient, runGdb, startGdbserver, startGdbsock } from './gdb';

const watchpair = fixture('watchpair');
const pair = symbol(watchpair, 'pair');
const low = pair.toString(16);
const high = (pair + 8n).toString(16);

const main = symbol(watchpair, 'main').toString(16);

/** The stop reply to a continue after inserting `inserts` at main, through one server (from main: stepping ld.so for an emulated watchpoint would take seconds). */
async function stopAfter(server: 'gdbsock' | 'gdbserver', mode: string, inserts: string[]): Promise<string> {
  const s = server === 'gdbsock' ? await startGdbsock(['--once', '--listen', '127.0.0.1:0', '--', watchpair, mode]) : await startGdbserver([watchpair, mode]);
  const c = await rspClient(s.target);
  try {
    await c.ask('QStartNoAckMode');
    await c.ask('?');
    for (const z of [`Z0,${main},1`, 'vCont;c', `z0,${main},1`]) if (!/^(OK|T05)/.test(await c.ask(z, 30000))) throw new Error(`${server}: ${z} failed`);
    for (const z of inserts) if ((await c.ask(z)) !== 'OK') throw new Error(`${server}: ${z} refused`);
    return await c.ask('vCont;c', 30000);
  } finally {
    c.close();
    if ('proc' in s) await s.stop();
    else s.stop();
  }
}

/** The watch entries of a stop reply, in order, addresses without gdbserver's leading zeros. */
function entries(reply: string): string[] {
  return [...reply.matchAll(/(?<=^T05|;)((?:a|r)?watch):([0-9a-f]+);/g)].map((m) => `${m[1]}:${BigInt(`0x${m[2]}`).toString(16)}`);
}

const address = (entry: string) => entry.slice(entry.indexOf(':') + 1);

t.test('one 16-byte store over two watched words: a watch entry for each', async (t) => {
  const inserts = [`Z2,${low},8`, `Z2,${high},8`];
  const ours = await stopAfter('gdbsock', 'wide', inserts);
  t.match(ours, /^T05/, ours);
  t.same(entries(ours).sort(), [`watch:${low}`, `watch:${high}`].sort(), 'both words');
  if (!gdbserverIsAnchor(t)) return;
  const theirs = await stopAfter('gdbserver', 'wide', inserts);
  t.equal(entries(theirs).length, 1, `gdbserver 13.1 names one: ${theirs}`);
  t.ok(entries(ours).includes(entries(theirs)[0]!), "gdbserver's among ours");
  t.equal(address(entries(ours).at(-1)!), address(entries(theirs)[0]!), 'gdb before 17 keeps the last entry: the address gdbserver names');
});

t.test('two watchpoints on one word (write and access): one entry each, the word watched twice', async (t) => {
  const inserts = [`Z2,${low},8`, `Z4,${low},8`];
  const ours = await stopAfter('gdbsock', 'narrow', inserts);
  t.same(entries(ours).sort(), [`awatch:${low}`, `watch:${low}`], ours);
  if (!gdbserverIsAnchor(t)) return;
  const theirs = await stopAfter('gdbserver', 'narrow', inserts);
  t.equal(entries(theirs).length, 1, `gdbserver 13.1 names one: ${theirs}`);
  t.ok(
    entries(ours)
      .map(address)
      .includes(address(entries(theirs)[0]!)),
    "gdbserver's address among ours",
  );
  t.equal(address(entries(ours).at(-1)!), address(entries(theirs)[0]!), 'gdb before 17 keeps the last entry: the address gdbserver names');
});

t.test('a watchpoint split over two debug registers is still one entry', async (t) => {
  // 16 bytes take two 8-byte slots; the store fires both.
  const ours = await stopAfter('gdbsock', 'wide', [`Z2,${low},10`]);
  t.same(entries(ours), [`watch:${low}`], ours);
});

t.test('gdb 13+ through both servers: two watchpoints one store fires, the same session', async (t) => {
  t.setTimeout(120000);
  const commands = ['set sysroot /', 'break main', 'continue', 'watch pair[0]', 'watch pair[1]', 'continue', 'continue', 'continue'];
  const out: Record<string, string> = {};
  const anchored = gdbserverIsAnchor(t);
  for (const server of anchored ? (['gdbsock', 'gdbserver'] as const) : (['gdbsock'] as const)) {
    const s =
      server === 'gdbsock' ? await startGdbsock(['--once', '--listen', '127.0.0.1:0', '--', watchpair, 'wide']) : await startGdbserver([watchpair, 'wide']);
    try {
      out[server] = normalized(await runGdb(`target extended-remote ${s.target}`, commands, { file: watchpair, timeout: 60000 }));
    } finally {
      if ('proc' in s) await s.stop();
      else s.stop();
    }
  }
  t.match(out.gdbsock, /Hardware watchpoint \d: pair\[\d\]\s+Old value = 0\s+New value = [12]/, 'a watchpoint reported');
  if (anchored) t.equal(out.gdbsock, out.gdbserver, 'what gdb makes of it is the same');
});

/** gdb's output without what differs between two runs: pids, and the inferior's own lines. */
function normalized(out: string): string {
  return out
    .replace(/process \d+/g, 'process N')
    .split('\n')
    .filter((l) => !/^pair |^Reading |warning: |^Process |Child exited|Remote debugging|Listening/.test(l))
    .join('\n');
}
