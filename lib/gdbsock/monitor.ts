/** gdb's `monitor` commands (qRcmd, GDB manual "General Query Packets"): gdbsock's own, none passed to a target. */

const MONITOR_HELP = `gdbsock monitor commands:
  help    this text
  exit    detach (or kill what gdbsock launched) and stop serving after this connection
`;

/** A monitor command's console output, and whether it asked gdbsock to exit after this connection. */
export function monitorCommand(command: string): { output: string; exit: boolean } {
  switch (command.trim().split(/\s+/)[0]) {
    case 'help':
      return { output: MONITOR_HELP, exit: false };
    case 'exit':
      return { output: 'gdbsock will exit when this connection closes\n', exit: true };
    default:
      return { output: `unknown monitor command '${command}'; try 'monitor help'\n`, exit: false };
  }
}
