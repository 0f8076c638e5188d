/**
 * V8 ignores a flag it does not know, silently: a Node upgrade that renames one
 * of gdbsock's tiering flags would quietly make gdb sessions slower. Each flag
 * must still be one this node lists.
 */
import { execFileSync } from 'node:child_process';
import t from 'tap';
import { TIERING_FLAGS } from '../../lib/gdbsock/jit-tiering';

const known = execFileSync(process.execPath, ['--v8-options'], { encoding: 'utf8' });

for (const flag of TIERING_FLAGS) {
  const name = flag.replace(/^--(no-)?/, '').replace(/=.*$/, '');
  t.match(known, new RegExp(`^\\s+--${name} `, 'm'), `node knows ${flag}`);
}
