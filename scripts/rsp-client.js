'use strict';
// A bare GDB remote-protocol client for the scripts (the build's code-cache
// training, the Ctrl-C benchmark): it frames packets with gdbsock's own
// framer, as gdb sends them (no run-length encoding), reads replies with
// gdbsock's own decoder, and takes them in order, each with the moment it
// arrived. Acks ('+') are sent until
// QStartNoAckMode is answered, as gdb does.
const net = require('node:net');
const path = require('node:path');

/** dist/ of the package this script belongs to, or of ROOT (another copy of it). */
function packet(root = path.join(__dirname, '..')) {
  return require(path.join(root, 'dist', 'gdbsock', 'packet.js'));
}

/**
 * Connects to 127.0.0.1:PORT (TCP_NODELAY, as gdb). Returns { socket, send,
 * next, ask, interrupt }: next(ms) resolves with the next reply
 * ({ body, at }: the body run-length decoded, `at` process.hrtime.bigint()
 * when it came), or rejects after ms (no limit if omitted) or when the
 * connection closes; ask(body, ms = ASK_LIMIT_MS) sends and resolves with
 * the reply's body.
 */
const ASK_LIMIT_MS = 10_000;

async function connectRsp(port, root) {
  const { frame, runLengthDecode, PacketDecoder } = packet(root);
  const socket = net.connect(port, '127.0.0.1');
  socket.setNoDelay(true);
  await new Promise((resolve, reject) => socket.once('connect', resolve).once('error', reject));
  const decoder = new PacketDecoder(1 << 22);
  let acking = true;
  let closed = false;
  const waiting = [];
  const replies = [];
  socket.on('close', () => {
    closed = true;
    for (const take of waiting.splice(0)) take(undefined);
  });
  socket.on('data', (d) => {
    for (const f of decoder.push(d)) {
      if (f.kind !== 'packet') continue;
      if (acking) socket.write('+');
      const reply = { body: runLengthDecode(f.payload).toString('latin1'), at: process.hrtime.bigint() };
      const take = waiting.shift();
      if (take) take(reply);
      else replies.push(reply);
    }
  });
  const next = (ms) =>
    new Promise((resolve, reject) => {
      if (replies.length) return resolve(replies.shift());
      if (closed) return reject(new Error('the connection closed'));
      const take = (reply) => {
        clearTimeout(timer);
        if (reply === undefined) reject(new Error('the connection closed'));
        else resolve(reply);
      };
      const timer =
        ms === undefined
          ? undefined
          : setTimeout(() => {
              waiting.splice(waiting.indexOf(take), 1);
              reject(new Error(`no reply within ${ms} ms`));
            }, ms);
      waiting.push(take);
    });
  const send = (body) => socket.write(frame(Buffer.from(body, 'latin1'), false));
  const ask = async (body, ms = ASK_LIMIT_MS) => {
    send(body);
    const { body: reply } = await next(ms);
    if (body === 'QStartNoAckMode') acking = false;
    return reply;
  };
  return { socket, send, next, ask, interrupt: () => socket.write('\x03') };
}

module.exports = { connectRsp };
