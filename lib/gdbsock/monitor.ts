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
  /** Each debug line starts with the time. */
  timestamps: boolean;
}

export function defaultDebugSettings(): DebugSettings {
  return { debug: false, remote: false, timestamps: false };
}

export interface MonitorAnswer {
  /** For gdb's console. */
  output: string;
  /** false: the command is unknown or malformed (gdb shows an error after the output). */
  ok: boolean;
  /** `monitor exit`: stop serving as soon as the reply is out. */
  exit: boolean;
}

// The first line is gdbsock's; the second is what gdb's testsuite looks for in gdbserver's help (server-mon.exp).
const HELP = `gdbsock monitor commands, as gdbserver's.
The following monitor commands are supported:
  set debug <0|1>
    Enable general debugging messages
  set debug-format <all|none|timestamp>
    Add extra information to debugging messages (a comma-separated list)
  set remote-debug <0|1>
    Enable remote protocol debugging messages
  exit
    Quit gdbsock at once (detaching from attached processes, letting launched ones go)
`;

const done = (output: string): MonitorAnswer => ({ output, ok: true, exit: false });
const unknown: MonitorAnswer = { output: 'Unknown monitor command.\n\n', ok: false, exit: false };

const THREAD_DB_PATH = /^set libthread-db-search-path(?:\s+([\s\S]*))?$/;

/** Runs a monitor command, changing `debug` for `set debug…` and `threadDb` for `set libthread-db-search-path`. */
export function monitorCommand(command: string, debug: DebugSettings, threadDb?: ThreadDbSettings): MonitorAnswer {
  const searchPath = threadDb && THREAD_DB_PATH.exec(command);
  if (threadDb && searchPath) {
    // As gdbserver: no PATH (or only spaces) sets the default again.
    threadDb.searchPath = searchPath[1] || DEFAULT_THREAD_DB_SEARCH_PATH;
    return done(`libthread-db-search-path set to \`${threadDb.searchPath}'\n`);
  }
  const words = command.trim().split(/\s+/);
  switch (words.join(' ')) {
    case 'help':
      return done(HELP);
    case 'exit':
      return { output: '', ok: true, exit: true };
    case 'set debug 1':
    case 'set debug on':
      debug.debug = true;
      return done('Debug output enabled.\n');
    case 'set debug 0':
    case 'set debug off':
      debug.debug = false;
      return done('Debug output disabled.\n');
    case 'set remote-debug 1':
    case 'set remote-debug on':
      debug.remote = true;
      return done('Protocol debug output enabled.\n');
    case 'set remote-debug 0':
    case 'set remote-debug off':
      debug.remote = false;
      return done('Protocol debug output disabled.\n');
  }
  if (words.length === 3 && words[0] === 'set' && words[1] === 'debug-format') return debugFormat(words[2]!, debug);
  return unknown;
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
  return debug.timestamps ? `${(Date.now() / 1000).toFixed(6)} ${line}` : line;
}

/** A packet for the remote-debug log: printable bytes as they are, others as \xNN, long ones cut. */
export function packetLine(direction: 'getpkt' | 'putpkt', payload: Buffer): string {
  const shown = payload
    .subarray(0, 400)
    .toString('latin1')
    .replace(/[^\x20-\x7e]/g, (c) => `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`);
  return `${direction} ("${shown}"${payload.length > 400 ? ` ... ${payload.length} bytes` : ''});`;
}
