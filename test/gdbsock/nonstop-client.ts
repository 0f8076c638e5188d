/**
 * A bare RSP client for non-stop mode (GDB manual, "Remote Non-Stop",
 * "Notification Packets"), shared by the non-stop tests: replies and %Stop
 * notifications kept apart, and the vStopped queue drained.
 */
import net from 'node:net';
import type { Test } from 'tap';
import { frame, runLengthDecode } from '../../lib/gdbsock/packet';

/**
 * A bare RSP client that keeps notifications (`%Stop:...`) apart from
 * replies. Stop replies hold no `#` or `$`, and nothing here reads binary
 * data, so a pattern is enough to frame them.
 */
export async function nonStopClient(target: string) {
  const [host, port] = target.split(':');
  const socket = net.connect(Number(port), host);
  await new Promise((resolve, reject) => socket.once('connect', resolve).once('error', reject));
  let text = '';
  let acking = true;
  const replies: string[] = [];
  const notes: string[] = [];
  /** Everything that came, in order: `$` for a reply, `%` for a notification. */
  const order: string[] = [];
  socket.on('data', (d: Buffer) => {
    text += d.toString('latin1');
    for (;;) {
      text = text.replace(/^[+-]+/, '');
      const m = /^([$%])([^#]*)#[0-9a-f]{2}/.exec(text);
      if (!m) break;
      text = text.slice(m[0].length);
      if (m[1] === '$') {
        if (acking) socket.write('+');
      }
      const body = runLengthDecode(Buffer.from(m[2]!, 'latin1')).toString('latin1');
      if (m[1] === '$') replies.push(body);
      else notes.push(body);
      order.push(m[1] + body);
    }
  });
  const until = async (have: () => boolean, what: string, timeoutMs = 20000) => {
    const deadline = Date.now() + timeoutMs;
    while (!have()) {
      if (socket.destroyed) throw new Error(`connection closed waiting for ${what}`);
      if (Date.now() > deadline) throw new Error(`no ${what}`);
      await new Promise((r) => setTimeout(r, 20));
    }
  };
  const ask = async (body: string): Promise<string> => {
    socket.write(frame(Buffer.from(body, 'latin1'), false));
    await until(() => replies.length > 0, `reply to ${body}`);
    const reply = replies.shift()!;
    if (body === 'QStartNoAckMode' && reply === 'OK') acking = false;
    return reply;
  };
  const notification = async (): Promise<string> => {
    await until(() => notes.length > 0, 'stop notification');
    return notes.shift()!;
  };
  return { ask, notification, order, close: () => socket.destroy() };
}

export type Client = Awaited<ReturnType<typeof nonStopClient>>;

export const hex = (n: number | bigint) => n.toString(16);
export const threadOf = (stop: string) => Number.parseInt(/thread:p[0-9a-f]+\.([0-9a-f]+);/.exec(stop)?.[1] ?? 'x', 16);
/** The stop reply's kind and signal or code: T05, T00, W0 (gdbserver spells exit codes without padding). */
export const kindOf = (stop: string) => (stop[0] === 'W' ? `W${Number.parseInt(stop.slice(1), 16)}` : stop.slice(0, 3));

/** Every stop of the vStopped queue after `first` (a notification, or `?`'s answer), up to gdb's OK. */
export async function drain(c: Client, first: string): Promise<string[]> {
  const stops = [first];
  for (;;) {
    const next = await c.ask('vStopped');
    if (next === 'OK') return stops;
    stops.push(next);
    if (stops.length > 20) throw new Error(`vStopped never ends: ${stops.join(' ')}`);
  }
}

/**
 * The opening of a packet-level non-stop session, as gdb makes it: the
 * features, no-ack mode, QNonStop:1, the process's id (qC), the stops `?`
 * lists taken, and the leader named with Hg (gdbserver 13 crashes on a Z in
 * non-stop without one). Returns the process's id.
 */
export async function openNonStop(t: Test, c: Client, features = 'multiprocess+;swbreak+;hwbreak+;no-resumed+'): Promise<number> {
  await c.ask(`qSupported:${features}`);
  await c.ask('QStartNoAckMode');
  t.equal(await c.ask('QNonStop:1'), 'OK');
  const pid = Number.parseInt(/^QCp([0-9a-f]+)\./.exec(await c.ask('qC'))![1]!, 16);
  await drain(c, await c.ask('?'));
  t.equal(await c.ask(`Hgp${hex(pid)}.${hex(pid)}`), 'OK');
  return pid;
}
