#!/usr/bin/env node
/**
 * gdbsock [options] <pid>  |  gdbsock [options] -- <program> [args...]
 * gdbsock [--once] [--multi] [--attach] COMM [PROG [ARGS...] | PID]  (gdbserver's form, gdbserver-args.ts)
 * Attaches to (or launches) a process and serves the GDB remote protocol for
 * it until gdb is done. Whatever happens (gdb disconnects, detaches, SIGINT or
 * SIGTERM to gdbsock), the process is never left stopped or traced (after
 * SIGTERM, a program gdbsock launched is killed, as gdbserver does). The
 * sessions' lifecycle is session.ts's; here are the arguments, what is
 * printed, and the signals.
 */
import fs from 'node:fs';
import { packageVersion, parseCommandLine, UsageError } from '../cli-args';
import { CommError, type GdbserverCommandLine, isGdbserverCommandLine, parseGdbserverCommandLine } from './gdbserver-args';
import type { ExecString } from '../ptrace';
import type { TargetProvider } from './launch-settings';
import { type DebugSettings, debugLine, defaultDebugSettings, setComponent } from './monitor';
import { rawArgs } from './raw-args';
import { Sessions } from './session';
import type { Target } from './target';
import { LiveTarget, liveProvider } from './targets/live';
import type { ReadOnlyServing } from './targets/open-read-only';
const readOnlyTargets = () => require('./targets/open-read-only') as typeof import('./targets/open-read-only');
import { type Endpoint, Listener, defaultSocketPath, gdbTarget, isLoopback, parseListen } from './transport';
import { agentOutputToStderr } from './agent-output';
import './quick-close';
import './jit-tiering'; // last: module loading runs with V8's default tiering

const USAGE = `usage: gdbsock [options] <pid>
       gdbsock [options] -- <program> [args...]
       gdbsock [options] --core FILE|ID [--exe PROGRAM]
       gdbsock [options] 0 [--kcore FILE] [--kallsyms FILE]
       gdbsock [--once] [--multi] [--attach] [gdbserver options] COMM [PROG [ARGS...] | PID]

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

gdbserver's command line works too, so whatever starts gdbserver can start gdbsock:
  COMM                 HOST:PORT, :PORT (loopback; name a host such as 0.0.0.0 to go beyond), - or stdio
  --attach             COMM is followed by the pid to attach to
  --multi              keep serving when gdb's process is gone (gdb runs or attaches another);
                       without PROG or PID, start with no process
  --wrapper W... --    start programs through the command W... (which must exec them)
  --no-startup-with-shell, --startup-with-shell (default)
  --no-disable-randomization, --disable-randomization (default)
  --debug, --remote-debug, --debug-format=all|none|timestamp, --debug-file=FILE
Without --once or --multi, a process gdb disconnects from is kept, stopped, for the next
gdb; serving ends when it is gone. gdbserver's --once, --multi and monitor commands behave as there.
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
  /** Given in gdbserver's form. */
  gdbserver?: GdbserverCommandLine;
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
  if (isGdbserverCommandLine(argv)) return fromGdbserverForm(parseGdbserverCommandLine(argv));
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

/** gdbserver's form as the options of gdbsock's own. */
function fromGdbserverForm(line: GdbserverCommandLine): Options {
  if (line.help) {
    process.stdout.write(USAGE);
    process.exit(0);
  }
  if (line.selftest) {
    // The words gdb.server/unittest.exp takes for "none here".
    process.stdout.write('Selftests have been disabled for this build.\n');
    process.exit(0);
  }
  if (line.version) {
    process.stdout.write(`gdbsock (hostkit) ${packageVersion()}\nA GDB remote-protocol server that takes gdbserver's command line.\n`);
    process.exit(0);
  }
  const options: Options = { stdio: line.comm.kind === 'stdio', once: line.once, gdbserver: line };
  if (line.comm.kind === 'tcp') options.listen = { host: line.comm.host, port: line.comm.port };
  if (line.pid !== undefined) options.pid = line.pid;
  if (line.program !== undefined) options.program = line.program;
  return options;
}

let logTo = 2;
const log = (line: string) => fs.writeSync(logTo, `gdbsock: ${line}\n`);
/**
 * gdbserver's own lines, unprefixed (scripts and gdb's testsuite wait for "Listening on port").
 * Written straight to fd 2: making process.stderr's stream costs start-up time, and Node writes to
 * a pipe or a terminal synchronously anyway.
 */
