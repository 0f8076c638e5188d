/**
 * gdbserver's command line, so that whatever starts gdbserver (IDEs, scripts,
 * gdb's own testsuite) can start gdbsock unchanged:
 *
 *   gdbsock [--once] [--multi] [--attach] [--wrapper WRAPPER... --] COMM [PROG [ARGS...] | PID]
 *
 * COMM is HOST:PORT, :PORT, `-` or `stdio` (gdbserver 13's `--help`). gdbserver
 * stops reading its own options at COMM; so does this.
 */
import { parseCommandLine, UsageError } from '../cli-args';
import { type DebugComponent, isDebugComponent } from './monitor';

export type Comm = { kind: 'tcp'; host: string; port: number } | { kind: 'stdio' };

export interface GdbserverCommandLine {
  comm: Comm;
  /** COMM as given, for gdbserver's messages about it. */
  commText: string;
  once: boolean;
  multi: boolean;
  /** --attach PID. */
  pid?: number;
  /** PROG ARGS...; none with --multi alone. */
  program?: string[];
  wrapper: string[];
  startupWithShell: boolean;
  disableRandomization: boolean;
  debug: boolean;
  remoteDebug: boolean;
  /** gdbserver 14+'s `--debug=COMPONENT[,...]`: all, threads, remote, event-loop. */
  debugComponents: DebugComponent[];
  timestamps: boolean;
  debugFile?: string;
  help: boolean;
  version: boolean;
  /** gdbserver's own unit tests: gdbsock has none built in (its tests are the package's). */
  selftest: boolean;
  /** Options gdbserver has and gdbsock accepts without acting on (said on stderr). */
  ignored: string[];
}

/** A COMM gdbserver would refuse, with gdbserver's own words for it (the testsuite matches them). */
export class CommError extends Error {
  override name = 'CommError';
}

const OPTIONS = {
  once: { type: 'boolean' },
  multi: { type: 'boolean' },
  attach: { type: 'boolean' },
  'startup-with-shell': { type: 'boolean' },
  'no-startup-with-shell': { type: 'boolean' },
  'disable-randomization': { type: 'boolean' },
  'no-disable-randomization': { type: 'boolean' },
  debug: { type: 'boolean' },
  'remote-debug': { type: 'boolean' },
  'event-loop-debug': { type: 'boolean' },
  'debug-format': { type: 'string' },
  'debug-file': { type: 'string' },
  'disable-packet': { type: 'string' },
  help: { type: 'boolean' },
  version: { type: 'boolean' },
  selftest: { type: 'boolean' },
} as const;

/** Options only gdbserver's command line has: any of them means that form. */
const GDBSERVER_ONLY = new Set(Object.keys(OPTIONS).filter((name) => name !== 'once' && name !== 'help'));
/** gdbsock's own options that take a value (the value may look like COMM: `--listen :1234`). */
const GDBSOCK_VALUED = new Set(['--listen', '--socket', '--core', '--exe', '--store', '--kcore', '--kallsyms']);

/** `-`, `stdio`, or anything with a colon (HOST:PORT, :PORT): what gdbserver takes for COMM rather than a program. */
export function looksLikeComm(word: string): boolean {
  return word === '-' || word === 'stdio' || word.includes(':');
}

/**
 * Whether `argv` is gdbserver's form: a gdbserver-only option, or a first
 * positional that is a COMM. gdbsock's own form has a pid, `0` or `--` there.
 */
export function isGdbserverCommandLine(argv: readonly string[]): boolean {
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '--') return false;
    if (a.startsWith('--') && GDBSERVER_ONLY.has(a.slice(2).split('=')[0]!)) return true;
    if (a === '--wrapper') return true;
    if (GDBSOCK_VALUED.has(a)) {
      i++;
      continue;
    }
    if (a === '-' || !a.startsWith('-')) return looksLikeComm(a);
  }
  return false;
}

