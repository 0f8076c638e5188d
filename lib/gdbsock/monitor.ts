/**
 * gdb's `monitor` commands (qRcmd, GDB manual "General Query Packets"):
 * gdbsock's own, none passed to a target. The set and the lines gdb's
 * testsuite looks for (gdb.server/server-mon.exp) are gdbserver's.
 */

import { DEFAULT_THREAD_DB_SEARCH_PATH, type ThreadDbSettings } from './thread-db-path';

/** What `monitor set debug…` turns on: diagnostics on gdbsock's stderr. */
export interface DebugSettings {
  /** General events (sessions, targets). */
  debug: boolean;
  /** Every packet in and out. */
  remote: boolean;
  /** Thread events (gdbserver 14+'s `threads` component). */
  threads: boolean;
  /** The event loop (`event-loop`). */
  eventLoop: boolean;
  /** Debug registers (`set debug-hw-points`). */
  hwPoints: boolean;
  /** Each debug line starts with the time. */
  timestamps: boolean;
}

export function defaultDebugSettings(): DebugSettings {
  return { debug: false, remote: false, threads: false, eventLoop: false, hwPoints: false, timestamps: false };
}

/**
 * Whose wording `set debug 0|1` answers in. gdbserver 14 renamed its debug
 * switches ("General debug output enabled.") in the release whose gdb first
 * offers `error-message+`; a gdb, its scripts and its testsuite expect the
 * words of the gdbserver of their own generation.
 */
export type MonitorDialect = 'gdbserver-13' | 'gdbserver-14';

/** The dialect of a gdb that sent these qSupported features. */
export function dialectOf(features: Set<string>): MonitorDialect {
  return features.has('error-message+') ? 'gdbserver-14' : 'gdbserver-13';
}

export interface MonitorAnswer {
  /** For gdb's console. */
  output: string;
  /** false: the command is unknown or malformed (gdb shows an error after the output). */
  ok: boolean;
  /** `monitor exit`: stop serving as soon as the reply is out. */
  exit: boolean;
}

// The first line is gdbsock's. gdb's testsuite takes a stub for a GDBserver (target_is_gdbserver
// in lib/gdb.exp) by the list's heading and "Quit GDBserver", and then expects what any GDBserver
// shows, known gdb bugs of remote targets included (step-over-exec.exp's gdb/27020).
const HELP = `gdbsock monitor commands, as gdbserver's.
The following monitor commands are supported:
  set debug <on|off>
    Enable general debugging messages; off disables all of them
  set debug COMPONENT <on|off>
    Enable debugging messages for COMPONENT, which is
    one of: all, threads, remote, event-loop.
  set debug-hw-points <0|1>
    Enable h/w breakpoint/watchpoint debugging messages
  set debug-format option1[,option2,...]
    Add extra information to debugging messages
    Options: all, none, timestamp
  set remote-debug <0|1>
    Enable remote protocol debugging messages (gdbserver 13's form)
  set libthread-db-search-path [PATH]
    Where thread_db libraries are looked for (empty: the default)
  exit
    Quit GDBserver (gdbsock) at once: attached processes are detached, launched ones killed
`;

const done = (output: string): MonitorAnswer => ({ output, ok: true, exit: false });
const unknown: MonitorAnswer = { output: 'Unknown monitor command.\n\n', ok: false, exit: false };
/** A malformed `set debug…`: the reason, then the help, and an error for gdb (as gdbserver 14+). */
const malformed = (reason: string): MonitorAnswer => ({ output: `${reason}\n${HELP.slice(HELP.indexOf('\n') + 1)}`, ok: false, exit: false });

const THREAD_DB_PATH = /^set libthread-db-search-path(?:\s+([\s\S]*))?$/;
const ON = new Set(['on', '1']);
const OFF = new Set(['off', '0']);
const COMPONENTS = ['all', 'threads', 'remote', 'event-loop'] as const;
/** What gdbserver 14+'s `set debug COMPONENT` and `--debug=COMPONENT` name. */
export type DebugComponent = (typeof COMPONENTS)[number];

export function isDebugComponent(name: string): name is DebugComponent {
  return (COMPONENTS as readonly string[]).includes(name);
}

/**
 * Runs a monitor command, changing `debug` for `set debug…` and `threadDb`
 * for `set libthread-db-search-path`. Both gdbserver 13's and 14's forms are
 * understood whatever the dialect; the dialect picks the words of replies
 * that differ between them.
 */
