#!/usr/bin/env node
/**
 * gdbsock [options] <pid>  |  gdbsock [options] -- <program> [args...]
 * Attaches to (or launches) a process and serves the GDB remote protocol for
 * it until gdb is done. Whatever happens (gdb disconnects, detaches, SIGINT or
 * SIGTERM to gdbsock), the process is never left stopped or traced. The
 * sessions' lifecycle is session.ts's; here are the arguments, what is
 * printed, and the signals.
 */
import { parseCommandLine, UsageError } from '../cli-args';
import { rawArgs } from './raw-args';
import { Sessions } from './session';
import { LiveTarget, liveProvider } from './targets/live';
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

const OPTIONS = {
  listen: { type: 'string' },
  socket: { type: 'string' },
  stdio: { type: 'boolean' },
  once: { type: 'boolean' },
  core: { type: 'string' },
  exe: { type: 'string' },
  store: { type: 'string' },
  kcore: { type: 'string' },
  kallsyms: { type: 'string' },
  help: { type: 'boolean', short: 'h' },
} as const;

function parseArgs(argv: string[]): Options {
  // A program and its own arguments come after `--`, untouched; before it, at most one pid.
  const { values, positionals, rest } = parseCommandLine(argv, OPTIONS, { positionals: 1, after: 'dashes' });
  if (values.help) {
    process.stdout.write(USAGE);
    process.exit(0);
  }
  const options: Options = { stdio: values.stdio ?? false, once: values.once ?? false };
  for (const name of ['socket', 'core', 'exe', 'store', 'kcore', 'kallsyms', 'listen'] as const) {
    const value = values[name];
    if (value === undefined) continue;
    if (value === '') throw new UsageError(`--${name} needs a value`);
    if (name === 'listen') options.listen = parseListen(value);
    else options[name] = value;
  }
  const [pid] = positionals;
  if (pid !== undefined) {
    if (!/^\d+$/.test(pid)) throw new UsageError(`unexpected argument '${pid}'`);
    options.pid = Number(pid);
  }
  if (argv.includes('--')) {
    options.program = rest;
    if (rest.length === 0) throw new UsageError('-- must be followed by a program');
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

const log = (line: string) => process.stderr.write(`gdbsock: ${line}\n`);

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
  const first = fixed
    ? fixed.target
    : program !== undefined
      ? await LiveTarget.launch(program[0]!, program.slice(1), {
          disableRandomization: true, // as gdbserver does, and gdb by default
          ...(options.stdio ? { stdio: ['inherit', 2, 'inherit'] } : {}),
        })
      : await LiveTarget.attach(options.pid!);
  const pid = first.pid;
  const sessions = new Sessions({
    target: first,
    ...(fixed ? { next: 'same' } : { provider: liveProvider, next: options.pid !== undefined ? 'reattach' : 'none' }),
    once: options.once || options.stdio,
  });
  sessions.on('log', log);
  let listener: Listener | undefined;
  let shuttingDown = false;
  const shutdown = async (code: number) => {
    if (shuttingDown) return;
    shuttingDown = true;
    listener?.close();
    await sessions.close();
    fixed?.close();
    process.exit(code);
  };
  sessions.on('done', () => void shutdown(0));
  // Under --stdio gdb's own Ctrl-C reaches its pipe command too; the interrupt gdb means comes as 0x03 on the pipe.
  process.on('SIGINT', () => (options.stdio ? undefined : void shutdown(0)));
  process.on('SIGTERM', () => void shutdown(0));

  if (options.stdio) {
    log(`serving ${fixed ? fixed.label : `process ${pid}`} on stdin/stdout`);
    sessions.accept(process.stdin, process.stdout);
    return;
  }
  const endpoint: Exclude<Endpoint, { kind: 'stdio' }> = options.listen
    ? { kind: 'tcp', ...options.listen }
    : { kind: 'unix', path: options.socket ?? (fixed ? fixed.socketPath : defaultSocketPath(pid)) };
  if (endpoint.kind === 'tcp' && !isLoopback(endpoint.host)) {
    log('WARNING: listening beyond loopback. The GDB protocol has no authentication:');
    log(
      `WARNING: anyone who can reach ${endpoint.host}:${endpoint.port} can ${fixed ? `read ${fixed.label}` : `read, change and run code in process ${pid}`}.`,
    );
  }
  listener = await Listener.open(endpoint, (socket) => {
    // One gdb at a time: another is turned away.
    if (shuttingDown || !sessions.accept(socket, socket)) socket.end();
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
