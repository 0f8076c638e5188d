/**
 * NT_PRSTATUS and NT_PRPSINFO contents for a live process, filled from /proc
 * the way the kernel fills them from the task (fs/binfmt_elf.c, fill_prstatus
 * and fill_psinfo).
 */
import fs from 'node:fs';
import { fromNodeError } from '../errors';
import { parseStat } from '../procfs/stat';
import { parseStatus } from '../procfs/status';
import type { Prpsinfo, Prstatus } from './note-payloads';

/** USER_HZ: /proc reports times in these ticks on x86_64 and arm64. */
const TICKS_PER_SECOND = 100n;
const ticksToMicros = (ticks: bigint) => (ticks * 1_000_000n) / TICKS_PER_SECOND;

function readText(pid: number, path: string): string {
  try {
    return fs.readFileSync(path, 'utf8');
  } catch (err) {
    throw fromNodeError(err, { pid, path });
  }
}

/** Fields of /proc/.../stat by proc(5) number (3 = state), safe against any comm. */
function statField(text: string, n: number): string {
  return text.slice(text.lastIndexOf(')') + 2).split(' ')[n - 3] ?? '0';
}

export interface ProcessIds {
  pid: number;
  ppid: number;
  pgrp: number;
  sid: number;
}

export function processIds(pid: number): ProcessIds {
  const stat = parseStat(readText(pid, `/proc/${pid}/stat`));
  return { pid, ppid: stat.ppid, pgrp: stat.pgrp, sid: stat.session };
}

/**
 * The kernel gives the group leader the whole group's CPU time and every
 * other thread its own; children's times go to all of them.
 */
export function threadPrstatus(pid: number, tid: number, ids: ProcessIds, registers: Buffer, fpvalid: boolean): Prstatus {
  const processStat = readText(pid, `/proc/${pid}/stat`);
  const stat = tid === pid ? processStat : readText(pid, `/proc/${pid}/task/${tid}/stat`);
  const status = parseStatus(readText(pid, `/proc/${pid}/task/${tid}/status`));
  return {
    signal: 0,
    code: 0,
    errno: 0,
    cursig: 0,
    sigpend: status.sigPending,
    sighold: status.sigBlocked,
    pid: tid,
    ppid: ids.ppid,
    pgrp: ids.pgrp,
    sid: ids.sid,
    utime: ticksToMicros(BigInt(statField(stat, 14))),
    stime: ticksToMicros(BigInt(statField(stat, 15))),
    cutime: ticksToMicros(BigInt(statField(processStat, 16))),
    cstime: ticksToMicros(BigInt(statField(processStat, 17))),
    registers,
    fpvalid,
  };
}

/** "RSDTZW"[i], as fill_psinfo indexes the task state; idle kernel-style waits count as D. */
const STATES = 'RSDTZW';

/**
 * `state` is the one-letter state seen before the snapshot stopped the
 * process (once traced, every process would look like 't').
 */
export function processPsinfo(pid: number, state: string): Prpsinfo {
  const stat = parseStat(readText(pid, `/proc/${pid}/stat`));
  const status = parseStatus(readText(pid, `/proc/${pid}/status`));
  let args: Buffer;
  try {
    args = fs.readFileSync(`/proc/${pid}/cmdline`);
  } catch (err) {
    throw fromNodeError(err, { pid, path: `/proc/${pid}/cmdline` });
  }
  // fill_psinfo copies at most ELF_PRARGSZ - 1 bytes of the argument area and turns its NULs into spaces.
  const psargs = Buffer.from(args.subarray(0, 79)).map((b) => (b === 0 ? 0x20 : b));
  const index = STATES.indexOf(state === 'I' ? 'D' : state);
  const i = Math.max(index, 0);
  return {
    state: i,
    sname: STATES[i]!,
    zombie: STATES[i] === 'Z',
    nice: stat.nice,
    flags: BigInt(stat.flags >>> 0),
    uid: status.uid[0],
    gid: status.gid[0],
    pid,
    ppid: stat.ppid,
    pgrp: stat.pgrp,
    sid: stat.session,
    fname: stat.comm.slice(0, 15),
    psargs: Buffer.from(psargs).toString('utf8'),
  };
}