const say = (line: string) => fs.writeSync(2, `${line}\n`);

async function main(argv: string[]): Promise<void> {
  let options: Options;
  try {
    options = parseArgs(argv);
  } catch (err) {
    if (err instanceof CommError) {
      say(`${err.message}\nExiting`);
      process.exit(1);
    }
    if (!(err instanceof UsageError || err instanceof RangeError)) throw err;
    process.stderr.write(`${USAGE}\ngdbsock: ${err.message}\n`);
    process.exit(2);
  }
  const gs = options.gdbserver;
  if (gs) return serveAsGdbserver(options, gs, argv);
  // The program and its arguments as the kernel got them: Node's decoding of argv turns bytes that are not UTF-8 into U+FFFD.
  const program = options.program && rawArgs(argv).slice(-options.program.length);
  // A core or the kernel: one read-only target, shown to each connection in turn.
  // Loaded only for a core or the kernel: the core engine, cored's store and zstd are most of gdbsock's start-up otherwise.
  const readOnly = options.core !== undefined || options.pid === 0;
  const fixed: ReadOnlyServing | undefined = readOnly ? await readOnlyTargets().openReadOnly(options) : undefined;
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
    ...(program && !fixed ? { program } : {}),
    once: options.once || options.stdio,
  });
  sessions.on('log', log);
  const end = endOfServing(sessions, options.stdio, () => fixed?.close());

  if (options.stdio) {
    agentOutputToStderr(); // what breakpoint commands print must not land in the protocol
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
  let listener: Listener;
  try {
    listener = Listener.open(endpoint);
    listener.accept((socket) => {
      // One gdb at a time: another is turned away.
      if (end.closing || !sessions.accept(socket, socket)) socket.end();
    });
  } catch (err) {
    // No gdb will come: the program launched for it must not run on untraced.
    await sessions.close({ killLaunched: true });
    throw err;
  }
  end.listener = listener;
  if (fixed) {
    process.stdout.write(`gdbsock: serving ${fixed.label} read-only; connect with:\n  gdb -ex 'target remote ${gdbTarget(listener.endpoint, pid)}'\n`);
    for (const line of fixed.hints) process.stdout.write(`  ${line}\n`);
    return;
  }
  const how = options.program ? `launched ${options.program[0]}` : 'attached';
  process.stdout.write(`gdbsock: process ${pid} ${how}; connect with:\n  gdb -ex 'target extended-remote ${gdbTarget(listener.endpoint, pid)}'\n`);
}

/**
 * gdbserver's lookup of a program named without a slash: the file of that
 * name in the current directory if there is one, else $PATH's
 * (gdb.server/abspath.exp).
 */
function inCurrentDirectory(program: ExecString): ExecString {
  const bytes = Buffer.from(program);
  if (bytes.includes(0x2f)) return program;
  try {
    return fs.statSync(bytes).isFile() ? Buffer.concat([Buffer.from(`${process.cwd()}/`), bytes]) : program;
  } catch {
    return program;
  }
}

/** The provider of gdbserver's form: programs started through --wrapper, and found as gdbserver finds them. */
function gdbserverProvider(wrapper: string[]): TargetProvider {
  return {
    attach: (pid) => LiveTarget.attach(pid),
    launch: (argv, settings) =>
      LiveTarget.launch(inCurrentDirectory(argv[0]!), argv.slice(1), {
        env: settings.env,
        disableRandomization: settings.disableRandomization,
        startupWithShell: settings.startupWithShell,
        wrapper,
        ...(settings.cwd ? { cwd: settings.cwd } : {}),
      }),
  };
}

/**
 * gdbserver's form: its lines on stderr ("Process PROG created; pid = N",
 * "Listening on port N"), its errors for COMM, and its lifecycle: the
 * process is kept for the next gdb (until --once), and --multi serves on
 * with no process.
 */
