/**
 * The gdbsock command's connection closes the moment gdbsock is killed,
 * imported by cli.ts for its side effect.
 *
 * The kernel frees a dying process's memory before it closes its files, and
 * a Node process's 60 MB take 3-7 ms to free: a `kill -9` of gdbsock left gdb's
 * connection open that long (gdbserver's: under 1 ms). A packet gdb sent
 * meanwhile was still unread at the close, so the kernel answered with a
 * reset, and gdb reported "Connection reset by peer" where gdb's testsuite
 * expects the server's end of file (gdb.server/server-kill.exp). A holder
 * process that shares gdbsock's memory (native/address_space.c) makes the
 * kill a matter of dropping a reference: the sockets close at once, and the
 * holder, which waits for gdbsock to be gone, frees the memory after. `ps`
 * shows it as `gdbsock-memory`, with gdbsock's command line and memory.
 */
import { addon } from '../native';

export const HOLDER_NAME = 'gdbsock-memory';

try {
  addon.holdAddressSpace(HOLDER_NAME);
} catch {
  // No clone allowed here (a seccomp policy, say): a kill closes the connection once the memory is freed.
}