export function monitorCommand(command: string, debug: DebugSettings, threadDb?: ThreadDbSettings, dialect: MonitorDialect = 'gdbserver-14'): MonitorAnswer {
  const searchPath = threadDb && THREAD_DB_PATH.exec(command);
  if (threadDb && searchPath) {
    // As gdbserver: no PATH (or only spaces) sets the default again.
    threadDb.searchPath = searchPath[1] || DEFAULT_THREAD_DB_SEARCH_PATH;
    return done(`libthread-db-search-path set to \`${threadDb.searchPath}'\n`);
  }
  const words = command.trim().split(/\s+/);
  const [verb, setting, ...rest] = words;
  if (words.length === 1 && verb === 'help') return done(HELP);
  if (words.length === 1 && verb === 'exit') return { output: '', ok: true, exit: true };
  if (verb !== 'set' || rest.length === 0) return unknown;
  switch (setting) {
    case 'debug':
      return setDebug(rest, debug, dialect);
    case 'remote-debug':
      return onOff(rest, (on) => {
        debug.remote = on;
        return `Protocol debug output ${on ? 'enabled' : 'disabled'}.\n`;
      });
    case 'debug-hw-points':
      return onOff(rest, (on) => {
        debug.hwPoints = on;
        return `H/W point debugging output ${on ? 'enabled' : 'disabled'}.\n`;
      });
    case 'debug-format':
      return rest.length === 1 ? debugFormat(rest[0]!, debug) : unknown;
    default:
      return unknown;
  }
}

/** gdbserver 13's `set X 0|1` (on and off too): one value, nothing after it. */
function onOff(values: string[], apply: (on: boolean) => string): MonitorAnswer {
  const [value] = values;
  if (values.length !== 1 || !(ON.has(value!) || OFF.has(value!))) return unknown;
  return done(apply(ON.has(value!)));
}

/** `set debug on|off` and `set debug COMPONENT on|off`, with gdbserver 14+'s complaints. */
function setDebug(args: string[], debug: DebugSettings, dialect: MonitorDialect): MonitorAnswer {
  const [first, value, ...junk] = args as [string, ...string[]];
  if (ON.has(first) || OFF.has(first)) {
    if (value !== undefined) return malformed(`Junk '${[value, ...junk].join(' ')}' found at end of 'set debug ${first}' command.`);
    const on = ON.has(first);
    if (on) debug.debug = true;
    else setComponent(debug, 'all', false);
    if (dialect === 'gdbserver-13') return done(`Debug output ${on ? 'enabled' : 'disabled'}.\n`);
    return done(on ? 'General debug output enabled.\n' : 'All debug output disabled.\n');
  }
  if (value === undefined) return malformed(`Missing value for 'set debug ${first}' command.`);
  if (!isDebugComponent(first)) return malformed(`Error: unknown debug option '${first}'`);
  if (!ON.has(value) && !OFF.has(value)) return malformed(`Invalid value '${value}' for 'set debug ${first}'.`);
  if (junk.length > 0) return malformed(`Junk '${junk.join(' ')}' found at end of 'set debug ${first} ${value}' command.`);
  setComponent(debug, first, ON.has(value));
  return done(`Debug output for '${first}' ${ON.has(value) ? 'enabled' : 'disabled'}.\n`);
}

/** Turns one component's messages on or off; `all` is every one and the general messages. */
export function setComponent(debug: DebugSettings, component: DebugComponent, on: boolean): void {
  if (component === 'all' || component === 'remote') debug.remote = on;
  if (component === 'all' || component === 'threads') debug.threads = on;
  if (component === 'all' || component === 'event-loop') debug.eventLoop = on;
  if (component === 'all') debug.debug = on;
}

/** A comma-separated list of all, none and timestamp, applied in order. */
function debugFormat(list: string, debug: DebugSettings): MonitorAnswer {
  let output = '';
  for (const option of list.split(',')) {
    switch (option) {
      case 'all':
      case 'timestamp':
        debug.timestamps = true;
        output += option === 'all' ? 'All extra debug format options enabled.\n' : 'Timestamps will be added to debug output.\n';
        break;
      case 'none':
        debug.timestamps = false;
        output += 'All extra debug format options disabled.\n';
        break;
      default:
        return { output: `Unknown debug-format argument: "${option}"\n`, ok: false, exit: false };
    }
  }
  return done(output);
}

/** One debug line as gdbsock writes it to stderr. */
export function debugLine(debug: DebugSettings, line: string): string {
  // Microseconds, as gdbserver prints them: the clock's wall time, read at the monotonic clock's resolution.
  return debug.timestamps ? `${((performance.timeOrigin + performance.now()) / 1000).toFixed(6)} ${line}` : line;
}

/** A packet for the remote-debug log: printable bytes as they are, others as \xNN, long ones cut. */
export function packetLine(direction: 'getpkt' | 'putpkt', payload: Buffer): string {
  const shown = payload
    .subarray(0, 400)
    .toString('latin1')
    .replace(/[^\x20-\x7e]/g, (c) => `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`);
  return `${direction} ("${shown}"${payload.length > 400 ? ` ... ${payload.length} bytes` : ''});`;
}
