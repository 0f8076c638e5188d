/**
 * `monitor set debug…` as the gdbserver of the client's own generation
 * answers it: gdb 13 meets gdbserver 13's `set debug 0|1` and
 * `set remote-debug`, gdb 14 and later gdbserver 14+'s `set debug COMPONENT
 * on|off` with its complaints (gdb.server/server-mon.exp of each). Oracle:
 * the same commands through the gdbserver of the same version, line for line
 * (gdbsock's help text is its own and is not compared).
 */
import t, { type Test } from 'tap';
import { defaultDebugSettings, dialectOf, monitorCommand } from '../../lib/gdbsock/monitor';
import { fixture } from '../helpers';
import { debian13Tools, gdbVersion } from './debian13';
import { type GdbTools, HOST_TOOLS, requireTool, runGdb, startGdbserver, startGdbsock } from './gdb';

requireTool('gdb');
requireTool('gdbserver');
const binary = fixture('gdbsock');

const GDBSERVER_13 = [
  'help',
  '',
  'set debug 1',
  'set debug 0',
  'set remote-debug 1',
  'set remote-debug 0',
  'set debug-format all',
  'set debug-format none',
  'set nonsense 1',
];
const GDBSERVER_14 = [
  'help',
  '',
  'set debug 1',
  'set debug 0',
  'set debug yeah',
  'set debug on sometimes',
  'set debug on',
  'set debug off',
  'set debug',
  ...['remote', 'event-loop', 'threads', 'all'].flatMap((c) => ['1', '0', 'on', 'off'].map((v) => `set debug ${c} ${v}`)),
  'set debug all yeah',
  'set debug all on sometimes',
  'set debug all',
  'set debug nonsense on',
  'set debug-hw-points 1',
  'set debug-hw-points 0',
  'set debug-format all',
  'set debug-format timestamp',
  'set debug-format all,none',
  'set debug-format none',
];

/** What gdb printed for each command: its first line, and whether gdb then reported an error. */
async function answers(tools: GdbTools, target: string, commands: string[]): Promise<string[]> {
  const script = commands.flatMap((c) => [`echo @@${c}\\n`, `monitor ${c}`]);
  const out = await runGdb(`target remote ${target}`, [...script, 'echo @@\\n', 'kill'], { tools });
  return out
    .split('@@')
    .slice(1, -1)
    .map((section) => {
      const lines = section.split('\n').filter((l) => l.trim() !== '');
      const first = lines[1] ?? '';
      // gdbsock's help starts with its own line; gdbserver's with the list's heading.
      const shown = first.startsWith('gdbsock monitor commands') ? lines[2]! : first;
      const failed = lines.some((l) => l.startsWith('Protocol error with Rcmd'));
      return `${lines[0]} -> ${shown}${failed ? ' [error]' : ''}`;
    });
}

async function compare(t: Test, tools: GdbTools, commands: string[]): Promise<void> {
  const anchor = await startGdbserver([binary, 'sleep'], { tools });
  t.teardown(anchor.stop);
  const expected = await answers(tools, anchor.target, commands);
  const ours = await startGdbsock(['--once', '--listen', '127.0.0.1:0', '--', binary, 'sleep']);
  t.teardown(() => ours.stop());
  const got = await answers(tools, ours.target, commands);
  t.equal(got.length, commands.length, 'an answer for every command');
  for (let i = 0; i < commands.length; i++) t.equal(got[i], expected[i], `monitor ${commands[i]}`);
}

t.test("the host's gdb and gdbserver", async (t) => {
  const major = Number(/(\d+)\.\d+$/.exec(gdbVersion(HOST_TOOLS))![1]);
  await compare(t, HOST_TOOLS, major >= 14 ? GDBSERVER_14 : GDBSERVER_13);
});

t.test("Debian 13's gdb 16 and gdbserver 16", async (t) => {
  await compare(t, debian13Tools(), GDBSERVER_14);
});

t.test('both forms are understood in either dialect; the dialect comes from qSupported', async (t) => {
  t.match(
    monitorCommand('help', defaultDebugSettings()).output,
    /The following monitor commands are supported[\s\S]*Quit GDBserver/,
    "help passes gdb's testsuite probe for a GDBserver (target_is_gdbserver)",
  );
  t.equal(dialectOf(new Set(['multiprocess+', 'error-message+'])), 'gdbserver-14');
  t.equal(dialectOf(new Set(['multiprocess+'])), 'gdbserver-13');
  const debug = defaultDebugSettings();
  t.equal(monitorCommand('set remote-debug 1', debug, undefined, 'gdbserver-14').output, 'Protocol debug output enabled.\n');
  t.equal(debug.remote, true);
  t.equal(monitorCommand('set debug threads on', debug, undefined, 'gdbserver-13').output, "Debug output for 'threads' enabled.\n");
  t.equal(debug.threads, true);
  t.equal(monitorCommand('set debug 0', debug, undefined, 'gdbserver-13').output, 'Debug output disabled.\n');
  t.same([debug.debug, debug.remote, debug.threads], [false, false, false], 'set debug 0 turns every component off');
});