async function serveAsGdbserver(options: Options, gs: GdbserverCommandLine, argv: string[]): Promise<void> {
  const debug: DebugSettings = { ...defaultDebugSettings(), debug: gs.debug, remote: gs.remoteDebug, timestamps: gs.timestamps };
  for (const component of gs.debugComponents) setComponent(debug, component, true);
  if (gs.debugFile !== undefined) logTo = fs.openSync(gs.debugFile, 'a');
  for (const option of gs.ignored) log(`${option} is not supported; ignored`);
  const provider = gdbserverProvider(gs.wrapper);
  const program = options.program && rawArgs(argv).slice(-options.program.length);
  let first: Target | undefined;
  if (options.stdio) say('stdin/stdout redirected');
  // As gdbserver (remote_prepare before the inferior): bound first, so a busy port creates nothing.
  const listener = options.stdio ? undefined : listenAsGdbserver(gs, options.listen!);
  try {
    if (program !== undefined) {
      first = await LiveTarget.launch(inCurrentDirectory(program[0]!), program.slice(1), {
        disableRandomization: gs.disableRandomization,
        startupWithShell: gs.startupWithShell,
        wrapper: gs.wrapper,
        ...(options.stdio ? { stdio: ['inherit', 2, 'inherit'] } : {}),
      });
      say(`Process ${options.program![0]} created; pid = ${first.pid}`);
    } else if (options.pid !== undefined) {
      first = await LiveTarget.attach(options.pid);
      say(`Attached; pid = ${first.pid}`);
    }
  } catch (err) {
    listener?.close();
    // gdbserver's last lines for each (gdb.server/non-existing-program.exp looks for them).
    if (options.pid !== undefined) say(`Cannot attach to process ${options.pid}: ${(err as Error).message}\nExiting`);
    else say(`gdbsock: ${(err as Error).message}\nError creating process\n\nExiting`);
    process.exit(1);
  }
  const sessions = new Sessions({
    target: first,
    provider,
    next: 'keep',
    multi: gs.multi,
    once: options.once || options.stdio,
    debug,
    ...(program ? { program: [inCurrentDirectory(program[0]!), ...program.slice(1)] } : {}),
  });
  sessions.on('log', (line: string) => log(debug.timestamps ? debugLine(debug, line) : line));
  const end = endOfServing(sessions, options.stdio);
  if (!listener) {
    say('Remote debugging using stdio');
    sessions.accept(process.stdin, process.stdout);
    return;
  }
  listener.accept((socket) => {
    if (end.closing || !sessions.accept(socket, socket)) return void socket.end();
    say(`Remote debugging from host ${socket.remoteAddress}, port ${socket.remotePort}`);
  });
  end.listener = listener;
  if (listener.endpoint.kind === 'tcp') say(`Listening on port ${listener.endpoint.port}`);
}

/** gdbserver's COMM bound and listening (not yet accepting), or gdbserver's lines for why not, and exit. */
function listenAsGdbserver(gs: GdbserverCommandLine, { host, port }: { host: string; port: number }): Listener {
  if (!isLoopback(host)) log(`WARNING: listening on ${gs.commText} beyond loopback: the GDB protocol has no authentication.`);
  try {
    return Listener.open({ kind: 'tcp', host, port });
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'EADDRINUSE') say("Can't bind address: Address already in use.");
    else if (code === 'ENOTFOUND' || code === 'EAI_AGAIN') say(`${gs.commText}: cannot resolve name: Name or service not known`);
    else say(`Can't listen on socket: ${(err as Error).message}`);
    say('Exiting');
    process.exit(1);
  }
}

/**
 * How serving ends, the same for both command-line forms: once, on 'done',
 * SIGINT or SIGTERM, the listener closes, every session lets its process go
 * as it decides, `release` frees what the target held, and gdbsock exits.
 * Under --stdio gdb's own Ctrl-C reaches its pipe command too; the interrupt
 * gdb means comes as 0x03 on the pipe, so SIGINT is ignored there.
 */
function endOfServing(sessions: Sessions, stdio: boolean, release?: () => void): { listener?: Listener; readonly closing: boolean } {
  let closing = false;
  const end: { listener?: Listener; readonly closing: boolean } = {
    get closing() {
      return closing;
    },
  };
  const shutdown = async (terminated = false) => {
    if (closing) return;
    closing = true;
    end.listener?.close();
    // SIGTERM, as gdbserver: a program gdbsock launched dies with it, a process it attached to is let go.
    await sessions.close({ killLaunched: terminated });
    release?.();
    process.exit(0);
  };
  sessions.on('done', () => void shutdown());
  // A handler either way: under --stdio it keeps gdb's Ctrl-C from killing gdbsock.
  process.on('SIGINT', () => (stdio ? undefined : void shutdown()));
  process.on('SIGTERM', () => void shutdown(true));
  return end;
}

main(process.argv.slice(2)).catch((err) => {
  log((err as Error).message);
  process.exit(1);
});
