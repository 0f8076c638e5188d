/**
 * hostkit/gdbsock: a GDB remote-protocol server for Linux processes.
 * connection.ts frames bytes into packets; server.ts gives them meaning
 * against a Target; targets/live/ is a live process over the ptrace bridge,
 * targets/core.ts a core file and targets/kernel.ts the kernel (read-only).
 * session.ts serves gdb after gdb for a target: one at a time, the process
 * detached whenever one leaves, attached again for the next.
 */
export { SystemError } from '../errors';
export { Connection } from './connection';
export { PacketDecoder, PacketError, frame, checksum, escapeBinary, unescapeBinary, runLengthEncode, runLengthDecode } from './packet';
export { Server, PACKET_SIZE, type ServerEnd, type TargetProvider, type LaunchSettings } from './server';
export { Sessions, type SessionsOptions, type NextSession } from './session';
export { SessionOptions } from './session-options';
export type {
  Target,
  StopEvent,
  ResumeAction,
  BreakpointType,
  Condition,
  ThreadInfo,
  Capabilities,
  MultiProcess,
  ForkEvents,
  PartialRegisters,
  RegisterHex,
  OwnFiles,
} from './target';
export { LiveTarget, liveProvider } from './targets/live';
export { CoreTarget } from './targets/core';
export { KernelTarget } from './targets/kernel';
export { x86_64Layout, type RegisterLayout, type Regsets } from './registers';
export { evaluate as evaluateAgentExpression, AgentError } from './agent';
export { Listener, defaultSocketPath, parseListen, type Endpoint } from './transport';
