/**
 * Negotiating the protocol extensions (GDB manual, "General Query Packets",
 * qSupported): what gdb offers and the target can give goes into the
 * session's options (session-options.ts), which decide how thread ids and
 * stops are spelled and which events a target reports.
 */
import * as reply from './replies';
import type { SessionOptions } from './session-options';
import type { Target } from './target';
import { followForks } from './targets/inferiors';

/**
 * qSupported: takes what gdb offers and gdbsock can give. Returns the target
 * (wrapped to hold forks if gdb wants fork events) and the reply.
 */
export function negotiate(options: SessionOptions, features: Set<string>, target: Target | undefined): { target: Target | undefined; reply: string } {
  options.multiprocess = features.has('multiprocess+');
  options.execEvents = features.has('exec-events+');
  // Fork events name the child as pPID.TID: only with multiprocess ids (gdb asks for both).
  const forks = options.multiprocess && (target === undefined || target.capabilities.forkEvents !== undefined);
  options.forkEvents = forks && features.has('fork-events+');
  options.vforkEvents = forks && features.has('vfork-events+');
  return {
    target: target && adopt(options, target),
    reply: reply.supported({
      packetSize: reply.PACKET_SIZE,
      multiprocess: options.multiprocess,
      noResumed: features.has('no-resumed+'),
      execEvents: options.execEvents,
      forkEvents: options.forkEvents,
      vforkEvents: options.vforkEvents,
      nonStop: target === undefined || target.capabilities.nonStop !== undefined,
      tracepoints: target === undefined || target.capabilities.tracepoints !== undefined,
    }),
  };
}

/**
 * Whether the client is gdb, by a feature only gdb offers: qRelocInsn+
 * (remote.c offers it in every qSupported since gdb 7.2; LLDB does not).
 */
export function isGdb(features: Set<string>): boolean {
  return features.has('qRelocInsn+');
}

/** A target for this session (a new one from vRun or vAttach, too): it reads the session's options; with fork events, one that can hold the forks gdb keeps. */
export function adopt(options: SessionOptions, target: Target): Target {
  // Thread options belong to the threads gdb set them on: none yet in a new process (a reused tid must not inherit them).
  options.threadOptions.clear();
  target.useSession(options);
  return followForks(target, options);
}
