/**
 * The kernel's coredump socket protocol (include/uapi/linux/coredump.h,
 * Linux 6.17+, core_pattern "@@/path"): on connecting, the kernel sends a
 * `struct coredump_req` saying which actions it supports; the server answers
 * with a `struct coredump_ack` naming exactly one of KERNEL (stream the core
 * here), USERSPACE (the server takes it itself) or REJECT (no core), plus
 * WAIT to keep the task until the server closes; the kernel then writes one
 * u32 mark, REQACK when it accepted the ack. Only bytes here, no I/O.
 */
import { HostkitError } from '../../errors';

/** coredump_req.mask and coredump_ack.mask bits. */
export const CoredumpAction = { KERNEL: 0x1n, USERSPACE: 0x2n, REJECT: 0x4n, WAIT: 0x8n } as const;

/** COREDUMP_REQ_SIZE_VER0 and COREDUMP_ACK_SIZE_VER0. */
export const REQUEST_SIZE_VER0 = 16;
export const ACK_SIZE_VER0 = 16;
export const MARK_SIZE = 4;

/** enum coredump_mark: the kernel's verdict on our ack. */
export const MARKS = ['REQACK', 'MINSIZE', 'MAXSIZE', 'UNSUPPORTED', 'CONFLICTING'] as const;
export type Mark = (typeof MARKS)[number];

export interface CoredumpRequest {
  /** Bytes of the request (later kernels may send a longer one). */
  size: number;
  /** The largest ack the kernel accepts. */
  sizeAck: number;
  /** The actions the kernel supports (CoredumpAction bits). */
  supported: bigint;
}

function protocolError(message: string): HostkitError {
  return new HostkitError('ERR_HOSTKIT_COREDUMP_PROTOCOL', message);
}

/** The fixed part of a request: its first 16 bytes say how long the whole is. */
export function parseRequest(head: Buffer): CoredumpRequest {
  if (head.length < REQUEST_SIZE_VER0) throw protocolError(`coredump request of ${head.length} bytes, expected at least ${REQUEST_SIZE_VER0}`);
  const request = { size: head.readUInt32LE(0), sizeAck: head.readUInt32LE(4), supported: head.readBigUInt64LE(8) };
  if (request.size < REQUEST_SIZE_VER0 || request.size > 4096) throw protocolError(`coredump request says it is ${request.size} bytes`);
  if (request.sizeAck < ACK_SIZE_VER0) throw protocolError(`the kernel accepts acks of ${request.sizeAck} bytes, fewer than ${ACK_SIZE_VER0}`);
  return request;
}

/** The ack for `actions`; throws if the kernel did not offer every bit of it. */
export function encodeAck(request: CoredumpRequest, actions: bigint): Buffer {
  const missing = actions & ~request.supported;
  if (missing) throw protocolError(`the kernel does not offer coredump action bits 0x${missing.toString(16)}`);
  const ack = Buffer.alloc(ACK_SIZE_VER0);
  ack.writeUInt32LE(ACK_SIZE_VER0, 0);
  ack.writeBigUInt64LE(actions, 8);
  return ack;
}

export function parseMark(bytes: Buffer): Mark | `mark ${number}` {
  const value = bytes.readUInt32LE(0);
  return MARKS[value] ?? `mark ${value}`;
}
