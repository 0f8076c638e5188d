/**
 * `info os shm`, `info os semaphores` and `info os msg`: the System V IPC
 * objects of the machine, from /proc/sysvipc/{shm,sem,msg} (proc(5)), with
 * gdbserver's columns: ids and names where the file has numbers, the
 * permissions in octal, times as ctime(3) writes them.
 */
import { type Row, commandOf, ctime, groupNames, procTableLines, userNames } from './osdata-table';

/** Each line's leading numeric fields, or undefined for a line that has fewer than `count`. */
function numbers(fields: string[], count: number): number[] | undefined {
  if (fields.length < count) return undefined;
  const values = fields.slice(0, count).map(Number);
  return values.every(Number.isFinite) ? values : undefined;
}

/** /proc/sysvipc/shm: key shmid perms size cpid lpid nattch uid gid cuid cgid atime dtime ctime ... */
export function sharedMemory(): Row[] {
  const users = userNames();
  const groups = groupNames();
  const rows: Row[] = [];
  for (const fields of procTableLines('/proc/sysvipc/shm')) {
    const v = numbers(fields, 14);
    if (!v) continue;
    const [key, shmid, , size, cpid, lpid, nattch, uid, gid, cuid, cgid, atime, dtime, changed] = v as number[];
    rows.push([
      ['key', key!],
      ['shmid', shmid!],
      ['permissions', octal(fields[2]!)],
      ['size', size!],
      ['creator command', commandOf(cpid!)],
      ['last op. command', commandOf(lpid!)],
      ['num attached', nattch!],
      ['user', users.get(uid!) ?? ''],
      ['group', groups.get(gid!) ?? ''],
      ['creator user', users.get(cuid!) ?? ''],
      ['creator group', groups.get(cgid!) ?? ''],
      ['last shmat() time', ctime(atime!)],
      ['last shmdt() time', ctime(dtime!)],
      ['last shmctl() time', ctime(changed!)],
    ]);
  }
  return rows;
}

/** /proc/sysvipc/sem: key semid perms nsems uid gid cuid cgid otime ctime */
export function semaphores(): Row[] {
  const users = userNames();
  const groups = groupNames();
  const rows: Row[] = [];
  for (const fields of procTableLines('/proc/sysvipc/sem')) {
    const v = numbers(fields, 10);
    if (!v) continue;
    const [key, semid, , nsems, uid, gid, cuid, cgid, otime, changed] = v as number[];
    rows.push([
      ['key', key!],
      ['semid', semid!],
      ['permissions', octal(fields[2]!)],
      ['num semaphores', nsems!],
      ['user', users.get(uid!) ?? ''],
      ['group', groups.get(gid!) ?? ''],
      ['creator user', users.get(cuid!) ?? ''],
      ['creator group', groups.get(cgid!) ?? ''],
      ['last semop() time', ctime(otime!)],
      ['last semctl() time', ctime(changed!)],
    ]);
  }
  return rows;
}

/** /proc/sysvipc/msg: key msqid perms cbytes qnum lspid lrpid uid gid cuid cgid stime rtime ctime */
export function messageQueues(): Row[] {
  const users = userNames();
  const groups = groupNames();
  const rows: Row[] = [];
  for (const fields of procTableLines('/proc/sysvipc/msg')) {
    const v = numbers(fields, 14);
    if (!v) continue;
    const [key, msqid, , cbytes, qnum, lspid, lrpid, uid, gid, cuid, cgid, stime, rtime, changed] = v as number[];
    rows.push([
      ['key', key!],
      ['msqid', msqid!],
      ['permissions', octal(fields[2]!)],
      ['num used bytes', cbytes!],
      ['num messages', qnum!],
      ['last msgsnd() command', commandOf(lspid!)],
      ['last msgrcv() command', commandOf(lrpid!)],
      ['user', users.get(uid!) ?? ''],
      ['group', groups.get(gid!) ?? ''],
      ['creator user', users.get(cuid!) ?? ''],
      ['creator group', groups.get(cgid!) ?? ''],
      ['last msgsnd() time', ctime(stime!)],
      ['last msgrcv() time', ctime(rtime!)],
      ['last msgctl() time', ctime(changed!)],
    ]);
  }
  return rows;
}

/** The file's octal permissions, without the leading zeros it is padded with. */
function octal(text: string): string {
  return Number.parseInt(text, 8).toString(8);
}
