/**
 * seccomp: which filter actions this kernel has (SECCOMP_GET_ACTION_AVAIL, the
 * kernel's own answer rather than the sysctl's list), user notification
 * (SECCOMP_GET_NOTIF_SIZES) and which actions it logs (actions_logged: a
 * 'log' lock logs nothing unless 'log' is there).
 */
import fs from 'node:fs';
import { errnoCode } from '../../errors';
import { Ret } from '../../forkexec/bpf';
import { addon } from '../../native';
import { type Finding, readSetting } from './finding';

const ACTIONS_LOGGED = '/proc/sys/kernel/seccomp/actions_logged';

/** The actions forkexec's lock uses, by the name its options and the sysctls give them. */
const ACTIONS: Record<string, number> = {
  kill_process: Ret.KILL_PROCESS,
  trap: Ret.TRAP,
  errno: Ret.ERRNO,
  user_notif: Ret.USER_NOTIF,
  log: Ret.LOG,
  allow: Ret.ALLOW,
};

export function probeSeccomp(): Finding[] {
  const available: string[] = [];
  const absent: string[] = [];
  let firstError = 0;
  for (const [name, action] of Object.entries(ACTIONS)) {
    const rc = addon.probeSeccompAction(action);
    if (rc === 0) available.push(name);
    else {
      absent.push(name);
      firstError ||= rc;
    }
  }
  if (available.length === 0) {
    return [
      {
        facility: 'seccomp',
        state: 'missing',
        detail: `seccomp(SECCOMP_GET_ACTION_AVAIL) fails: ${errnoCode(firstError)} (a kernel without CONFIG_SECCOMP_FILTER, or a filter of ours forbids seccomp)`,
        neededBy: 'forkexec lock, forkexec launcher',
        fix: 'a kernel with CONFIG_SECCOMP_FILTER (every distribution kernel has it)',
        facts: { actions: [] },
      },
    ];
  }
  const logged = readSetting(ACTIONS_LOGGED)?.trim().split(/\s+/).filter(Boolean);
  const sizes = addon.probeSeccompNotifSizes();
  const notify = Array.isArray(sizes) && available.includes('user_notif');
  const logs = logged?.includes('log') ?? false;
  return [
    {
      facility: 'seccomp',
      state: absent.length ? 'limited' : 'ok',
      detail: `actions ${available.join(' ')}${absent.length ? `; missing ${absent.join(' ')}` : ''}; ${status()}`,
      neededBy: "forkexec lock (actions 'kill', 'errno', 'trap', 'log', 'report')",
      fix: absent.length ? `the lock actions needing ${absent.join(', ')} are refused on this kernel; use another action` : undefined,
      facts: { actions: available, missing: absent },
    },
    {
      facility: 'seccomp user notification',
      state: notify ? 'ok' : 'missing',
      detail: notify
        ? `seccomp_notif ${sizes[0]} bytes, response ${sizes[1]}, seccomp_data ${sizes[2]}`
        : `SECCOMP_GET_NOTIF_SIZES: ${errnoCode(sizes as number)}`,
      neededBy: "forkexec lock action 'report' (each refused call reported to the process)",
      fix: notify ? undefined : "Linux 5.0+ has it; meanwhile use the 'errno' or 'kill' action",
      facts: notify ? { notif: sizes[0], resp: sizes[1], data: sizes[2] } : { errno: errnoCode(sizes as number) },
    },
    {
      facility: 'seccomp actions_logged',
      state: logs ? 'ok' : logged ? 'limited' : 'missing',
      detail: logged ? `logged: ${logged.join(' ')}` : `${ACTIONS_LOGGED} cannot be read`,
      neededBy: "forkexec lock action 'log' (refuses to install when 'log' is not logged)",
      fix: logs ? undefined : `add log: echo '${[...(logged ?? []), 'log'].join(' ')}' > ${ACTIONS_LOGGED}`,
      facts: { logged: logged ?? null },
    },
  ];
}

/** This process's own seccomp state: a filter here limits what the probes can see. */
function status(): string {
  const text = fs.readFileSync('/proc/self/status', 'utf8');
  const mode = /^Seccomp:\s*(\d)/m.exec(text)?.[1];
  const filters = /^Seccomp_filters:\s*(\d+)/m.exec(text)?.[1];
  return mode === '2' ? `this process runs under ${filters ?? 'some'} filter(s)` : 'this process is unfiltered';
}
