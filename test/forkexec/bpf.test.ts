/**
 * The BPF assembler and the filter builder. Encoding is checked on bytes;
 * behaviour by installing built filters in child processes (filters are forever).
 */
import t from 'tap';
import { Assembler, disassemble, Op, Ret } from '../../lib/forkexec/bpf';
import { buildFilter, verdictValue } from '../../lib/forkexec/filter';
import { archTable, AuditArch, syscallName } from '../../lib/forkexec/syscalls';
import { hostHasInt80Gate, NO_INT80_GATE, NO_INT80_GATE_CODE, runScript } from './fixtures/run';

/** Oracle for `int 0x80`: whether this kernel answers it at all (escape.test.ts says more). */
const INT80_GATE = hostHasInt80Gate();

t.test('assembles sock_filter entries with forward jumps resolved', async (t) => {
  const bytes = new Assembler().load(4).jeq(0xc000003e, 'next', 'bad').ret(Ret.ALLOW).label('bad').ret(Ret.KILL_PROCESS).assemble();
  t.equal(bytes.length, 4 * 8);
  t.same(disassemble(bytes), [
    { code: Op.LD_W_ABS, jt: 0, jf: 0, k: 4 },
    { code: Op.JEQ_K, jt: 0, jf: 1, k: 0xc000003e },
    { code: Op.RET_K, jt: 0, jf: 0, k: Ret.ALLOW },
    { code: Op.RET_K, jt: 0, jf: 0, k: 0x80000000 },
  ]);
});

t.test('rejects programs the kernel would refuse', async (t) => {
  t.throws(() => new Assembler().assemble(), RangeError, 'empty');
  t.throws(() => new Assembler().load(0).assemble(), /must end with a return/);
  t.throws(() => new Assembler().jeq(1, 'nowhere').ret(0).assemble(), /unknown label nowhere/);
  t.throws(() => new Assembler().label('a').label('a'), /placed twice/);
  t.throws(() => new Assembler().label('back').jeq(1, 'back').ret(0).assemble(), /BPF jumps only forward/);
  const far = new Assembler().jeq(1, 'far');
  for (let i = 0; i < 300; i++) far.ret(0);
  t.throws(() => far.label('far').ret(0).assemble(), /at most 255/);
  t.throws(() => new Assembler().ret(2 ** 32), /not a u32/);
  t.throws(() => verdictValue({ kind: 'errno', errno: 0 }), RangeError);
  t.throws(() => verdictValue({ kind: 'errno', errno: 4096 }), RangeError);
});

t.test('the filter checks the arch first and x32 numbers next', async (t) => {
  const insns = disassemble(buildFilter({ exec: { kind: 'errno', errno: 1 }, foreignArch: { kind: 'kill' } }));
  t.same(insns[0], { code: Op.LD_W_ABS, jt: 0, jf: 0, k: 4 }, 'load seccomp_data.arch');
  t.equal(insns[1]!.k, AuditArch.X86_64);
  t.same(insns[2], { code: Op.LD_W_ABS, jt: 0, jf: 0, k: 0 }, 'load seccomp_data.nr');
  t.same([insns[3]!.code, insns[3]!.k], [Op.JGE_K, 0x40000000], 'x32 bit');
  t.equal(insns.at(-1)!.k, Ret.KILL_PROCESS, 'the foreign-arch verdict');
  t.notOk(
    insns.some((i) => i.code === Op.JEQ_K && i.k === 426),
    'io_uring_enter is never matched',
  );
  t.equal(archTable('arm64').name, 'aarch64');
  t.throws(() => archTable('mips'), /no syscall table/);
});

t.test('syscall names for reports', async (t) => {
  t.equal(syscallName(AuditArch.X86_64, 59), 'execve');
  t.equal(syscallName(AuditArch.X86_64, 0x40000000 | 520), 'x32 execve');
  t.equal(syscallName(AuditArch.I386, 11), 'i386 execve');
  t.equal(syscallName(AuditArch.X86_64, 9999), 'syscall 9999');
  t.equal(syscallName(0x1234, 1), 'arch 0x1234 syscall 1');
});

// Behaviour: each spec installed in a fresh Node, probed with the escape library.
const PROBES = ['fork', 'clone3', 'execve', 'int 0x80 execve', 'x32 execve'];
async function probe(spec: object): Promise<Record<string, string>> {
  const r = await runScript(`
    const os = require('node:os');
    const koffi = require('koffi');
    const run = koffi.load(LIBESCAPE).func('int escape_run(const char *name)');
    const { buildFilter } = require(${JSON.stringify(require.resolve('../../dist/forkexec/filter'))});
    const rc = native.addon.seccompInstall(buildFilter(${JSON.stringify(spec)}), 1 /* TSYNC */);
    if (rc !== 0) throw new Error('install failed ' + rc);
    const names = Object.fromEntries(Object.entries(os.constants.errno).map(([k, v]) => [v, k]));
    const out = {};
    for (const p of ${JSON.stringify(PROBES)}) { const rc = run(p); out[p] = rc === 0 ? 'escaped' : rc === ${NO_INT80_GATE_CODE} ? ${JSON.stringify(NO_INT80_GATE)} : names[rc]; }
    out.getppid = String(process.ppid > 0);
    console.log(JSON.stringify(out));
  `);
  if (r.code !== 0) throw new Error(r.stderr);
  return JSON.parse(r.stdout);
}

t.test('behaviour: each family gets its own verdict, the rest is untouched', async (t) => {
  const out = await probe({ exec: { kind: 'errno', errno: 42 }, foreignArch: { kind: 'errno', errno: 71 } });
  t.same(out, {
    fork: 'escaped',
    clone3: 'escaped',
    execve: 'ENOMSG',
    'int 0x80 execve': INT80_GATE ? 'EPROTO' : NO_INT80_GATE,
    'x32 execve': 'EPROTO',
    getppid: 'true',
  });
});

t.test('behaviour: fork denial answers clone3 with ENOSYS whatever the verdict', async (t) => {
  const out = await probe({ fork: { kind: 'errno', errno: 1 }, foreignArch: { kind: 'allow' } });
  t.same(out, {
    fork: 'EPERM',
    clone3: 'ENOSYS',
    execve: 'escaped',
    'int 0x80 execve': INT80_GATE ? 'escaped' : NO_INT80_GATE,
    'x32 execve': 'ENOSYS',
    getppid: 'true',
  });
});
