/**
 * The terminal a launched program gets, as gdbserver gives it: the program
 * runs in a process group of its own (so a Ctrl-C typed at the terminal goes
 * to it, and is reported to gdb as its SIGINT, instead of ending the server),
 * and that group becomes the terminal's foreground, so the program can read
 * it. The server's own group gets the terminal back when the server exits.
 * Unlike gdbserver, a server that is not itself in the terminal's foreground
 * (started in the background with `&`) takes nothing from the job that is.
 */
import { addon } from '../../../native';

const STDERR = 2;

/** The foreground group we took the terminal from (given back at exit), and the group we gave it to. */
let ours: number | undefined;
let given: number | undefined;

/** Hands the terminal on stderr to process group `pgrp`, if it is ours to give. */
export function giveTerminalTo(pgrp: number): void {
  const foreground = addon.foreground(STDERR);
  if (foreground < 0) return; // no controlling terminal there
  if (ours === undefined) {
    if (foreground !== addon.processGroup()) return; // another job has it
    ours = foreground;
    process.once('exit', takeTerminalBack);
  } else if (foreground !== ours && foreground !== given) return; // a job took it since
  if (addon.setForeground(STDERR, pgrp) >= 0) given = pgrp;
}

function takeTerminalBack(): void {
  if (ours !== undefined) addon.setForeground(STDERR, ours);
}
