/**
 * hostkit: kernel-level control of Linux processes from Node.
 *
 * The root export is the shared bridge: typed /proc readers, the ptrace
 * tracer, and SystemError. Features live in their own entry points:
 * hostkit/forkexec, hostkit/coredump, hostkit/gdbsock.
 */
export { HostkitError, SystemError, type SystemErrorInfo } from './errors';
export * as procfs from './procfs';
export * from './ptrace';
