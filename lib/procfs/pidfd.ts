/**
 * What the kernel says of a process through a pidfd (PIDFD_GET_INFO, Linux
 * 6.13+; the coredump fields 6.16+), and the pidfd of a unix socket's peer
 * (SO_PEERPIDFD, 6.5+). A pidfd names one process for good: unlike a pid, it
 * can never come to mean a newer process that reused the number, and its
 * exit code and dump state stay readable after the process is reaped.
 */
import { addon, libc } from '../native';

/** include/uapi/linux/pidfd.h: PIDFD_INFO_* request and reply bits. */
export const PidfdInfoMask = { PID: 0x1, CREDS: 0x2, CGROUPID: 0x4, EXIT: 0x8, COREDUMP: 0x10, COREDUMP_SIGNAL: 0x40 } as const;
/** include/uapi/linux/pidfd.h: PIDFD_COREDUMP* bits of coredump_mask. */
export const CoredumpMask = { COREDUMPED: 0x1, SKIP: 0x2, USER: 0x4, ROOT: 0x8 } as const;

/**
 * struct pidfd_info up to coredump_mask and the word after it (PIDFD_INFO_SIZE_VER1): 72 bytes.
 * That word was spare until coredump_signal (PIDFD_INFO_COREDUMP_SIGNAL, after Linux 6.18) took it.
 */
const PIDFD_INFO_SIZE = 72;
/** _IOWR(PIDFD_IOCTL_MAGIC 0xFF, 11, struct pidfd_info): the size is part of the request number. */
const PIDFD_GET_INFO = (3 << 30) | (PIDFD_INFO_SIZE << 16) | (0xff << 8) | 11;
const SOL_SOCKET = 1;
const SO_PEERPIDFD = 77;

export interface PidfdInfo {
  /** Which of the fields below the kernel filled (PidfdInfoMask bits). */
  mask: number;
  /** Present while the process has not been reaped (mask has PID). */
  pid?: number;
  tgid?: number;
  ppid?: number;
  /** Present while the process has not been reaped (mask has CREDS). */
  uid?: number;
  gid?: number;
  euid?: number;
  egid?: number;
  cgroupId?: bigint;
  /** The wait status, once the process is reaped (mask has EXIT). */
  exitCode?: number;
  /** CoredumpMask bits: dumped or not, and as whom; kept after reaping. */
  coredumpMask?: number;
  /** The signal that caused the dump, on kernels that say (mask has COREDUMP_SIGNAL; not 6.18). */
  coredumpSignal?: number;
}

/** PIDFD_GET_INFO for everything this kernel knows; throws SystemError (ESRCH for a reaped process without EXIT info). */
export function pidfdInfo(pidfd: number): PidfdInfo {
  const buf = Buffer.alloc(PIDFD_INFO_SIZE);
  const asked = PidfdInfoMask.PID | PidfdInfoMask.CREDS | PidfdInfoMask.CGROUPID | PidfdInfoMask.EXIT | PidfdInfoMask.COREDUMP | PidfdInfoMask.COREDUMP_SIGNAL;
  buf.writeBigUInt64LE(BigInt(asked), 0);
  addon.ioctlBuffer(pidfd, PIDFD_GET_INFO, buf, 'PIDFD_GET_INFO');
  const mask = Number(buf.readBigUInt64LE(0));
  const u32 = (at: number) => buf.readUInt32LE(at);
  const info: PidfdInfo = { mask };
  if (mask & PidfdInfoMask.PID) Object.assign(info, { pid: u32(16), tgid: u32(20), ppid: u32(24) });
  if (mask & PidfdInfoMask.CREDS) Object.assign(info, { uid: u32(28), gid: u32(32), euid: u32(36), egid: u32(40) });
  if (mask & PidfdInfoMask.CGROUPID) info.cgroupId = buf.readBigUInt64LE(8);
  if (mask & PidfdInfoMask.EXIT) info.exitCode = buf.readInt32LE(60);
  if (mask & PidfdInfoMask.COREDUMP) info.coredumpMask = u32(64);
  if (mask & PidfdInfoMask.COREDUMP_SIGNAL) info.coredumpSignal = u32(68);
  return info;
}

/** A new pidfd for the process at the other end of a connected unix socket. */
export function peerPidfd(socketFd: number): number {
  return libc().getsockoptInt(socketFd, SOL_SOCKET, SO_PEERPIDFD, 'SO_PEERPIDFD');
}