export function parseGdbserverCommandLine(argv: readonly string[]): GdbserverCommandLine {
  // gdbserver's options end at COMM; `--wrapper` takes every word up to `--`.
  const own: string[] = [];
  const wrapper: string[] = [];
  const debugComponents: string[] = [];
  let i = 0;
  for (; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '--wrapper') {
      const end = argv.indexOf('--', i + 1);
      if (end < 0) throw new UsageError("--wrapper must be followed by a command and '--'");
      if (end === i + 1) throw new UsageError('--wrapper needs a command before --');
      wrapper.push(...argv.slice(i + 1, end));
      i = end;
      continue;
    }
    if (a === '-' || !a.startsWith('-')) break;
    if (a.startsWith('--debug=')) {
      debugComponents.push(...a.slice('--debug='.length).split(','));
      continue;
    }
    own.push(a);
    if ((a === '--debug-format' || a === '--debug-file' || a === '--disable-packet') && i + 1 < argv.length) own.push(argv[++i]!);
  }
  const { values } = parseCommandLine(own, OPTIONS);
  const [commText, ...rest] = argv.slice(i);
  // `COMM --attach PID` works too (gdbserver's older order; gdb's testsuite uses it).
  const attachAfterComm = rest[0] === '--attach';
  if (attachAfterComm) rest.shift();
  const line: GdbserverCommandLine = {
    comm: { kind: 'stdio' },
    commText: commText ?? '',
    once: values.once ?? false,
    multi: values.multi ?? false,
    wrapper,
    startupWithShell: !values['no-startup-with-shell'],
    disableRandomization: !values['no-disable-randomization'],
    debug: values.debug ?? false,
    remoteDebug: values['remote-debug'] ?? false,
    debugComponents: [],
    timestamps: false,
    help: values.help ?? false,
    version: values.version ?? false,
    selftest: values.selftest ?? false,
    ignored: [],
  };
  if (line.help || line.version || line.selftest) return line;
  for (const component of debugComponents) {
    if (!isDebugComponent(component)) throw new UsageError(`--debug: unknown debug option '${component}' (all, threads, remote or event-loop)`);
    line.debugComponents.push(component);
  }
  for (const format of values['debug-format']?.split(',') ?? []) {
    if (format === 'all' || format === 'timestamp') line.timestamps = true;
    else if (format === 'none') line.timestamps = false;
    else throw new UsageError(`--debug-format: unknown option '${format}' (all, none or timestamp)`);
  }
  if (values['debug-file'] !== undefined) line.debugFile = values['debug-file'];
  if (values['disable-packet'] !== undefined) line.ignored.push(`--disable-packet=${values['disable-packet']}`);
  if (values['event-loop-debug']) line.ignored.push('--event-loop-debug');
  if (commText === undefined) throw new UsageError('give COMM: HOST:PORT, :PORT, - or stdio');
  line.comm = parseComm(commText);
  if (values.attach || attachAfterComm) {
    const [pid, ...extra] = rest;
    if (pid === undefined || !/^\d+$/.test(pid) || Number(pid) === 0)
      throw new UsageError(`--attach needs a process id after COMM${pid === undefined ? '' : `, not '${pid}'`}`);
    if (extra.length > 0) throw new UsageError(`unexpected argument '${extra[0]}'`);
    line.pid = Number(pid);
  } else if (rest.length > 0) {
    line.program = rest;
  } else if (!line.multi) {
    throw new UsageError('give a program to run, --attach and a pid, or --multi');
  }
  return line;
}

/**
 * COMM as gdbserver reads it. A serial device (gdbserver's other kind of
 * COMM) is not served; a bad port gets gdbserver's getaddrinfo message.
 */
export function parseComm(comm: string): Comm {
  if (comm === '-' || comm === 'stdio') return { kind: 'stdio' };
  const colon = comm.lastIndexOf(':');
  if (colon < 0) throw new CommError(`Could not open remote device: ${comm}: gdbsock serves TCP (HOST:PORT, :PORT) or stdio (-), not serial lines.`);
  const host = comm.slice(0, colon).replace(/^\[(.*)\]$/, '$1');
  const portText = comm.slice(colon + 1);
  const port = Number(portText);
  if (!/^\d+$/.test(portText) || port > 65535) throw new CommError(`${comm}: cannot resolve name: Servname not supported for ai_socktype`);
  // gdbserver listens on every interface for `:PORT`; gdbsock stays on loopback unless a host is named (the protocol has no authentication).
  return { kind: 'tcp', host: host || '127.0.0.1', port };
}
