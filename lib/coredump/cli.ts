#!/usr/bin/env node
import { runUsageOnly } from '../usage';

// Loaded on demand: `cored snapshot` starts ~80 ms sooner without the daemon's modules, and vice versa.
const snapshotCli = () => require('./snapshot-cli') as typeof import('./snapshot-cli');
const coredCli = () => require('./cored/cli') as typeof import('./cored/cli');

const USAGE = `usage: cored <command> [options]

A core_pattern crash daemon and ELF core tool.

commands:
  install [--config FILE]   make the kernel pipe every core dump to cored
  uninstall                 restore the core_pattern that was there before
  status                    show what is installed and whether it works
  test                      crash a throw-away process and show where its core went
  handle ...                (run by the kernel) read one core from stdin
  list [--json] [--since T] [--exe GLOB]
  info ID | dump ID -o FILE | gdb ID [-- GDB-ARGS] | vacuum
                            browse, extract and debug stored cores; apply the quota
  snapshot <pid> [-o FILE|-] [--minimal] [--all]
                            write a gcore-style core of a live process
  -h, --help                show this help
`;

const argv = process.argv.slice(2);
if (argv[0] === 'snapshot' && !argv.includes('-h') && !argv.includes('--help')) {
  snapshotCli().runSnapshot(argv.slice(1)).then(
    (code) => (process.exitCode = code),
    (err) => {
      process.stderr.write(`cored: ${(err as Error).stack ?? err}\n`);
      process.exitCode = 1;
    },
  );
} else if (coredCli().CORED_COMMANDS.has(argv[0] ?? '') && (argv[0] === 'handle' || !(argv.includes('-h') || argv.includes('--help')))) {
  coredCli().runCored(argv).then((code) => (process.exitCode = code));
} else {
  runUsageOnly(USAGE, argv);
}
