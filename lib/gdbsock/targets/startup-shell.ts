/**
 * gdb's startup-with-shell (QStartupWithShell): a program is started as
 * `$SHELL -c 'exec PROGRAM ARGS'`, as gdb and gdbserver do (gdb's
 * fork_inferior), so the shell sets the scene the user's shell would.
 */

/** Characters a POSIX shell would give a meaning to; gdb escapes the same set (gdbsupport/common-inferior.cc). */
const SHELL_SPECIAL = new Set('"!#$&*()\\|[]{}<>?\'`~^; \t');

/**
 * The argv that runs `program` with `args` through the shell. gdb 13 sends
 * vRun arguments already split (its buildargv took the user's quotes away),
 * so each one is escaped here and the program gets exactly those strings,
 * as under gdbserver 13: `'$HOME'`, `*.c` and `>` reach it literally.
 */
export function shellCommand(program: string, args: readonly string[], shell = process.env.SHELL || '/bin/sh'): string[] {
  return [shell, '-c', `exec ${[program, ...args].map(quoteForShell).join(' ')}`];
}

/** One word the shell reads back as `arg` exactly. */
export function quoteForShell(arg: string): string {
  if (arg === '') return "''";
  let out = '';
  // A backslash-newline would be a line continuation: a newline goes in single quotes.
  for (const c of arg) out += c === '\n' ? "'\n'" : SHELL_SPECIAL.has(c) ? `\\${c}` : c;
  return out;
}
