/**
 * gdb's startup-with-shell (QStartupWithShell): a program is started as
 * `$SHELL -c 'exec PROGRAM ARGS'`, as gdb and gdbserver do (gdb's
 * fork_inferior), so the shell sets the scene the user's shell would.
 */
import type { ExecString } from '../../ptrace';

/**
 * Bytes a POSIX shell would give a meaning to; gdb escapes the same set
 * (gdbsupport/common-inferior.cc). All are ASCII, which no byte of a UTF-8
 * multibyte sequence is, so quoting works byte by byte and leaves any other
 * byte, UTF-8 or not, as it is.
 */
const SHELL_SPECIAL = new Set(Buffer.from('"!#$&*()\\|[]{}<>?\'`~^; \t'));
const NEWLINE = 0x0a;
const BACKSLASH = 0x5c;

/**
 * The argv that runs `program` with `args` through the shell. gdb 13 sends
 * vRun arguments already split (its buildargv took the user's quotes away),
 * so each one is escaped here and the program gets exactly those strings,
 * as under gdbserver 13: `'$HOME'`, `*.c` and `>` reach it literally.
 * Arguments given as bytes may not be UTF-8, so then the command is bytes
 * too; from strings alone it stays a string.
 */
export function shellCommand(program: string, args: readonly string[], shell?: string): string[];
export function shellCommand(program: ExecString, args: readonly ExecString[], shell?: string): ExecString[];
export function shellCommand(program: ExecString, args: readonly ExecString[], shell = process.env.SHELL || '/bin/sh'): ExecString[] {
  const words = [program, ...args];
  const command = Buffer.concat([Buffer.from('exec'), ...words.flatMap((w) => [Buffer.from(' '), quoteForShell(w)])]);
  return [shell, '-c', words.every((w) => typeof w === 'string') ? command.toString() : command];
}

/** One word the shell reads back as `arg` exactly (a string as its UTF-8 bytes). */
export function quoteForShell(arg: ExecString): Buffer {
  const bytes = Buffer.from(arg);
  if (bytes.length === 0) return Buffer.from("''");
  const out: number[] = [];
  for (const b of bytes) {
    // A backslash-newline would be a line continuation: a newline goes in single quotes.
    if (b === NEWLINE) out.push(...Buffer.from("'\n'"));
    else if (SHELL_SPECIAL.has(b)) out.push(BACKSLASH, b);
    else out.push(b);
  }
  return Buffer.from(out);
}
