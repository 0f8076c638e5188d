#!/usr/bin/env node
import { packageVersion, runUsageOnly } from '../cli-args';

// Loaded on demand: `cored snapshot` starts ~80 ms sooner without the daemon's modules, and vice versa.
const snapshotCli = () => require('./snapshot-cli') as typeof import('./snapshot-cli');
const coredCli = () => require('./cored/cli') as typeof import('./cored/cli');

const USAGE = `usage: cored <command> [options]

A core_pattern crash daemon and ELF core tool.

commands:
  install [--config FILE] [--mode socket|pipe|auto] [--socket PATH]
                            make the kernel hand every core dump to cored: its coredump
                            socket and a resident daemon where it has them, else a pipe
  uninstall                 restore the core_pattern that was there before, stop the daemon
  status                    show the mode in use and why, and whether it works
  test                      crash a throw-away process and show where its core went
  serve [--socket PATH] [--config FILE]
                            the daemon behind the coredump socket, in the foreground
  recover                   finish crashes whose handler died mid-core
  handle ...                (run by the kernel in pipe mode) read one core from stdin
  list [--json] [--since T] [--exe GLOB]
  info ID | dump ID -o FILE | gdb ID [-- GDB-ARGS] | vacuum
                            browse, extract and debug stored cores; apply the quota
  snapshot <pid> [-o FILE|-] [--minimal] [--all]
                            write a gcore-style core of a live process
  -h, --help                show this help
  --version                 show hostkit's version
`;

const argv = process.argv.slice(2);
if (argv.length === 1 && argv[0] === '--version') {
  process.stdout.write(`cored (hostkit) ${packageVersion()}\n`);
} else if (argv[0] === 'snapshot' && !argv.includes('-h') && !argv.includes('--help')) {
  snapshotCli()
    .runSnapshot(argv.slice(1))
    .then(
      (code) => (process.exitCode = code),
      (err) => {
        process.stderr.write(`cored: ${(err as Error).stack ?? err}\n`);
        process.exitCode = 1;
      },
    );
} else if (coredCli().CORED_COMMANDS.has(argv[0] ?? '') && (argv[0] === 'handle' || !(argv.includes('-h') || argv.includes('--help')))) {
  coredCli()
    .runCored(argv)
    .then((code) => (process.exitCode = code));
} else {
  runUsageOnly(USAGE, argv);
}
