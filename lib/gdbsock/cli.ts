#!/usr/bin/env node
/**
 * gdbsock [options] <pid>  |  gdbsock [options] -- <program> [args...]
 * Attaches to (or launches) a process and serves the GDB remote protocol for
 * it until gdb is done. Whatever happens (gdb disconnects, detaches, SIGINT or
 * SIGTERM to gdbsock), the process is never left stopped or traced.
 */
import type { Readable, Writable } from 'node:stream';
import { liveStartTime } from '../procfs/stat';
import { Connection } from './connection';
import { rawArgs } from './raw-args';
import { PACKET_SIZE, Server, type ServerEnd, type TargetProvider } from './server';
import type { Target } from './target';
import { LiveTarget } from './targets/live';
import { openReadOnly, type ReadOnlyServing } from './targets/open-read-only';
import { type Endpoint, Listener, defaultSocketPath, gdbTarget, isLoopback, parseListen } from './transport';
import './jit-tiering'; // last: module loading runs with V8's default tiering

const USAGE = `usage: gdbsock [options] <pid>
       gdbsock [options] -- <program> [args...]
       gdbsock [options] --core FILE|ID [--exe PROGRAM]
       gdbsock [options] 0 [--kcore FILE] [--kallsyms FILE]

Serve the GDB remote protocol for a Linux process, so a stock gdb can debug it:
attach to <pid> (every thread), or launch <program> stopped at its first instruction.

options:
  --listen HOST:PORT   serve over TCP (default host 127.0.0.1) instead of a unix socket
  --socket PATH        serve on this unix socket path
  --stdio              speak on stdin/stdout:  gdb -ex 'target remote | gdbsock --stdio <pid>'
  --once               exit after the first connection closes
  --core FILE|ID       serve a core file, or a core cored stored (by id), read-only
  --exe PROGRAM        with --core: the program it came from (default: the path the core names)
  --store DIR          with --core ID: cored's store (default: the installed config's)
  0                    the kernel, read-only: memory from an ELF kcore, every task as a thread
  --kcore FILE         with 0: the kernel's memory (default /proc/kcore)
  --kallsyms FILE      with 0: its symbols (default /proc/kallsyms), served as a symbol file
  -h, --help           show this help

By default the socket is $XDG_RUNTIME_DIR/gdbsock/<pid>.sock (/run/gdbsock/<pid>.sock for root).
`;

interface Options {
  listen?: { host: string; port: number };
  socket?: string;
  stdio: boolean;
  once: boolean;
  pid?: number;
  program?: string[];
  core?: string;
  exe?: string;
  store?: string;
  kcore?: string;
  kallsyms?: string;
}

/** --name VALUE or --name=VALUE */
const VALUE_OPTIONS = { '--core': 'core', '--exe': 'exe', '--store': 'store', '--kcore': 'kcore', '--kallsyms': 'kallsyms' } as const;

function parseArgs(argv: string[]): Options {
  const options: Options = { stdio: false, once: false };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '--') {
      options.program = argv.slice(i + 1);
      if (options.program.length === 0) throw new UsageError('-- must be followed by a program');
      break;
    }
    if (a === '-h' || a === '--help') {
      process.stdout.write(USAGE);
      process.exit(0);
    } else if (a === '--once') options.once = true;
    else if (a === '--stdio') options.stdio = true;
    else if (a === '--listen' || a.startsWith('--listen=')) {
      const value = a.includes('=') ? a.slice(a.indexOf('=') + 1) : argv[++i];
      if (!value) throw new UsageError('--listen needs HOST:PORT');
      options.listen = parseListen(value);
    } else if (a === '--socket' || a.startsWith('--socket=')) {
      const value = a.includes('=') ? a.slice(a.indexOf('=') + 1) : argv[++i];
      if (!value) throw new UsageError('--socket needs a path');
      options.socket = value;
    } else if (a.split('=')[0]! in VALUE_OPTIONS) {
      const name = a.split('=')[0] as keyof typeof VALUE_OPTIONS;
      const value = a.includes('=') ? a.slice(a.indexOf('=') + 1) : argv[++i];
      if (!value) throw new UsageError(`${name} needs a value`);
      options[VALUE_OPTIONS[name]] = value;
    } else if (/^\d+$/.test(a) && options.pid === undefined) options.pid = Number(a);
    else throw new UsageError(`unexpected argument '${a}'`);
  }
  const kernel = options.pid === 0;
  if ([options.pid !== undefined, options.program !== undefined, options.core !== undefined].filter(Boolean).length !== 1) {
    throw new UsageError('give one of a pid, 0 (the kernel), --core FILE or -- program');
  }
  if ((options.exe !== undefined || options.store !== undefined) && options.core === undefined) throw new UsageError('--exe and --store go with --core');
  if ((options.kcore !== undefined || options.kallsyms !== undefined) && !kernel) throw new UsageError('--kcore and --kallsyms go with 0 (the kernel)');
  if ([options.stdio, options.listen !== undefined, options.socket !== undefined].filter(Boolean).length > 1) {
    throw new UsageError('--stdio, --listen and --socket exclude each other');
  }
  return options;
}

class UsageError extends Error {}

const provider: TargetProvider = {
  attach: (pid) => LiveTarget.attach(pid),
  launch: (argv, settings) =>
    LiveTarget.launch(argv[0]!, argv.slice(1), {
      env: settings.env,
      disableRandomization: settings.disableRandomization,
      startupWithShell: settings.startupWithShell,
      ...(settings.cwd ? { cwd: settings.cwd } : {}),
    }),
};

