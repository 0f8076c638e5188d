/**
 * Where the server's own printing goes: what breakpoint commands print
 * (dprintf-style agent), as gdbserver prints them, on its standard output;
 * on standard error when standard output carries the protocol (stdio).
 */
let write = (text: string): void => void process.stdout.write(text);

export function agentOutput(text: string): void {
  write(text);
}

/** The protocol has standard output (gdbsock stdio): print on standard error instead. */
export function agentOutputToStderr(): void {
  write = (text) => void process.stderr.write(text);
}
