/**
 * The server against a small in-memory Target (the shape a core-file target
 * will have): every packet, well-formed or hostile, gets exactly one reply and
 * nothing throws or hangs.
 */
import { PassThrough } from 'node:stream';
import t from 'tap';
import { Connection } from '../../lib/gdbsock/connection';
import { PacketDecoder, frame, runLengthDecode } from '../../lib/gdbsock/packet';
import { x86_64Layout } from '../../lib/gdbsock/registers';
import { Server } from '../../lib/gdbsock/server';
import type { StopEvent, Target } from '../../lib/gdbsock/target';

/** The stop reply for the memory target: every general register, the pc and stack pointer set, the rest zero. */
function expectedStop(): string {
  const layout = x86_64Layout();
  const value: Record<string, string> = { rsp: '0018000000000000', rip: '0010000000000000' };
  const regs = layout.expedited.map((n) => {
    const r = layout.registers[n]!;
    return `${n.toString(16).padStart(2, '0')}:${value[r.name] ?? '00'.repeat(r.size)};`;
  });
  return `T05${regs.join('')}thread:p7.7;`;
}

function memoryTarget(): Target {
  const base = 0x1000n;
  const memory = Buffer.alloc(4096, 0x90);
  const regs = { gpr: { rip: base, rsp: base + 0x800n } as Record<string, bigint>, fxsave: Buffer.alloc(512) };
  const stop: StopEvent = { kind: 'signal', tid: 7, signal: 5 };
  return {
    pid: 7,
    registers: x86_64Layout(),
    attached: true,
    threads: () => [{ tid: 7, name: 'fake' }],
    isAlive: (tid) => tid === 7,
    readRegisters: () => x86_64Layout().encodeAll(regs),
    readRegister: (_tid, n) => x86_64Layout().encode(regs, n),
    writeRegister: (_tid, n, v) => void x86_64Layout().decode(regs, n, v),
    writeRegisters: (_tid, data) => {
      let at = 0;
      for (const [n, r] of x86_64Layout().registers.entries()) {
        if (at + r.size <= data.length) x86_64Layout().decode(regs, n, data.subarray(at, at + r.size));
        at += r.size;
      }
    },
    readMemory: (address, length) => {
      if (address < base || address >= base + 4096n) return Buffer.alloc(0);
      const at = Number(address - base);
      return memory.subarray(at, Math.min(at + length, memory.length));
    },
    writeMemory: (address, data) => {
      if (address < base || address + BigInt(data.length) > base + 4096n) return 0;
      data.copy(memory, Number(address - base));
      return data.length;
    },
    insertBreakpoint: (type) => {
      if (type !== 'software') throw new RangeError('no debug registers here');
    },
    removeBreakpoint: () => {},
    resume: async () => {},
    wait: async () => stop,
    interrupt: () => {},
    lastStop: () => stop,
    detach: async () => {},
    kill: async () => {},
    auxv: () => Buffer.alloc(16),
    execFile: () => '/fake',
    siginfo: () => Buffer.alloc(128),
    writeSiginfo: () => {},
    librariesSvr4: async () => '<library-list-svr4 version="1.0"/>',
    useSession: () => {},
    capabilities: {},
  };
}

function session(target: Target = memoryTarget()) {
  const toServer = new PassThrough();
  const fromServer = new PassThrough();
  const connection = new Connection(toServer, fromServer, 0x1000);
  const server = new Server(connection, target);
  const logs: string[] = [];
  server.on('log', (l: string) => logs.push(l));
  const decoder = new PacketDecoder(1 << 22);
  const replies: string[] = [];
  fromServer.on('data', (d: Buffer) => {
    for (const f of decoder.push(d)) if (f.kind === 'packet') replies.push(runLengthDecode(f.payload).toString('latin1'));
  });
  const ask = async (body: string | Buffer) => {
    const before = replies.length;
    toServer.write(frame(typeof body === 'string' ? Buffer.from(body, 'latin1') : body, false));
    for (let i = 0; i < 50 && replies.length === before; i++) await new Promise((r) => setImmediate(r));
    return replies.slice(before);
  };
  return { ask, logs, replies };
}

