/** Shared by the command-line entry points: print usage, exit with the right code. */
export function runUsageOnly(usage: string, argv: readonly string[]): never {
  const wantsHelp = argv.length === 0 || argv.some((a) => a === '-h' || a === '--help');
  if (wantsHelp) {
    process.stdout.write(usage);
    process.exit(argv.length === 0 ? 2 : 0);
  }
  process.stderr.write(`${usage}\nunknown command: ${argv.join(' ')}\n`);
  process.exit(2);
}