const log = (line: string) => process.stderr.write(`gdbsock: ${line}\n`);

/** Leaves a target as gdb would want on the way out: detached and running. */
async function release(target: Target | undefined): Promise<void> {
  if (!target) return;
  try {
    await target.detach();
  } catch (err) {
    log(`detaching from ${target.pid}: ${(err as Error).message}`);
  }
}

async function main(argv: string[]): Promise<void> {
  let options: Options;
  try {
    options = parseArgs(argv);
  } catch (err) {
    if (!(err instanceof UsageError || err instanceof RangeError)) throw err;
    process.stderr.write(`${USAGE}\ngdbsock: ${err.message}\n`);
    process.exit(2);
  }
  // The program and its arguments as the kernel got them: Node's decoding of argv turns bytes that are not UTF-8 into U+FFFD.
  const program = options.program && rawArgs(argv).slice(-options.program.length);
  // A core or the kernel: one read-only target, shown to each connection in turn.
  const fixed: ReadOnlyServing | undefined = await openReadOnly(options);
  let current: Target | undefined = fixed
    ? fixed.target
    : program !== undefined
      ? await LiveTarget.launch(program[0]!, program.slice(1), {
          disableRandomization: true, // as gdbserver does, and gdb by default
          ...(options.stdio ? { stdio: ['inherit', 2, 'inherit'] } : {}),
        })
      : await LiveTarget.attach(options.pid!);
  const pid = current.pid;
  /** The process each new connection attaches to again, unless it has ended since (then its pid may be another's). */
  const attachedStart = options.pid !== undefined && !fixed ? liveStartTime(pid) : undefined;
  let listener: Listener | undefined;
  let busy = false;
  let shuttingDown = false;
  /** The session under way: after vRun, vAttach or a fork gdb kept, its target is no longer `current`. */
  let session: Server | undefined;

  const shutdown = async (code: number) => {
    if (shuttingDown) return;
    shuttingDown = true;
    listener?.close();
    await release(session?.current ?? current);
    current = undefined;
    fixed?.close();
    process.exit(code);
  };
  // Under --stdio gdb's own Ctrl-C reaches its pipe command too; the interrupt gdb means comes as 0x03 on the pipe.
  process.on('SIGINT', () => (options.stdio ? undefined : void shutdown(0)));
  process.on('SIGTERM', () => void shutdown(0));

  const serve = async (input: Readable, output: Writable) => {
    if (fixed) current = fixed.target;
    else if (!current && options.pid !== undefined && !shuttingDown) {
      const now = liveStartTime(options.pid);
      if (now === undefined || now !== attachedStart) log(`process ${options.pid} has ended: serving no process (gdb may attach or run one)`);
      else {
        try {
          current = await LiveTarget.attach(options.pid);
        } catch (err) {
          log(`cannot attach to ${options.pid} again: ${(err as Error).message}`);
        }
      }
    }
    busy = true;
    const connection = new Connection(input, output, PACKET_SIZE + 1024);
    connection.on('protocol-error', (message: string) => log(message));
    const server = new Server(connection, current, fixed ? undefined : provider);
    session = server;
    server.on('log', log);
    server.on('end', (how: ServerEnd) => {
      void (async () => {
        const target = server.current;
        session = undefined;
        // Disconnected without a word: the process goes on as if gdb never came.
        if (target && (how === 'closed' || how === 'exit-requested')) await release(target);
        current = undefined;
        connection.close();
        busy = false;
        if (options.once || how === 'exit-requested' || options.stdio || (options.pid === undefined && !fixed)) await shutdown(0);
      })();
    });
  };

  if (options.stdio) {
    log(`serving ${fixed ? fixed.label : `process ${pid}`} on stdin/stdout`);
    await serve(process.stdin, process.stdout);
    return;
  }
  const endpoint: Exclude<Endpoint, { kind: 'stdio' }> = options.listen
    ? { kind: 'tcp', ...options.listen }
    : { kind: 'unix', path: options.socket ?? (fixed ? fixed.socketPath : defaultSocketPath(pid)) };
  if (endpoint.kind === 'tcp' && !isLoopback(endpoint.host)) {
    log('WARNING: listening beyond loopback. The GDB protocol has no authentication:');
    log(`WARNING: anyone who can reach ${endpoint.host}:${endpoint.port} can ${fixed ? `read ${fixed.label}` : `read, change and run code in process ${pid}`}.`);
  }
  listener = await Listener.open(endpoint, (socket) => {
    if (busy || shuttingDown) {
      socket.end();
      return;
    }
    void serve(socket, socket);
  });
  if (fixed) {
    process.stdout.write(`gdbsock: serving ${fixed.label} read-only; connect with:\n  gdb -ex 'target remote ${gdbTarget(listener.endpoint, pid)}'\n`);
    for (const line of fixed.hints) process.stdout.write(`  ${line}\n`);
    return;
  }
  const how = options.program ? `launched ${options.program[0]}` : 'attached';
  process.stdout.write(`gdbsock: process ${pid} ${how}; connect with:\n  gdb -ex 'target extended-remote ${gdbTarget(listener.endpoint, pid)}'\n`);
}

main(process.argv.slice(2)).catch((err) => {
  log((err as Error).message);
  process.exit(1);
});
