/** Shared by the gdbsock tests: start gdbsock (the built CLI) and drive a real gdb against it. */
import { type ChildProcess, execFile, execFileSync, spawn } from 'node:child_process';
import { once } from 'node:events';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import readline from 'node:readline';
import { PacketDecoder, frame, runLengthDecode } from '../../lib/gdbsock/packet';

const CLI = path.join(__dirname, '..', '..', 'dist', 'gdbsock', 'cli.js');
/** gdb's working directory: one that hits an internal error dumps its core there (core_pattern "core"), not in the checkout. */
const GDB_CWD = os.tmpdir();

/** Our environment without tap's NODE_OPTIONS loaders, which would ride along into gdbsock. */
export function cleanEnv(): NodeJS.ProcessEnv {
  const env = { ...process.env };
  delete env.NODE_OPTIONS;
  for (const key of Object.keys(env)) if (key.startsWith('TAP') || key.startsWith('_TAPJS')) delete env[key];
  return env;
}

/**
 * The gdb and gdbserver a test drives: each a command line to put the tool's
 * own arguments after (a path, or a loader and its options, then the path),
 * and what to add to gdb's environment (gdbserver's is left as gdbsock's, so
 * the programs both start see the same one). The host's by default; gdb
 * 16.3's from a Debian 13 tree with test/gdbsock/debian13.ts.
 */
export interface GdbTools {
  gdb: readonly string[];
  gdbserver: readonly string[];
  gdbEnv: Readonly<Record<string, string>>;
}

export const HOST_TOOLS: GdbTools = { gdb: ['gdb'], gdbserver: ['gdbserver'], gdbEnv: {} };

/** gdbsock started with gdbserver's command line: a `gdbserver` for GdbTools, a drop-in for the real one. */
export const GDBSOCK_AS_GDBSERVER: readonly string[] = [process.execPath, CLI];

/** gdb and gdbserver are real peers here: missing means the machine is not set up, so fail loudly. */
export function requireTool(name: string): void {
  try {
    execFileSync('sh', ['-c', `command -v ${name}`], { stdio: 'ignore' });
  } catch {
    throw new Error(`${name} is missing: apt-get install ${name}`);
  }
}

/** The installed gdb's major version (13 on Debian 12, 16 on Debian 13): for the few messages whose spelling changed. */
export function gdbMajor(): number {
  if (major === undefined) {
    const m = /^GNU gdb .* (\d+)\.\d+/m.exec(execFileSync('gdb', ['--version'], { encoding: 'utf8' }));
    if (!m) throw new Error('gdb --version printed no version');
    major = Number(m[1]);
  }
  return major;
}
let major: number | undefined;

export interface Gdbsock {
  proc: ChildProcess;
  /** What to put after `target extended-remote`. */
  target: string;
  pid: number;
  stderr(): string;
  exited: Promise<number | null>;
  stop(): Promise<void>;
}

/** Starts gdbsock and waits for its "connect with" line. */
export async function startGdbsock(args: string[]): Promise<Gdbsock> {
  const proc = spawn(process.execPath, [CLI, ...args], { stdio: ['ignore', 'pipe', 'pipe'], env: cleanEnv() });
  let err = '';
  proc.stderr!.on('data', (d: Buffer) => (err += d.toString()));
  const exited = once(proc, 'exit').then(([code]) => code as number | null);
  const lines = readline.createInterface({ input: proc.stdout! });
  let pid = 0;
  const target = await new Promise<string>((resolve, reject) => {
    lines.on('line', (line) => {
      const p = /process (\d+)/.exec(line);
      if (p) pid = Number(p[1]);
      const m = /target extended-remote (.*)'$/.exec(line);
      if (m) resolve(m[1]!);
    });
    void exited.then((code) => reject(new Error(`gdbsock exited (${code}) before listening: ${err}`)));
  });
  return {
    proc,
    target,
    pid,
    stderr: () => err,
    exited,
    stop: async () => {
      if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGTERM');
      await exited;
    },
  };
}

/** Runs gdb in batch mode: connect with `connect`, then each command; returns everything gdb printed. */
export function runGdb(connect: string, commands: string[], options: { file?: string; timeout?: number; tools?: GdbTools } = {}): Promise<string> {
  const tools = options.tools ?? HOST_TOOLS;
  const args = [...tools.gdb.slice(1), '-q', '-batch', '-nx', '-ex', 'set pagination off', '-ex', 'set confirm off', '-ex', connect];
  for (const c of commands) args.push('-ex', c);
  if (options.file) args.push(options.file);
  const env = { ...cleanEnv(), ...tools.gdbEnv };
  return new Promise((resolve, reject) => {
    execFile(tools.gdb[0]!, args, { timeout: options.timeout ?? 30000, encoding: 'utf8', env, cwd: GDB_CWD }, (error, stdout, stderr) => {
      const out = stdout + stderr;
      if (error && (error as { killed?: boolean }).killed) reject(new Error(`gdb timed out; it said:\n${out}`));
      else resolve(out);
    });
  });
}

/** A server started with gdbserver's command line: its process, where it listens, what it printed. */
export interface Listening {
  proc: ChildProcess;
  target: string;
  /** What the server (and the programs it runs) printed so far. */
  output(): string;
  /** Its exit code (null when a signal ended it). */
  exited: Promise<number | null>;
}

/**
 * Spawns `file argv` (gdbserver, or gdbsock with gdbserver's command line) and
 * resolves once it prints "Listening on port N" on stdout or stderr.
 */
