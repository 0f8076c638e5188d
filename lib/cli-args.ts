/**
 * The one argument parser of the command-line tools: Node's `util.parseArgs`
 * (long and short options, `--name=value`, `--` ends the options), with its
 * errors reworded as a `UsageError` a user reads: "--store needs a value".
 */
import fs from 'node:fs';
import path from 'node:path';
import { type ParseArgsConfig, parseArgs } from 'node:util';

/** Bad command line: the tools print their usage and exit with 2. */
export class UsageError extends Error {
  override name = 'UsageError';
}

type OptionSpecs = NonNullable<ParseArgsConfig['options']>;
type Parsed<O extends OptionSpecs> = ReturnType<typeof parseArgs<{ options: O; allowPositionals: true; strict: true }>>;

export interface CommandLine<O extends OptionSpecs> {
  values: Parsed<O>['values'];
  positionals: string[];
  /**
   * What follows the tool's own arguments, untouched: after `--` (`after: 'dashes'`),
   * or from the first positional on, which names a program to run (`after: 'program'`).
   */
  rest: string[];
}

export interface Layout {
  /** How many positionals the tool takes at most (default none). */
  positionals?: number;
  after?: 'dashes' | 'program';
}

export function parseCommandLine<const O extends OptionSpecs>(argv: readonly string[], options: O, layout: Layout = {}): CommandLine<O> {
  const end = layout.after === undefined ? argv.length : endOfOwnArguments(argv, options, layout.after);
  let parsed: Parsed<O>;
  try {
    parsed = parseArgs({ args: argv.slice(0, end), options, allowPositionals: true, strict: true });
  } catch (err) {
    throw usageErrorOf(err);
  }
  const rest = argv.slice(argv[end] === '--' ? end + 1 : end);
  if (parsed.positionals.length > (layout.positionals ?? 0)) throw new UsageError(`unexpected argument '${parsed.positionals[layout.positionals ?? 0]}'`);
  return { values: parsed.values, positionals: parsed.positionals, rest };
}

/** Where the tool's own arguments end: at `--`, or (for 'program') at the first word that is neither an option nor an option's value. */
function endOfOwnArguments(argv: readonly string[], options: OptionSpecs, after: 'dashes' | 'program'): number {
  const takesValue = new Set<string>();
  for (const [name, spec] of Object.entries(options)) {
    if (spec.type !== 'string') continue;
    takesValue.add(`--${name}`);
    if (spec.short) takesValue.add(`-${spec.short}`);
  }
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '--') return i;
    if (after === 'dashes') continue;
    if (!a.startsWith('-') || a === '-') return i;
    if (takesValue.has(a)) i++;
  }
  return argv.length;
}

function usageErrorOf(err: unknown): Error {
  const code = (err as NodeJS.ErrnoException).code;
  const message = (err as Error).message;
  const option = /'(-[^',\s]+)/.exec(message)?.[1] ?? '';
  switch (code) {
    case 'ERR_PARSE_ARGS_UNKNOWN_OPTION':
      return new UsageError(`unknown option ${option}`);
    case 'ERR_PARSE_ARGS_INVALID_OPTION_VALUE':
      return new UsageError(message.includes('does not take') ? `${option} takes no value` : `${option} needs a value`);
    default:
      return err as Error;
  }
}

/** A command line that names no command the tool knows: usage on stdout for -h (or nothing), else on stderr with status 2. */
export function runUsageOnly(usage: string, argv: readonly string[]): never {
  const wantsHelp = argv.length === 0 || argv.some((a) => a === '-h' || a === '--help');
  if (wantsHelp) {
    process.stdout.write(usage);
    process.exit(argv.length === 0 ? 2 : 0);
  }
  process.stderr.write(`${usage}\nunknown command: ${argv.join(' ')}\n`);
  process.exit(2);
}

/**
 * hostkit's version, for the command lines' --version: read from the
 * package.json one level above this module (dist/ and lib/ both sit there).
 */
export function packageVersion(): string {
  const { version } = JSON.parse(fs.readFileSync(path.join(__dirname, '..', 'package.json'), 'utf8')) as { version: string };
  return version;
}
