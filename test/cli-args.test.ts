/** The commands' one argument parser: util.parseArgs, errors as UsageError, and where a command's own arguments end. */
import t from 'tap';
import { UsageError, parseCommandLine } from '../lib/cli-args';

const SPEC = { store: { type: 'string' }, config: { type: 'string', short: 'c' }, json: { type: 'boolean' } } as const;

t.test('options, =values, short options and positionals', async (t) => {
  const r = parseCommandLine(['--store=/s', '-c', 'x.toml', '--json', 'ID'], SPEC, { positionals: 1 });
  t.same({ ...r.values }, { store: '/s', config: 'x.toml', json: true });
  t.same(r.positionals, ['ID']);
  t.same(r.rest, []);
});

t.test('bad command lines are UsageErrors a user reads', async (t) => {
  const cases: [string[], RegExp][] = [
    [['--bogus'], /^unknown option --bogus$/],
    [['--store'], /^--store needs a value$/],
    [['-c'], /^-c needs a value$/],
    [['--json=1'], /^--json takes no value$/],
    [['a', 'b'], /^unexpected argument 'b'$/],
  ];
  for (const [argv, message] of cases) t.throws(() => parseCommandLine(argv, SPEC, { positionals: 1 }), { name: 'UsageError', message }, argv.join(' '));
  t.throws(() => parseCommandLine(['x'], SPEC), UsageError, 'no positionals unless asked for');
});

t.test("after: 'dashes' hands everything after -- on untouched", async (t) => {
  const r = parseCommandLine(['ID', '--store', '/s', '--', '-batch', '--json'], SPEC, { positionals: 1, after: 'dashes' });
  t.same(r.positionals, ['ID']);
  t.equal(r.values.store, '/s');
  t.same(r.rest, ['-batch', '--json']);
});

t.test("after: 'program' ends at the first word that is not an option or its value", async (t) => {
  const r = parseCommandLine(['-c', 'prog.toml', '--json', '/bin/ls', '-l', '--store'], SPEC, { after: 'program' });
  t.same({ ...r.values }, { config: 'prog.toml', json: true });
  t.same(r.rest, ['/bin/ls', '-l', '--store']);
  t.same(parseCommandLine(['--json', '--', '--weird-name'], SPEC, { after: 'program' }).rest, ['--weird-name']);
  t.same(parseCommandLine(['--json'], SPEC, { after: 'program' }).rest, []);
});
