/**
 * `hostkit fd PID`: a running process's open files, and two changes made
 * from inside it through the remote-syscall stub, as reredirect or gdb's
 * `call dup2` do: close a descriptor, or point one (its stdout, say) at a
 * file or /dev/null. The process is stopped only for the batch and detached
 * after; a descriptor that is not open, a dead process or one we may not
 * trace is refused before anything changes.
 */
import path from 'node:path';
import { HostkitError, SystemError } from '../errors';
import { fds, type OpenFile } from '../procfs';
import { type BatchResult, type RemoteStub, Tracee } from '../ptrace';

const AT_FDCWD = -100;
const O_WRONLY = 0o1;
const O_CREAT = 0o100;
const O_APPEND = 0o2000;
const O_TRUNC = 0o1000;
const O_CLOEXEC = 0o2000000;

export { fds as listFds, type OpenFile };

export interface RedirectOptions {
  /** Empty the file first instead of appending (O_TRUNC). */
  truncate?: boolean;
  /** The new file's mode, before the process's umask (default 0o644). */
  mode?: number;
}

/** Closes descriptor `fd` of process `pid`. */
export async function closeFd(pid: number, fd: number): Promise<void> {
  requireOpen(pid, fd);
  const [closed] = await withStub(pid, (stub) => stub.batch([{ call: 'close', args: [fd] }]));
  failed(pid, closed!);
}

/**
 * Makes descriptor `fd` of process `pid` refer to `file`, opened by the
 * process itself (with its credentials, relative paths taken from here).
 * Returns what the descriptor referred to before.
 */
export async function redirectFd(pid: number, fd: number, file: string, options: RedirectOptions = {}): Promise<string> {
  const before = requireOpen(pid, fd);
  const absolute = path.resolve(file);
  const name = Buffer.from(`${absolute}\0`);
  if (name.length > 4096) throw new RangeError(`path is longer than the stub's scratch area: ${absolute}`);
  const flags = O_WRONLY | O_CREAT | O_CLOEXEC | (options.truncate ? O_TRUNC : O_APPEND);
  await withStub(pid, async (stub) => {
    stub.writeScratch(name);
    const [opened] = await stub.batch([{ call: 'openat', args: [AT_FDCWD, stub.scratchAddress, flags, options.mode ?? 0o644] }]);
    failed(pid, opened!, absolute);
    // dup2 clears O_CLOEXEC on the copy: the process's children inherit the new target as they did the old.
    const [dup, closed] = await stub.batch([
      { call: 'dup2', args: [opened!.value, fd] },
      { call: 'close', args: [opened!.value] },
    ]);
    failed(pid, dup!, absolute);
    failed(pid, closed!);
  });
  return before.target;
}

function requireOpen(pid: number, fd: number): OpenFile {
  if (!Number.isInteger(fd) || fd < 0) throw new RangeError(`a file descriptor is a non-negative integer, got ${fd}`);
  const open = fds(pid).find((f) => f.fd === fd);
  if (!open) throw new HostkitError('ERR_HOSTKIT_FD_NOT_OPEN', `descriptor ${fd} is not open in process ${pid}: nothing changed`);
  return open;
}

function failed(pid: number, result: BatchResult, file?: string): void {
  if (result.errno) throw new SystemError(Number(result.value), `remote ${result.name}`, { pid, ...(file ? { path: file } : {}) });
}

/** Attaches, stops every thread, lends `work` a stub, then cures it and detaches, whatever fails. */
async function withStub<T>(pid: number, work: (stub: RemoteStub) => Promise<T>): Promise<T> {
  const tracee = await Tracee.attach(pid);
  try {
    await tracee.stopAll();
    const stub = await tracee.remote().installStub();
    try {
      return await work(stub);
    } finally {
      await stub.cure();
    }
  } finally {
    if (tracee.state === 'traced') await tracee.detach();
  }
}
