/**
 * What extended-remote's vRun and vAttach start from: the TargetProvider a
 * Server is given, and the settings gdb sends for the programs it runs
 * (GDB manual, "General Query Packets": QEnvironmentHexEncoded,
 * QSetWorkingDir, QDisableRandomization, QStartupWithShell).
 */
import type { ExecString } from '../ptrace';
import type { Request } from './requests';
import type { Target } from './target';

/** How to get a new target for vRun and vAttach (extended-remote). */
export interface TargetProvider {
  attach(pid: number): Promise<Target>;
  /** argv as gdb sent it: bytes, which need not be UTF-8 (a string where gdbsock supplied the name). */
  launch(argv: ExecString[], options: LaunchSettings): Promise<Target>;
}

/**
 * The program gdb ran last and its arguments, kept across the connections of
 * one gdbsock as gdbserver keeps its program and arguments: a later gdb's vRun
 * with an empty name, and R, run it again (first the command line's program).
 */
export interface ProgramHistory {
  argv?: ExecString[];
}

export interface LaunchSettings {
  env: Record<string, string | undefined>;
  cwd?: string;
  disableRandomization: boolean;
  startupWithShell: boolean;
}

/** As gdb's own defaults: gdbsock's environment, no address randomization, through the shell. */
export function defaultLaunchSettings(): LaunchSettings {
  return { env: { ...process.env }, disableRandomization: true, startupWithShell: true };
}

/** Applies a launch setting gdb sent; false if `r` is not one. */
export function applyLaunchSetting(settings: LaunchSettings, r: Request): boolean {
  switch (r.kind) {
    case 'disableRandomization':
      settings.disableRandomization = r.on;
      return true;
    case 'startupWithShell':
      settings.startupWithShell = r.on;
      return true;
    case 'setWorkingDir':
      if (r.dir !== undefined) settings.cwd = r.dir;
      else delete settings.cwd;
      return true;
    case 'environmentReset':
      settings.env = { ...process.env };
      return true;
    case 'environmentSet':
      settings.env[r.name] = r.value;
      return true;
    case 'environmentUnset':
      delete settings.env[r.name];
      return true;
    default:
      return false;
  }
}
