#!/usr/bin/env node
/**
 * hostkit doctor [--json]
 * hostkit measure [--json] [--samples N] [--quick] [--no-anchors] [--only ID,...]
 * hostkit fd PID [--json] | fd PID close FD | fd PID redirect FD FILE [--truncate]
 *
 * doctor: what this host allows, facility by facility (exit 0 even when some
 * are missing: it is a report). measure: what each kernel crossing costs.
 * fd: a process's open files; close one or redirect one from inside it.
 */
import { checkPid } from '../errors';
import { packageVersion, parseCommandLine, UsageError } from '../cli-args';
import { doctor, formatDoctor } from './doctor';
import { closeFd, listFds, redirectFd } from './fd';
import { benchmarkIds, formatMeasure, measure, type MeasureOptions } from './measure';

const USAGE = `usage: hostkit doctor [--json]
       hostkit measure [--json] [--samples N] [--quick] [--no-anchors] [--only ID,...]
       hostkit fd PID [--json] | hostkit fd PID close FD | hostkit fd PID redirect FD FILE [--truncate]
measure's IDs: ${benchmarkIds().join(' ')}`;

const OPTIONS = {
  json: { type: 'boolean' },
  samples: { type: 'string' },
  quick: { type: 'boolean' },
  'no-anchors': { type: 'boolean' },
  only: { type: 'string' },
  truncate: { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
  version: { type: 'boolean' },
} as const;

type FdAction = { kind: 'list' } | { kind: 'close'; fd: number } | { kind: 'redirect'; fd: number; file: string; truncate: boolean };
type Command =
  | { name: 'doctor'; json: boolean }
  | { name: 'measure'; json: boolean; options: MeasureOptions }
  | { name: 'fd'; json: boolean; pid: number; action: FdAction };

function parse(argv: string[]): Command {
  const { values, positionals } = parseCommandLine(argv, OPTIONS, { positionals: 5 });
  if (values.help) {
    process.stdout.write(`${USAGE}\n`);
    process.exit(0);
  }
  if (values.version) {
    process.stdout.write(`hostkit (hostkit) ${packageVersion()}\n`);
    process.exit(0);
  }
  const name = positionals[0];
  const json = values.json === true;
  if (name !== 'fd' && positionals.length > 1) throw new UsageError(`${name} takes no arguments, got ${positionals.slice(1).join(' ')}`);
  if (name !== 'fd' && values.truncate) throw new UsageError('--truncate is an option of fd redirect');
  if (name === 'fd') return parseFd(positionals.slice(1), json, values.truncate === true);
  if (name === 'doctor') {
    for (const key of ['samples', 'quick', 'no-anchors', 'only'] as const) {
      if (values[key] !== undefined) throw new UsageError(`--${key} is an option of measure, not doctor`);
    }
    return { name, json };
  }
  if (name === 'measure') {
    const options: MeasureOptions = {};
    if (values.samples !== undefined) {
      const n = Number(values.samples);
      if (!Number.isInteger(n) || n < 1 || n > 1000)
        throw new UsageError(`--samples takes a whole number from 1 to 1000, not ${JSON.stringify(values.samples)}`);
      options.samples = n;
    }
    if (values.quick) options.scale = 0.1;
    if (values['no-anchors']) options.anchors = false;
    if (values.only !== undefined) {
      options.only = values.only.split(',').filter(Boolean);
      const unknown = options.only.filter((id) => !benchmarkIds().includes(id));
      if (unknown.length) throw new UsageError(`--only: unknown ${unknown.join(', ')}`);
    }
    return { name, json, options };
  }
  throw new UsageError(name === undefined ? 'no command given' : `unknown command ${JSON.stringify(name)}`);
}

function parseFd(args: string[], json: boolean, truncate: boolean): Command {
  const number = (text: string | undefined, what: string): number => {
    if (text === undefined || !/^\d+$/.test(text)) throw new UsageError(`fd: ${what} must be a number, got ${JSON.stringify(text ?? '')}`);
    return Number(text);
  };
  const pid = number(args[0], 'PID');
  try {
    checkPid(pid);
  } catch (err) {
    throw new UsageError(`fd: ${(err as Error).message}`);
  }
  const [, verb, fdText, file] = args;
  if (verb === undefined) return { name: 'fd', json, pid, action: { kind: 'list' } };
  if (verb === 'close' && args.length === 3) return { name: 'fd', json, pid, action: { kind: 'close', fd: number(fdText, 'FD') } };
  if (verb === 'redirect' && args.length === 4) return { name: 'fd', json, pid, action: { kind: 'redirect', fd: number(fdText, 'FD'), file: file!, truncate } };
  throw new UsageError(`fd: expected PID, PID close FD or PID redirect FD FILE, got ${args.join(' ')}`);
}

async function runFd(pid: number, action: FdAction, json: boolean): Promise<void> {
  if (action.kind === 'list') {
    const open = listFds(pid);
    process.stdout.write(json ? `${JSON.stringify(open, null, 2)}\n` : open.map((f) => `${String(f.fd).padStart(4)}  ${f.target}\n`).join(''));
  } else if (action.kind === 'close') {
    await closeFd(pid, action.fd);
    process.stdout.write(`closed descriptor ${action.fd} of process ${pid}\n`);
  } else {
    const before = await redirectFd(pid, action.fd, action.file, { truncate: action.truncate });
    process.stdout.write(`descriptor ${action.fd} of process ${pid}: ${before} -> ${action.file}\n`);
  }
}

function main(): void {
  let command: Command;
  try {
    command = parse(process.argv.slice(2));
  } catch (err) {
    process.stderr.write(`hostkit: ${(err as Error).message}\n${USAGE}\n`);
    process.exit(2);
  }
  run(command).catch((err: Error) => {
    process.stderr.write(`hostkit ${command.name}: ${err.message}\n`);
    process.exit(1);
  });
}

async function run(command: Command): Promise<void> {
  if (command.name === 'doctor') {
    const report = doctor();
    process.stdout.write(command.json ? `${JSON.stringify(report, null, 2)}\n` : formatDoctor(report));
  } else if (command.name === 'measure') {
    const report = measure(command.options);
    process.stdout.write(command.json ? `${JSON.stringify(report, null, 2)}\n` : formatMeasure(report));
  } else {
    await runFd(command.pid, command.action, command.json);
  }
}

main();
