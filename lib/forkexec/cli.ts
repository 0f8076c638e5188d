#!/usr/bin/env node
/**
 * forkexec [--no-fork] [--no-exec] [--no-ptrace] [--exec-allow PATH]...
 *          [--action errno|kill|trap|log|report] [--errno NAME] -- program [args...]
 *
 * Runs the program under the rules (see launcher.ts); exits with its status.
 * In report mode each refused call is a JSON line on stderr.
 */
import os from 'node:os';
import { launch, type LaunchOptions } from './launcher';
import { ACTIONS, type Action } from './options';

const USAGE = `usage: forkexec [--no-fork] [--no-exec] [--no-ptrace] [--exec-allow PATH]... [--action ${ACTIONS.join('|')}] [--errno NAME] -- program [args...]`;

function parse(argv: string[]): { options: LaunchOptions; program: string; args: string[] } {
  const options: LaunchOptions = {};
  let i = 0;
  for (; i < argv.length; i++) {
    const arg = argv[i]!;
    const value = () => {
      if (i + 1 >= argv.length) throw new Error(`${arg} needs a value`);
      return argv[++i]!;
    };
    if (arg === '--') {
      i++;
      break;
    } else if (arg === '--no-fork') options.fork = true;
    else if (arg === '--no-exec') options.exec = true;
    else if (arg === '--no-ptrace') options.ptrace = true;
    else if (arg === '--exec-allow') (options.execAllow ??= []).push(value());
    else if (arg === '--action') options.action = value() as Action;
    else if (arg === '--errno') options.errno = value();
    else if (arg === '-h' || arg === '--help') {
      process.stdout.write(`${USAGE}\n`);
      process.exit(0);
    } else if (arg.startsWith('-')) throw new Error(`unknown option ${arg}`);
    else break;
  }
  const [program, ...args] = argv.slice(i);
  if (!program) throw new Error('no program given');
  return { options, program, args };
}

function main(): void {
  let parsed;
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
  let child;
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
