/**
 * The remote protocol numbers signals its own way (gdb's include/gdb/signals.def,
 * "the numbering of the GDB remote protocol"), not as Linux does: SIGUSR1 is
 * 10 on Linux and 30 on the wire. Stop replies, vCont;C and QPassSignals all
 * use gdb's numbers.
 */

/** Linux's SIGTRAP (5 on every arch), the signal of every ptrace trap stop. */
export const SIGTRAP = 5;

/** Linux x86_64/aarch64 signal number -> gdb number, for 1..31. */
const LINUX_TO_GDB: Record<number, number> = {
  1: 1,
  2: 2,
  3: 3,
  4: 4,
  5: 5,
  6: 6,
  7: 10,
  8: 8,
  9: 9,
  10: 30,
  11: 11,
  12: 31,
  13: 13,
  14: 14,
  15: 15,
  16: 143,
  17: 20,
  18: 19,
  19: 17,
  20: 18,
  21: 21,
  22: 22,
  23: 16,
  24: 24,
  25: 25,
  26: 26,
  27: 27,
  28: 28,
  29: 23,
  30: 32,
  31: 12,
};
const GDB_TO_LINUX = new Map(Object.entries(LINUX_TO_GDB).map(([l, g]) => [g, Number(l)]));
GDB_TO_LINUX.delete(143); // "unknown" maps nowhere
const GDB_UNKNOWN = 143;

export function toGdbSignal(linux: number): number {
  if (linux === 0) return 0;
  if (linux <= 31) return LINUX_TO_GDB[linux] ?? GDB_UNKNOWN;
  if (linux === 32) return 77;
  if (linux <= 63) return linux - 33 + 45;
  if (linux === 64) return 78;
  return GDB_UNKNOWN;
}

/** gdb number -> Linux number; undefined for signals Linux does not have. */
export function fromGdbSignal(gdb: number): number | undefined {
  if (gdb === 0) return 0;
  const small = GDB_TO_LINUX.get(gdb);
  if (small !== undefined) return small;
  if (gdb === 77) return 32;
  if (gdb >= 45 && gdb <= 75) return gdb - 45 + 33;
  if (gdb === 78) return 64;
  return undefined;
}
