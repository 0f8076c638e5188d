/**
 * gdb's hardware breakpoints (Z1) with target-side conditions, and inserted
 * again and again (gdb.base/break-idempotent.exp: with `breakpoint
 * always-inserted on`, gdb sends Z1 once more for each change of a
 * condition). Inserting an existing breakpoint must change its conditions and
 * take no second debug register; a false condition must never stop the
 * program. gdbserver, with the same gdb commands, is the anchor.
 */
import t from 'tap';
import { debugRegistersFire } from '../debug-registers';
import { fixture } from '../helpers';
import { requireTool, runGdb, startServer } from './gdb';

requireTool('gdb');
requireTool('gdbserver');
const program = fixture('gdbsock');

async function session(kind: 'gdbserver' | 'gdbsock', commands: string[]): Promise<string> {
  const args = [program, 'count', '5'];
  const server = await startServer(kind, args);
  try {
    return await runGdb(`target remote ${server.target}`, commands, { file: program });
  } finally {
    server.stop();
  }
}

const TARGET_SIDE = ['set breakpoint condition-evaluation target', 'set breakpoint always-inserted on'];

for (const kind of ['gdbserver', 'gdbsock'] as const) {
  t.test(`${kind}: a hardware breakpoint inserted again and again holds one debug register, and its condition is judged`, async (t) => {
    // Five conditions in a row: five more Z1s at one address, more than x86's four debug registers.
    // Oracle: the argument the program passes (3). gdbsock emulates Z1 where the registers do not fire.
    if (kind === 'gdbserver' && !debugRegistersFire(t)) return;
    const conditions = ['i == 9', 'i == 8', 'i == 7', 'i == 6', 'i == 3'].map((c) => `condition 1 ${c}`);
    const out = await session(kind, [...TARGET_SIDE, 'hbreak step_me', ...conditions, 'continue', 'print i', 'continue']);
    t.notMatch(out, /Cannot insert|Could not insert/, `every insert was taken:\n${out}`);
    t.match(out, /Breakpoint 1, step_me \(i=(i@entry=)?3\)/, 'it stops only where the condition holds');
    t.equal((out.match(/Breakpoint 1, /g) ?? []).length, 1, 'once');
    t.match(out, /exited normally/);
  });

  t.test(`${kind}: a hardware breakpoint whose condition is always false never stops the program`, async (t) => {
    if (kind === 'gdbserver' && !debugRegistersFire(t)) return;
    const out = await session(kind, [...TARGET_SIDE, 'hbreak step_me', 'condition 1 0', 'continue']);
    t.notMatch(out, /Breakpoint 1, /, `no stop:\n${out}`);
    t.match(out, /exited normally/);
  });
}
