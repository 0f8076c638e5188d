/**
 * gdb's Ctrl-C while a breakpoint is hit over and over and its commands
 * `continue` (gdb.base/bp-cmds-continue-ctrl-c.exp). The 0x03 often reaches
 * the server just as the thread traps on the breakpoint: the trap clears the
 * PTRACE_INTERRUPT (kernel/signal.c, ptrace_stop), and the stop reported is
 * the breakpoint's. gdbserver's SIGINT stays queued, so the next continue
 * stops with it; gdbsock dropped the Ctrl-C, and gdb's commands continued
 * until the program's alarm killed it. Oracle: the program (it is never sent
 * a SIGINT except through gdb's Ctrl-C, and dies of SIGALRM only if nobody
 * stops it for 60 s); gdb 16.3 through gdbserver 16.3 first, the anchor.
 */
import t from 'tap';
import { fixture } from '../helpers';
import { debian13Tools } from './debian13';
import { GDBSOCK_AS_GDBSERVER, interactiveGdb, startGdbserver } from './gdb';

const program = fixture('sleepcall');
const tools = debian13Tools();
const ROUNDS = 15;
const STOPPED = /Program received signal SIGINT|Quit|Command aborted|Program terminated with signal SIGALRM/;

for (const [kind, gdbserver] of [
  ['gdbserver', tools.gdbserver],
  ['gdbsock', GDBSOCK_AS_GDBSERVER],
] as const) {
  t.test(`${kind}: each Ctrl-C stops a program whose breakpoint commands continue`, async (t) => {
    const server = await startGdbserver([program], { tools: { ...tools, gdbserver } });
    t.teardown(() => server.stop());
    const gdb = interactiveGdb(program, tools);
    t.teardown(() => gdb.proc.kill('SIGKILL'));
    await gdb.send('set sysroot', /\(gdb\)/);
    await gdb.send(`target remote ${server.target}`, /\(gdb\)/);
    await gdb.send('break foo', /Breakpoint 1 at/);
    await gdb.send('commands 1\nsilent\nc\nend', /\(gdb\)/);
    for (let round = 0; round < ROUNDS; round++) {
      const said = gdb.send('continue', STOPPED, 30_000);
      await new Promise((r) => setTimeout(r, 200));
      gdb.proc.kill('SIGINT'); // the terminal's Ctrl-C: gdb sends 0x03 if the program runs, or quits its commands
      const out = await said;
      if (/SIGALRM/.test(out)) {
        t.fail(`round ${round + 1}: the Ctrl-C was lost; the program ran on to its alarm`);
        return;
      }
    }
    t.pass(`${ROUNDS} Ctrl-Cs, each stopped the program or gdb's commands`);
  });
}
