#!/usr/bin/env node
/**
 * forkexec [--no-fork] [--no-exec] [--no-ptrace] [--exec-allow PATH]...
 *          [--action errno|kill|trap|log|report] [--errno NAME] [--verify FILE] -- program [args...]
 *
 * Runs the program under the rules (see launcher.ts); exits with its status.
 * In report mode each refused call is a JSON line on stderr. With --verify,
 * the program and its interpreter must match a veriexec signatures file.
 */
import os from 'node:os';
import { packageVersion, parseCommandLine, UsageError } from '../cli-args';
import { launch, type LaunchOptions } from './launcher';
import { ACTIONS, type Action } from './options';

const USAGE = `usage: forkexec [--no-fork] [--no-exec] [--no-ptrace] [--exec-allow PATH]... [--action ${ACTIONS.join('|')}] [--errno NAME] [--verify FILE] -- program [args...]`;

const OPTIONS = {
  'no-fork': { type: 'boolean' },
  'no-exec': { type: 'boolean' },
  'no-ptrace': { type: 'boolean' },
  'exec-allow': { type: 'string', multiple: true },
  action: { type: 'string' },
  errno: { type: 'string' },
  verify: { type: 'string' },
  help: { type: 'boolean', short: 'h' },
  version: { type: 'boolean' },
} as const;

function parse(argv: string[]): { options: LaunchOptions; program: string; args: string[] } {
  const { values, rest } = parseCommandLine(argv, OPTIONS, { after: 'program' });
  if (values.help) {
    process.stdout.write(`${USAGE}\n`);
    process.exit(0);
  }
  if (values.version) {
    process.stdout.write(`forkexec (hostkit) ${packageVersion()}\n`);
    process.exit(0);
  }
  const options: LaunchOptions = {};
  if (values['no-fork']) options.fork = true;
  if (values['no-exec']) options.exec = true;
  if (values['no-ptrace']) options.ptrace = true;
  if (values['exec-allow']) options.execAllow = values['exec-allow'];
  if (values.action !== undefined) options.action = values.action as Action;
  if (values.errno !== undefined) options.errno = values.errno;
  if (values.verify !== undefined) options.verify = values.verify;
  const [program, ...args] = rest;
  if (!program) throw new UsageError('no program given');
  return { options, program, args };
}

function main(): void {
  let parsed: ReturnType<typeof parse>;
  try {
    parsed = parse(process.argv.slice(2));
  } catch (err) {
    process.stderr.write(`forkexec: ${(err as Error).message}\n${USAGE}\n`);
    process.exit(2);
  }
  const { options, program, args } = parsed;
  if (options.action === 'report') {
    options.onAttempt = (a) => {
      if (a.allowed) return;
      const record = { syscall: a.syscall, pid: a.pid, tid: a.tid, path: a.path, argv: a.argv, flags: a.flags };
      process.stderr.write(`forkexec: refused ${JSON.stringify(record)}\n`);
    };
  }
  let child: ReturnType<typeof launch>;
  try {
    child = launch(program, args, options);
  } catch (err) {
    process.stderr.write(`forkexec: ${(err as Error).message}\n`);
    process.exit(127);
  }
  // The program shares our terminal: pass on the signals a user or a service manager sends.
  for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP', 'SIGQUIT', 'SIGUSR1', 'SIGUSR2'] as const) {
    process.on(sig, () => {
      try {
        process.kill(child.pid, sig);
      } catch {
        // already gone
      }
    });
  }
  void child.exited.then(({ code, signal }) => {
    process.exit(code ?? 128 + ((os.constants.signals as Record<string, number>)[signal!] ?? 0));
  });
}

main();
