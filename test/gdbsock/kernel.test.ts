/**
 * gdbsock 0: the kernel, read-only. This machine has no /proc/kcore, so the
 * target is proven on a kcore-like ELF file (PT_LOAD segments at kernel
 * addresses, the notes /proc/kcore carries) and a matching kallsyms file;
 * the tasks are this machine's own, from /proc.
 */
import { execFile, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import t from 'tap';
import { encodeNote } from '../../lib/coredump';
import { encodeElfHeader, encodeProgramHeader } from '../../lib/coredump/header';
import { cleanEnv, requireTool } from './gdb';

requireTool('gdb');

const CLI = path.join(__dirname, '..', '..', 'dist', 'gdbsock', 'cli.js');
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'gdbsock-kernel-test-'));
t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));

const TEXT = 0xffffffff81000000n;
const DATA = 0xffffffff82000000n;
const PAGE = 4096;

/** A kcore as fs/proc/kcore.c lays it out: notes first, then one PT_LOAD per range of kernel memory. */
function writeKcore(file: string): void {
  const text = Buffer.alloc(2 * PAGE, 0xcc); // int3 padding, as between kernel functions
  Buffer.from([0x55, 0x48, 0x89, 0xe5, 0xc3]).copy(text, 0x100); // push %rbp; mov %rsp,%rbp; ret
  const data = Buffer.alloc(PAGE);
  data.write('kernel data here\0', 0, 'latin1');
  data.writeBigUInt64LE(0x1122334455667788n, 0x40);
  // /proc/kcore's notes: an empty NT_PRSTATUS and NT_PRPSINFO, and VMCOREINFO.
  const notes = Buffer.concat([
    encodeNote('CORE', 1, Buffer.alloc(336)),
    encodeNote('CORE', 3, Buffer.alloc(136)),
    encodeNote('VMCOREINFO', 0, Buffer.from('OSRELEASE=6.18.0\nPAGESIZE=4096\n')),
  ]);
  const segments = [
    { vaddr: TEXT, bytes: text },
    { vaddr: DATA, bytes: data },
  ];
  const phnum = 1 + segments.length;
  const noteOffset = 64 + phnum * 56;
  let offset = Math.ceil((noteOffset + notes.length) / PAGE) * PAGE;
  const headers = [encodeProgramHeader({ type: 4, flags: 0, offset: noteOffset, vaddr: 0n, paddr: 0n, filesz: notes.length, memsz: 0n, align: 4n })];
  for (const s of segments) {
    headers.push(
      encodeProgramHeader({ type: 1, flags: 7, offset, vaddr: s.vaddr, paddr: 0n, filesz: s.bytes.length, memsz: BigInt(s.bytes.length), align: BigInt(PAGE) }),
    );
    offset += s.bytes.length;
  }
  const head = Buffer.concat([encodeElfHeader({ machine: 62, phnum }), ...headers, notes]);
  const first = Math.ceil(head.length / PAGE) * PAGE;
  fs.writeFileSync(file, Buffer.concat([head, Buffer.alloc(first - head.length), ...segments.map((s) => s.bytes)]));
}

const KALLSYMS = `0000000000000000 A fixed_percpu_data
ffffffff81000000 T _text
ffffffff81000000 T startup_64
ffffffff81000100 T hostkit_test_function
ffffffff81000105 t hostkit_local_helper
ffffffff81001000 T hostkit_next_function
ffffffff82000000 D hostkit_test_data
ffffffff82000040 d hostkit_word
ffffffffc0000000 t hostkit_module_function\t[hostkit_mod]
`;

const kcore = path.join(dir, 'kcore');
const kallsyms = path.join(dir, 'kallsyms');
writeKcore(kcore);
fs.writeFileSync(kallsyms, KALLSYMS);

function gdb(commands: string[]): Promise<string> {
  const args = ['-nx', '-batch', '-ex', 'set width 0', '-ex', 'set height 0'];
  args.push('-ex', `target remote | ${process.execPath} ${CLI} --stdio 0 --kcore ${kcore} --kallsyms ${kallsyms}`);
  for (const c of commands) args.push('-ex', c);
  return new Promise((resolve, reject) => {
    execFile(
      '/bin/sh',
      ['-c', 'exec gdb "$@" 2>&1', 'sh', ...args],
      { encoding: 'utf8', timeout: 60_000, env: cleanEnv(), maxBuffer: 16 << 20 },
      (err, stdout) => {
        if (err && (err as { killed?: boolean }).killed) reject(new Error(`gdb timed out:\n${stdout}`));
        else resolve(stdout);
      },
    );
  });
}

