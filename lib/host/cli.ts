#!/usr/bin/env node
/**
 * hostkit doctor [--json]
 * hostkit measure [--json] [--samples N] [--quick] [--no-anchors] [--only ID,...]
 *
 * doctor: what this host allows, facility by facility (exit 0 even when some
 * are missing: it is a report). measure: what each kernel crossing costs.
 */
import { packageVersion, parseCommandLine, UsageError } from '../cli-args';
import { doctor, formatDoctor } from './doctor';
import { benchmarkIds, formatMeasure, measure, type MeasureOptions } from './measure';

const USAGE = `usage: hostkit doctor [--json]
       hostkit measure [--json] [--samples N] [--quick] [--no-anchors] [--only ID,...]
measure's IDs: ${benchmarkIds().join(' ')}`;

const OPTIONS = {
  json: { type: 'boolean' },
  samples: { type: 'string' },
  quick: { type: 'boolean' },
  'no-anchors': { type: 'boolean' },
  only: { type: 'string' },
  help: { type: 'boolean', short: 'h' },
  version: { type: 'boolean' },
} as const;

type Command = { name: 'doctor'; json: boolean } | { name: 'measure'; json: boolean; options: MeasureOptions };

function parse(argv: string[]): Command {
  const { values, positionals } = parseCommandLine(argv, OPTIONS, { positionals: 1 });
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

function main(): void {
  let command: Command;
  try {
    command = parse(process.argv.slice(2));
  } catch (err) {
    process.stderr.write(`hostkit: ${(err as Error).message}\n${USAGE}\n`);
    process.exit(2);
  }
  try {
    if (command.name === 'doctor') {
      const report = doctor();
      process.stdout.write(command.json ? `${JSON.stringify(report, null, 2)}\n` : formatDoctor(report));
    } else {
      const report = measure(command.options);
      process.stdout.write(command.json ? `${JSON.stringify(report, null, 2)}\n` : formatMeasure(report));
    }
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    process.stderr.write(`hostkit ${command.name}: ${e.message}\n`);
    process.exit(1);
  }
}

main();
