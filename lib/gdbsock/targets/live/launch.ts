/**
 * Starting or attaching to the process a LiveTarget debugs: the ptrace
 * options every live target traces with, and the wrappers a launch runs the
 * program through (the startup shell, gdbserver's --wrapper) before its own exec.
 */
import { type LaunchOptions, Option, Tracee } from '../../../ptrace';
import { type ExecString, resolveExecutable } from '../../../ptrace/launch';
import { shellCommand } from '../startup-shell';
import { giveTerminalTo } from './terminal';

/**
 * Forks are traced so that a child never runs into our breakpoints. When gdb
 * did not ask for fork events, the child gets the original bytes back and is
 * let go (what gdb would do with follow-fork-mode parent and detach-on-fork);
 * a vfork child shares the parent's memory, so it is let go as it is. When gdb
 * asked, the fork is a stop and gdb decides (see forks.ts).
 * TRACEVFORKDONE: gdb keeps breakpoints out of a vfork parent until it learns
 * the child has exec'd or exited ("vforkdone").
 */
export const FOLLOW_FORKS = Option.TRACEFORK | Option.TRACEVFORK | Option.TRACEVFORKDONE;

/**
 * `wrapper`: a command the program is started through (gdbserver's `--wrapper`),
 * given the program and its arguments after its own; it must exec the program once.
 */
export type LiveLaunchOptions = LaunchOptions & { disableRandomization?: boolean; startupWithShell?: boolean; wrapper?: readonly ExecString[] };

/** Attaches to every thread of `pid`, leaving them stopped. */
export function attachTracee(pid: number): Promise<Tracee> {
  return Tracee.attach(pid, { options: FOLLOW_FORKS });
}

/**
 * Starts a program stopped at its first instruction, in a process group of its
 * own that gets our terminal (see terminal.ts). With
 * `disableRandomization` (gdb's default, and gdbserver's), the launcher sets
 * personality ADDR_NO_RANDOMIZE before its exec (kept across exec, as
 * gdbserver does), so addresses match a gdbserver session run to run.
 */
export async function launchTracee(file: ExecString, args: readonly ExecString[], options: LiveLaunchOptions = {}): Promise<Tracee> {
  const tracee = await startTracee(file, args, options);
  giveTerminalTo(tracee.pid);
  return tracee;
}

async function startTracee(file: ExecString, args: readonly ExecString[], options: LiveLaunchOptions): Promise<Tracee> {
  const { disableRandomization, startupWithShell, wrapper = [], ...rest } = options;
  const launchOptions = {
    newProcessGroup: true,
    ...rest,
    options: (rest.options ?? 0) | FOLLOW_FORKS,
    noRandomization: disableRandomization === true,
  };
  if (!startupWithShell && wrapper.length === 0) return Tracee.launch(file, args, launchOptions);
  const program = resolveExecutable(typeof file === 'string' ? file : Buffer.from(file), (launchOptions.env ?? process.env).PATH);
  // Each wrapper is one more exec before the program's own: `$SHELL -c 'exec WRAPPER PROGRAM ARGS'`.
  let argv: ExecString[] = [...wrapper, program, ...args];
  let wrappers = wrapper.length > 0 ? 1 : 0;
  let argv0: ExecString | undefined;
  if (startupWithShell) {
    argv = wrapper.length > 0 ? shellCommand(wrapper[0]!, [...wrapper.slice(1), program, ...args]) : shellCommand(program, args);
    argv0 = argv[0];
    wrappers++;
  }
  const tracee = Tracee.launch(argv[0]!, argv.slice(1), { ...launchOptions, ...(argv0 ? { argv0 } : {}) });
  const leader = tracee.leader!;
  // A shell that forks on its way (it should not, with `exec`) must not leave a traced child behind.
  const letGo = (child: Tracee) =>
    void child.leader?.stopped().then(
      () => child.detach(),
      () => undefined,
    );
  tracee.on('child', letGo);
  try {
    for (let execs = 0; execs < wrappers; ) {
      leader.cont(); // with the signal it stopped for, if any
      const event = await leader.nextEvent();
      if (event.type === 'exec') execs++;
      else if (event.type === 'exited' || event.type === 'killed') {
        const how = event.type === 'exited' ? `exited with code ${event.code}` : `was killed by signal ${event.signal}`;
        throw new Error(`${program} did not start: ${argv0 ?? argv[0]} ${how} first`);
      }
    }
  } finally {
    tracee.off('child', letGo);
  }
  return tracee;
}
