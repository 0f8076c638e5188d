/**
 * The layers ARCHITECTURE.md draws, checked: a module under lib/ imports only
 * from its own folder and the folders below it.
 */
import fs from 'node:fs';
import path from 'node:path';
import t from 'tap';

const lib = path.resolve(__dirname, '..', 'lib');

/** Which top-level part of lib/ a file belongs to. */
function part(file: string): string {
  const rel = path.relative(lib, file).split(path.sep);
  if (rel.length === 1) return rel[0]!.replace(/\.ts$/, ''); // errors, clock, native, cli-args, index
  if (rel[0] === 'coredump' && rel[1] === 'cored') return 'cored';
  return rel[0]!;
}

/** What each part may import besides itself. */
const MAY_IMPORT: Record<string, string[]> = {
  errors: [],
  clock: [],
  native: ['errors'],
  'cli-args': [],
  'exec-files': [],
  procfs: ['errors', 'native'],
  ptrace: ['errors', 'native', 'procfs', 'clock'],
  coredump: ['errors', 'native', 'procfs', 'ptrace', 'cli-args'],
  cored: ['errors', 'native', 'procfs', 'coredump', 'cli-args'],
  gdbsock: ['errors', 'native', 'procfs', 'ptrace', 'coredump', 'cli-args', 'clock'],
  veriexec: ['errors', 'native', 'procfs', 'cli-args', 'exec-files'],
  // The launcher's --verify checks its one exec against a veriexec table.
  forkexec: ['errors', 'native', 'cli-args', 'exec-files', 'veriexec'],
  // doctor reports cored's view of the kernel (core-modes.ts) and measures forkexec's filter.
  host: ['errors', 'native', 'procfs', 'ptrace', 'cored', 'forkexec', 'veriexec', 'cli-args'],
  index: ['errors', 'native', 'procfs', 'ptrace', 'coredump', 'cored', 'gdbsock', 'forkexec'],
};
/** cored's one door for the others: its public store API, re-exported by coredump/index.ts. */
const CORED_PUBLIC = new Set(['stored-crash.ts']);

function* files(dir: string): Generator<string> {
  for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) yield* files(full);
    else if (entry.name.endsWith('.ts')) yield full;
  }
}

t.test('every import under lib/ goes down the layers, never up or sideways', async (t) => {
  const wrong: string[] = [];
  for (const file of files(lib)) {
    const from = part(file);
    const text = fs.readFileSync(file, 'utf8');
    for (const m of text.matchAll(/(?:from|require\()\s*'(\.[^']+)'/g)) {
      let target = path.resolve(path.dirname(file), m[1]!);
      target = fs.existsSync(`${target}.ts`) ? `${target}.ts` : path.join(target, 'index.ts');
      const to = part(target);
      if (to === from) continue;
      if (to === 'cored' && from === 'coredump' && path.basename(file) === 'index.ts' && CORED_PUBLIC.has(path.basename(target))) continue;
      if (to === 'cored' && path.relative(lib, file) === path.join('coredump', 'cli.ts')) continue; // the `cored` command's entry point
      if (!MAY_IMPORT[from]?.includes(to)) wrong.push(`${path.relative(lib, file)} (${from}) imports ${m[1]} (${to})`);
    }
  }
  t.same(wrong, [], 'imports against the layers');
});