t.test('a memory target answers the core packets', async (t) => {
  const { ask } = session();
  t.same(await ask('QStartNoAckMode'), ['OK']);
  t.match((await ask('qSupported:multiprocess+;swbreak+'))[0], /PacketSize=100000;.*multiprocess\+/);
  const stopReply = expectedStop();
  t.match(stopReply, /06:0000000000000000;07:0018000000000000;.*10:0010000000000000;/, 'rbp, rsp and rip among them');
  t.same(await ask('?'), [stopReply], 'every general register expedited');
  t.same(await ask('m1000,4'), ['90909090']);
  t.same(await ask('M1000,2:cccc'), ['OK']);
  t.same(await ask('m1000,3'), ['cccc90']);
  t.same(await ask('m0,4'), ['E01']);
  t.same(await ask('qfThreadInfo'), ['mp7.7']);
  t.same(await ask('qXfer:threads:read::0,1000'), ['l<?xml version="1.0"?>\n<threads>\n<thread id="p7.7" name="fake"/>\n</threads>\n']);
  t.match((await ask('qXfer:features:read:target.xml:0,3fff'))[0], /^l<\?xml.*<reg name="ymm15h"/s);
  t.same(await ask('Z1,1000,1'), ['E01'], 'a target without debug registers refuses Z1');
  t.same(await ask('vCont?'), ['vCont;c;C;s;S;t;r']);
  t.same(await ask('vCont;c'), [stopReply]);
});

t.test('a target with no threads left lists none: qfThreadInfo is l, not an empty m', async (t) => {
  const { ask } = session({ ...memoryTarget(), threads: () => [] });
  t.same(await ask('QStartNoAckMode'), ['OK']);
  t.same(await ask('qfThreadInfo'), ['l']);
  t.same(await ask('qsThreadInfo'), ['l']);
});

t.test('fuzz: 3000 hostile packets, one reply each, no throw', async (t) => {
  const { ask, replies } = session();
  await ask('QStartNoAckMode');
  let seed = 99;
  const rand = (n: number) => {
    seed = (seed * 1103515245 + 12345) & 0x7fffffff;
    return seed % n;
  };
  const prefixes = [
    'm',
    'M',
    'X',
    'g',
    'G',
    'p',
    'P',
    'Z0,',
    'z1,',
    'H',
    'T',
    'qXfer:',
    'qXfer:features:read:',
    'qXfer:siginfo:write::',
    'vCont;',
    'vFile:fstat:',
    'vFile:pread:',
    'vFile:close:',
    'vFile:setfs:',
    'qRcmd,',
    'qCRC:',
    'qSearch:memory:',
    'QPassSignals:',
    'QCatchSyscalls:1;',
    'QEnvironmentHexEncoded:',
    'qSupported:',
    'vRun;',
    'vAttach;',
    'c',
    'C',
    'S',
    'Hg',
    'qC',
  ];
  // No vFile:open/pwrite/unlink here: those touch real files.
  const alphabet = '0123456789abcdefABCDEF,:;.-=p}xX\u00ff\u0000';
  let missing = 0;
  for (let i = 0; i < 3000; i++) {
    let body = prefixes[rand(prefixes.length)]!;
    const n = rand(40);
    for (let k = 0; k < n; k++) body += alphabet[rand(alphabet.length)];
    // Console output ('O' and hex, for monitor commands) may come first; then exactly one reply.
    const got = (await ask(body)).filter((r) => !/^O([0-9a-f]{2})+$/.test(r));
    if (got.length !== 1) {
      missing++;
      t.comment(`${JSON.stringify(body)} got ${JSON.stringify(got)}`);
    }
  }
  t.equal(missing, 0, 'every packet got exactly one final reply');
  t.ok(replies.length > 3000);
});
