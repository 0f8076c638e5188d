/**
 * gdb with a non-stop target (`maint set target-non-stop 1`) meeting a
 * process it did not start, through gdbserver (the anchor) and through
 * gdbsock, with gdb 16.3 and the host's gdb. gdb 16.3 asserts (remote.c,
 * mark_async_event_handler: `is_async_p ()`) when its remote target is not
 * async and a stop is still queued: when `?` lists more than one stopped
 * thread at connect (queued_stop_reply asks target_can_async_p where it
 * means target_is_async_p), and when a %Stop comes for a process it killed.
 * gdbserver gives it neither: after --attach only the thread of the attach's
 * stop is stopped once non-stop begins, and a kill is not reported.
 * (gdb.server/attach-flag.exp and ext-attach.exp, native-extended-gdbserver.)
 */
import t from 'tap';
import { fixture, startDetached } from '../helpers';
import { debian13Tools } from './debian13';
import { GDBSOCK_AS_GDBSERVER, type GdbTools, HOST_TOOLS, interactiveGdb, runGdb, startListening } from './gdb';

const binary = fixture('gdbsock');
const GDB16 = debian13Tools();
const WORKERS = 3;

/** `gdbserver` (a command line) with --attach to `pid`, serving one gdb. */
async function attachWith(gdbserver: readonly string[], pid: number) {
  const server = await startListening('server', gdbserver[0]!, [...gdbserver.slice(1), '--once', '--attach', '127.0.0.1:0', String(pid)]);
  return { target: server.target, stop: () => void (server.proc.exitCode === null && server.proc.kill()), exited: server.exited };
}

/** gdb connects to a process the server attached to, with a non-stop target, gdb itself in all-stop or non-stop. */
async function connectNonStop(tools: GdbTools, gdbserver: readonly string[], nonStop: 0 | 1): Promise<string> {
  const target = await startDetached(binary, ['threads', String(WORKERS)]);
  try {
    const server = await attachWith(gdbserver, target.pid);
    try {
      const commands = [`set non-stop ${nonStop}`, `target remote ${server.target}`, 'info threads', `thread ${WORKERS + 1}`, 'kill'];
      return await runGdb('maint set target-non-stop 1', commands, { tools, timeout: 60_000 });
    } finally {
      server.stop();
      await server.exited;
    }
  } finally {
    target.kill();
  }
}

for (const [name, tools] of [
  ['gdb 16.3', GDB16],
  ['the host gdb', HOST_TOOLS],
] as const) {
  t.test(`${name}, --attach, target-non-stop on, all-stop gdb: every thread stopped, no internal error, as gdbserver`, async (t) => {
    for (const [server, gdbserver] of [
      ['gdbserver', tools.gdbserver],
      ['gdbsock', GDBSOCK_AS_GDBSERVER],
    ] as const) {
      const out = await connectNonStop(tools, gdbserver, 0);
      t.notMatch(out, /internal-error/, `${server}: gdb has no internal error`);
      t.match(out, new RegExp(`Switching to thread ${WORKERS + 1} `), `${server}: gdb knows thread ${WORKERS + 1}`);
      t.notMatch(out, /\(running\)/, `${server}: gdb stopped every thread`);
      t.match(out, /\[Inferior 1 \(process \d+\) killed\]/, `${server}: killed`);
    }
  });

  t.test(`${name}, --attach, non-stop gdb: the attach's thread stopped, the others running, as gdbserver`, async (t) => {
    for (const [server, gdbserver] of [
      ['gdbserver', tools.gdbserver],
      ['gdbsock', GDBSOCK_AS_GDBSERVER],
    ] as const) {
      const out = await connectNonStop(tools, gdbserver, 1);
      t.notMatch(out, /internal-error/, `${server}: gdb has no internal error`);
      t.match(out, /^\* 1 +Thread \d+\.\d+ .* in /m, `${server}: the leader is stopped`);
      t.equal((out.match(/^ +\d+ +Thread .*\(running\)$/gm) ?? []).length, WORKERS, `${server}: the workers run`);
      t.match(out, new RegExp(`Switching to thread ${WORKERS + 1} `), `${server}: gdb knows thread ${WORKERS + 1}`);
      t.match(out, /\[Inferior 1 \(process \d+\) killed\]/, `${server}: killed`);
    }
  });
}

t.test('gdb 16.3, extended-remote, target-non-stop on: attach, kill, and gdb carries on, as with gdbserver', async (t) => {
  for (const [server, gdbserver] of [
    ['gdbserver', GDB16.gdbserver],
    ['gdbsock', GDBSOCK_AS_GDBSERVER],
  ] as const) {
    const target = await startDetached(binary, ['sleep']);
    t.teardown(() => target.kill());
    const multi = await startListening(server, gdbserver[0]!, [...gdbserver.slice(1), '--once', '--multi', '127.0.0.1:0']);
    t.teardown(() => void (multi.proc.exitCode === null && multi.proc.kill()));
    // Through a pipe, as the testsuite's terminal: gdb's event loop runs between commands, and takes a %Stop then.
    const { send, proc } = interactiveGdb(binary, GDB16);
    try {
      await send('maint set target-non-stop on', /\(gdb\) $/);
      await send(`target extended-remote ${multi.target}`, /\(gdb\) $/);
      await send(`attach ${target.pid}`, /\(gdb\) $/);
      const killed = await send('kill', /\(gdb\) $/);
      t.match(killed, /\[Inferior 1 \(process \d+\) killed\]/, `${server}: killed`);
      await new Promise((r) => setTimeout(r, 500)); // room for a stray %Stop to arrive
      const after = await send('info inferiors', /\(gdb\) $/);
      t.match(after, /\* 1 +<null>/, `${server}: gdb carries on, the inferior gone`);
      t.notMatch(killed + after, /internal-error/, `${server}: gdb has no internal error`);
      await send('monitor exit', /\(gdb\) $/);
    } finally {
      proc.kill('SIGKILL');
      await multi.exited;
    }
  }
});