t.test('kernel memory by symbol, from the kcore and the kallsyms symbol file', async (t) => {
  const out = await gdb([
    'x/5xb hostkit_test_function',
    'x/3i hostkit_test_function',
    // Symbols without debug information have no type: gdb wants their address.
    'x/s &hostkit_test_data',
    'x/gx &hostkit_word',
    'info symbol 0xffffffff81000103',
    'info symbol 0xffffffff82000044',
    'x/xb 0xffffffff81ff0000',
    'x/xb hostkit_module_function',
  ]);
  t.match(out, /Reading symbols from target:\S+kallsyms\.elf/, 'gdb loads the symbol file by itself');
  t.match(out, /<hostkit_test_function>:\s+0x55\s+0x48\s+0x89\s+0xe5\s+0xc3/, 'x/ at a text symbol');
  t.match(out, /<hostkit_test_function\+1>:\s+mov\s+%rsp,%rbp/, 'disassembly with symbols');
  t.match(out, /<hostkit_test_data>:\s+"kernel data here"/, 'x/s at a data symbol');
  t.match(out, /<hostkit_word>:\s+0x1122334455667788/, 'a local data symbol');
  t.match(out, /hostkit_test_function \+ 3 in section \.text/, 'an address inside a function');
  t.match(out, /hostkit_word \+ 4 in section \.data/, 'an address inside data');
  t.match(out, /Cannot access memory at address 0xffffffff81ff0000/, 'no segment, no bytes (not zeros)');
  t.match(out, /Cannot access memory at address 0xffffffffc0000000/, 'a module symbol outside the kcore');
});

t.test('every task in /proc is a thread, with its name and state', async (t) => {
  const out = await gdb(['info threads']);
  const comm = (pid: number) => fs.readFileSync(`/proc/${pid}/comm`, 'utf8').trim();
  t.match(out, new RegExp(`Thread 4194304\\.1 "${comm(1).replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}" \\(\\w[\\w ]*, process 1\\)`), 'init');
  t.match(out, new RegExp(`Thread 4194304\\.${process.pid} "${comm(process.pid)}" \\((running|sleeping), process ${process.pid}\\)`), 'this test');
  t.match(out, /Thread 4194304\.2 "kthreadd" \(sleeping, kernel thread\)/, 'a kernel thread');
  const threads = out.split('\n').filter((l) => /^\*?\s+\d+\s+Thread 4194304\./.test(l)).length;
  const tasks = fs.readdirSync('/proc').filter((p) => /^\d+$/.test(p)).length;
  t.ok(threads >= tasks, `${threads} threads for ${tasks} processes`);
  t.match(out, /0x0000000000000000 in \?\? \(\)/, 'no registers from here: the pc reads as 0');
});

t.test('read-only: no resume, no writes; registers are unavailable', async (t) => {
  const out = await gdb(['info registers rip rsp rax', 'continue', 'set var *(char *)&hostkit_test_data = 65', 'x/s &hostkit_test_data', 'bt']);
  t.match(out, /rsp\s+<unavailable>/, 'rsp is unavailable');
  t.match(out, /rax\s+<unavailable>/, 'rax is unavailable');
  t.match(out, /Remote failure reply: E\.the kernel is read-only: it cannot be resumed or stepped/);
  t.match(out, /Cannot access memory at address 0xffffffff82000000/, 'the write is refused');
  t.match(out, /the kernel is read-only: memory cannot be written/, 'gdbsock says why');
  t.match(out, /"kernel data here"/, 'memory is unchanged');
  t.match(out, /Backtrace stopped: not enough registers or memory available to unwind further/);
});

function gdbsock(args: string[]) {
  return spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8', env: cleanEnv(), timeout: 20_000 });
}

t.test('without a kcore: a clear error naming the file and errno, exit status 1', async (t) => {
  if (!fs.existsSync('/proc/kcore')) {
    const r = gdbsock(['--stdio', '0']);
    t.equal(r.status, 1);
    t.match(r.stderr, /cannot read the kernel's memory: ENOENT: no such file or directory, open \('\/proc\/kcore'\); give another file with --kcore FILE/);
  }
  const missing = path.join(dir, 'no-kcore');
  const r = gdbsock(['0', '--kcore', missing, '--kallsyms', kallsyms]);
  t.equal(r.status, 1);
  t.match(r.stderr, new RegExp(`ENOENT: no such file or directory, open \\('${missing}'\\)`));
  t.notMatch(r.stderr, /\n\s+at /, 'no stack trace');
});

t.test('bad kallsyms and kcore files: clear errors', async (t) => {
  const bad = path.join(dir, 'bad-kallsyms');
  fs.writeFileSync(bad, 'ffffffff81000000 T _text\nthis is not a symbol line\n');
  const zero = path.join(dir, 'zero-kallsyms');
  fs.writeFileSync(zero, '0000000000000000 T _text\n0000000000000000 T startup_64\n');
  const notElf = path.join(dir, 'not-elf');
  fs.writeFileSync(notElf, 'hello');
  const cases: [string[], RegExp][] = [
    [['0', '--kcore', kcore, '--kallsyms', bad], /bad-kallsyms:2: not a kallsyms line: "this is not a symbol line"/],
    [['0', '--kcore', kcore, '--kallsyms', zero], /shows every address as 0: read it as root, with kernel\.kptr_restrict below 2/],
    [['0', '--kcore', notElf, '--kallsyms', kallsyms], /bad core at offset 5 .*file ends inside the ELF header/],
    [['0', '--kcore', kcore, '--kallsyms', path.join(dir, 'none')], /cannot read the kernel's symbols: ENOENT/],
    [['12', '--kcore', kcore], /--kcore and --kallsyms go with 0/],
  ];
  for (const [args, message] of cases) {
    const r = gdbsock(args);
    t.not(r.status, 0, `${args.join(' ')}: non-zero exit`);
    t.match(r.stderr, message, `${args.join(' ')}: says what is wrong`);
  }
});
