/**
 * Runs another program, of any language, under fork/exec rules, with exactly
 * one exec allowed: the one that starts it.
 *
 * Why it cannot be bypassed: the child installs the filter (with NO_NEW_PRIVS)
 * before its exec, while it is single-threaded and runs only our C code
 * (native/forkexec_spawn.c). The filter turns every execve/execveat into a
 * seccomp user notification whose listener only this launcher holds. The
 * supervisor thread answers CONTINUE to the first execve of that pid (the
 * child is blocked inside it and has no other thread to rewrite the path) and
 * refuses every later one. Filters are inherited by every thread and child and
 * cannot be removed. If the launcher dies, the kernel closes the listener and
 * every later notification fails with ENOSYS: the rules fail closed. Fork,
 * ptrace and foreign-arch verdicts need no supervisor: they are in the filter.
 */
import fs from 'node:fs';
import path from 'node:path';
import { SystemError } from '../errors';
import { addon, type SupervisorHandle } from '../native';
import { buildFilter, type Verdict } from './filter';
import { landlockAbi } from './landlock-support';
import { withInterpreters } from '../exec-files';
import { actionVerdict, parseOptions, type Action } from './options';
import { toAttempt, type Attempt } from './report';
import { execCallTable } from './syscalls';
import { VeriexecTable } from '../veriexec/table';
import { type VerifiedProgram, verifyProgram } from '../veriexec/verify-program';

export interface LaunchOptions {
  fork?: boolean;
  exec?: boolean;
  ptrace?: boolean;
  action?: Action;
  errno?: string;
  /** Allow exec only beneath these paths (Landlock); the program and its interpreters are added. */
  execAllow?: string[];
  /** The program's environment; process.env by default. */
  env?: NodeJS.ProcessEnv;
  /** Each refused (or, for the first exec, allowed) call the supervisor answered. */
  onAttempt?: (attempt: Attempt) => void;
  /**
   * A veriexec signatures file (or a loaded table): the program and its
   * interpreter must be listed and match, or launch throws VerifyError
   * (ERR_HOSTKIT_VERIEXEC_DENIED) and nothing runs; an ELF program is
   * executed from the very descriptor that was checked.
   */
  verify?: string | VeriexecTable;
}

export interface LaunchResult {
  pid: number;
  /** Resolves when the program ends: its exit code, or the signal that ended it. */
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

const SIGKILL = 9;
const SIGSYS = 31;
/** si_code values for SIGCHLD (asm-generic/siginfo.h). */
const CLD_EXITED = 1;

export function launch(program: string, args: string[], options: LaunchOptions = {}): LaunchResult {
  if (typeof program !== 'string' || program === '') throw new TypeError('launch(program, args): program must be a non-empty string');
  if (!Array.isArray(args) || args.some((a) => typeof a !== 'string')) throw new TypeError('launch(program, args): args must be strings');
  const { execAllow, env, onAttempt, verify, ...rules } = options;
  if (rules.exec && execAllow) throw new RangeError('exec: true and execAllow exclude each other');
  const policy = parseOptions(execAllow ? { ...rules, exec: { allow: execAllow } } : rules);
  const file = resolveProgram(program, env ?? process.env);
  const verified = verify === undefined ? undefined : verifyProgram(typeof verify === 'string' ? VeriexecTable.load(verify) : verify, file);
  try {
    return start(program, args, file, verified, policy, { env, onAttempt });
  } finally {
    if (verified) fs.closeSync(verified.fd);
  }
}

function start(
  program: string,
  args: string[],
  file: string,
  verified: VerifiedProgram | undefined,
  policy: ReturnType<typeof parseOptions>,
  { env, onAttempt }: Pick<LaunchOptions, 'env' | 'onAttempt'>,
): LaunchResult {
  const verdict = actionVerdict(policy);
  // 'log' lets everything through, so it needs no supervisor; otherwise exec goes to the supervisor.
  const execVerdict: Verdict | undefined = policy.exec ? (policy.action === 'log' ? verdict : { kind: 'notify' }) : undefined;
  const filter = buildFilter({
    fork: policy.fork ? verdict : undefined,
    exec: execVerdict,
    ptrace: policy.ptrace ? verdict : undefined,
    foreignArch: verdict,
  });

  let ruleset = -1;
  if (policy.execAllow) {
    landlockAbi(); // throws where Landlock is missing or off, saying why
    ruleset = addon.landlockExecRuleset(withInterpreters([file, ...policy.execAllow.map((p) => path.resolve(p))]));
  }

  const envp = Object.entries(env ?? process.env)
    .filter(([, v]) => v !== undefined)
    .map(([k, v]) => `${k}=${v}`);
  let spawned: ReturnType<typeof addon.forkexecSpawn>;
  try {
    spawned = addon.forkexecSpawn(file, [program, ...args], envp, filter, ruleset, verified?.execByFd ? verified.fd : -1);
  } finally {
    if (ruleset >= 0) fs.closeSync(ruleset);
  }
  const { pid } = spawned;

  let resolveExit!: (r: { code: number | null; signal: NodeJS.Signals | null }) => void;
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => (resolveExit = resolve));
  let handle: SupervisorHandle | null = null;
  const drain = () => {
    for (const note of addon.supervisorDrain(handle!).notes) {
      if (note.kind === 0) {
        onAttempt?.(toAttempt(note));
      } else if (note.kind === 1) {
        // The child is gone and the supervisor with it: free both (the handle no longer keeps Node alive).
        addon.supervisorClose(handle!);
        const code = note.status >> 16;
        const value = note.status & 0xffff;
        resolveExit(code === CLD_EXITED ? { code: value, signal: null } : { code: null, signal: signalName(value) });
      }
    }
  };
  const signal = policy.action === 'kill' ? SIGKILL : policy.action === 'trap' ? SIGSYS : 0;
  try {
    handle = addon.supervisorStart(spawned.listener, spawned.pidfd, pid, policy.errno, signal, true, drain, execCallTable());
  } catch (err) {
    // Nothing took the child's descriptors: close them, and end the child waiting in its execve.
    process.kill(pid, 'SIGKILL');
    for (const fd of [spawned.statusFd, spawned.listener, spawned.pidfd]) fs.closeSync(fd);
    throw err;
  }
  addon.forkexecSpawnResult(spawned.statusFd, file, pid);
  return { pid, exited };
}

function signalName(signo: number): NodeJS.Signals {
  const entry = Object.entries(require('node:os').constants.signals as Record<string, number>).find(([, n]) => n === signo);
  return (entry?.[0] ?? `SIG${signo}`) as NodeJS.Signals;
}

/** execvp's search, done before fork: the child must not need a second exec to find it. */
function resolveProgram(program: string, env: NodeJS.ProcessEnv): string {
  if (program.includes('/')) return path.resolve(program);
  for (const dir of (env.PATH ?? '/usr/local/bin:/usr/bin:/bin').split(':')) {
    const candidate = path.resolve(dir || '.', program);
    try {
      fs.accessSync(candidate, fs.constants.X_OK);
      if (fs.statSync(candidate).isFile()) return candidate;
    } catch {
      // keep looking
    }
  }
  throw new SystemError(-2, 'execvp', { path: program });
}