export async function startListening(name: string, file: string, argv: string[]): Promise<Listening> {
  const proc = spawn(file, argv, { stdio: ['ignore', 'pipe', 'pipe'], env: cleanEnv() });
  let text = '';
  const exited = once(proc, 'exit').then(([code]) => code as number | null);
  const port = await new Promise<number>((resolve, reject) => {
    const look = (d: Buffer) => {
      text += d.toString();
      const m = /Listening on port (\d+)/.exec(text);
      if (m) resolve(Number(m[1]));
    };
    proc.stdout!.on('data', look);
    proc.stderr!.on('data', look);
    void exited.then((code) => reject(new Error(`${name} exited (${code}): ${text}`)));
  });
  return { proc, target: `127.0.0.1:${port}`, output: () => text, exited };
}

/** gdbsock's built CLI with gdbserver's command line `args`. */
export function startGdbsockAsGdbserver(args: string[]): Promise<Listening> {
  return startListening('gdbsock', process.execPath, [CLI, ...args]);
}

/**
 * gdb on a pipe, one command at a time: it reads the next command from its
 * event loop, so stops in non-stop mode are printed as they come. `send`
 * resolves with what gdb said after the command once it matches `expect`.
 */
export function interactiveGdb(
  program: string,
  tools: GdbTools = HOST_TOOLS,
): { send: (cmd: string, expect: RegExp, timeoutMs?: number) => Promise<string>; proc: ChildProcess } {
  const args = [...tools.gdb.slice(1), '-q', '-nx', '-ex', 'set pagination off', '-ex', 'set confirm off', '-ex', 'set width 0', program];
  const proc = spawn(tools.gdb[0]!, args, {
    stdio: ['pipe', 'pipe', 'pipe'],
    env: { ...cleanEnv(), ...tools.gdbEnv },
    cwd: GDB_CWD,
  });
  let out = '';
  proc.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  proc.stderr!.on('data', (d: Buffer) => (out += d.toString()));
  const send = async (cmd: string, expect: RegExp, timeoutMs = 60000): Promise<string> => {
    const from = out.length;
    proc.stdin!.write(`${cmd}\n`);
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const said = out.slice(from);
      if (expect.test(said)) return said;
      if (proc.exitCode !== null) throw new Error(`gdb exited after ${cmd}: ${said}`);
      if (Date.now() > deadline) throw new Error(`gdb: no ${expect} after ${cmd}; it said:\n${said}`);
      await new Promise((r) => setTimeout(r, 20));
    }
  };
  return { send, proc };
}

export interface Gdbserver {
  target: string;
  exited: Promise<unknown>;
  /** What gdbserver and its inferior printed so far. */
  output(): string;
  stop(): void;
}

/** gdbserver --once on a free TCP port, for the comparisons; with `multi`, no program until gdb runs one. */
export async function startGdbserver(args: string[], options: { multi?: boolean; tools?: GdbTools } = {}): Promise<Gdbserver> {
  const mode = options.multi ? ['--multi'] : [];
  const tools = options.tools ?? HOST_TOOLS;
  const { proc, target, exited, output } = await startListening('gdbserver', tools.gdbserver[0]!, [
    ...tools.gdbserver.slice(1),
    '--once',
    ...mode,
    '127.0.0.1:0',
    ...args,
  ]);
  return { target, exited, output, stop: () => void (proc.exitCode === null && proc.kill()) };
}

/** The anchor or gdbsock, each serving `argv` (a program and its arguments) once on a free TCP port. */
export function startServer(kind: 'gdbserver' | 'gdbsock', argv: string[]): Promise<{ target: string; stop(): unknown }> {
  return kind === 'gdbserver' ? startGdbserver(argv) : startGdbsock(['--once', '--listen', '127.0.0.1:0', '--', ...argv]);
}

/** A bare RSP client over TCP: acks until QStartNoAckMode, one packet at a time. */
export async function rspClient(target: string) {
  const [host, port] = target.split(':');
  const socket = net.connect(Number(port), host);
  await new Promise((resolve, reject) => socket.once('connect', resolve).once('error', reject));
  const decoder = new PacketDecoder(1 << 22);
  const replies: string[] = [];
  let acking = true;
  let wake: (() => void) | undefined;
  let closed = false;
  socket.on('close', () => {
    closed = true;
    wake?.();
  });
  socket.on('data', (d: Buffer) => {
    for (const f of decoder.push(d)) {
      if (f.kind !== 'packet') continue;
      if (acking) socket.write('+');
      replies.push(runLengthDecode(f.payload).toString('latin1'));
      wake?.();
    }
  });
  /** Sends a packet without waiting for its reply (a vCont;c whose stop comes later). */
  const send = (body: string): void => void socket.write(frame(Buffer.from(body, 'latin1'), false));
  /** The next packet from the server; `what` names it in the error when none comes. */
  const next = async (timeoutMs: number, what: string): Promise<string> => {
    const deadline = Date.now() + timeoutMs;
    while (replies.length === 0) {
      if (closed) throw new Error(`connection closed awaiting ${what}`);
      if (Date.now() > deadline) throw new Error(`no ${what}`);
      await new Promise<void>((resolve) => {
        wake = resolve;
        setTimeout(resolve, 100);
      });
    }
    return replies.shift()!;
  };
  const ask = async (body: string, timeoutMs = 10000): Promise<string> => {
    send(body);
    const reply = await next(timeoutMs, `reply to ${JSON.stringify(body)}`);
    if (body === 'QStartNoAckMode' && reply === 'OK') acking = false;
    return reply;
  };
  /** gdb's Ctrl-C: the interrupt byte, outside any packet. */
  const interrupt = (): void => void socket.write('\x03');
  /** Packets that came unasked and were not read yet. */
  const unread = (): string[] => replies.splice(0);
  return { ask, send, next, interrupt, unread, socket, close: () => socket.destroy() };
}
