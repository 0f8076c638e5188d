/**
 * The reader on cores made by others: the kernel (a real crash), gdb's gcore
 * of a live process and gdb's generate-core-file of a process it runs. File,
 * buffer and stream readers must agree on every core.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { Readable } from 'node:stream';
import t, { type Test } from 'tap';
import { CoreFormatError, UnavailableMemoryError, openCore, parseCoreBuffer, readCoreStream, type Core } from '../../lib/coredump';
import { fixture, startDetached, symbol, withCoreSettings } from '../helpers';
import { gcore, requireGdb, tempDir } from './gdb';

requireGdb();
const binary = fixture('core-target');
const dir = tempDir();
t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));

/** Everything the reader derives, as one comparable string. */
function describe(core: Core): string {
  return JSON.stringify(
    {
      header: core.header,
      phdrs: core.programHeaders,
      threads: core.threads.map((th) => ({
        tid: th.tid,
        signal: th.signal,
        regs: th.registers,
        fp: th.fpRegisters?.length,
        xs: th.xstate?.length,
        sets: [...th.regsets.keys()],
      })),
      process: core.process,
      siginfo: core.siginfo && { ...core.siginfo, raw: core.siginfo.raw.toString('hex') },
      auxv: core.auxv?.entries,
      files: core.files,
      buildIds: core.buildIds(),
      available: core.memory.available(),
    },
    (_k, v) => (typeof v === 'bigint' ? `0x${v.toString(16)}` : v),
  );
}

async function readAllWays(t: Test, file: string): Promise<Core> {
  const fromFile = openCore(file);
  t.teardown(() => fromFile.close());
  const fromBuffer = parseCoreBuffer(fs.readFileSync(file));
  // Odd chunk sizes, so every boundary lands mid-structure somewhere.
  const bytes = fs.readFileSync(file);
  const chunks = function* () {
    for (let at = 0, n = 1; at < bytes.length; at += n, n = (n * 7 + 13) % 65536 || 1) yield bytes.subarray(at, at + n);
  };
  const fromStream = await readCoreStream(Readable.from(chunks()));
  t.equal(describe(fromBuffer), describe(fromFile), 'buffer reader = file reader');
  t.equal(describe(fromStream), describe(fromFile), 'stream reader = file reader');
  t.equal(fromStream.size, bytes.length, 'the stream was read to its end');
  return fromFile;
}

function checkFixtureMemory(t: Test, core: Core): void {
  t.equal(core.memory.readCString(symbol(binary, 'message')), 'hostkit core fixture', 'a global string');
  t.equal(core.memory.read(symbol(binary, 'numbers'), 8).readBigUInt64LE(0), 0x1122334455667788n, 'a global array');
  const heapPointer = core.memory.read(symbol(binary, 'heap_message'), 8).readBigUInt64LE(0);
  t.equal(core.memory.readCString(heapPointer), 'a string on the heap', 'a string on the heap, through a pointer');
}

t.test('a core written by the kernel for a real crash', async (t) => {
  const cwd = fs.mkdtempSync(path.join(dir, 'crash-'));
  const file = path.join(cwd, 'core');
  await withCoreSettings(async () => {
    fs.writeFileSync('/proc/sys/kernel/core_pattern', 'core');
    spawnSync('/bin/sh', ['-c', `ulimit -c unlimited && exec "$0" crash`, binary], { cwd, stdio: 'ignore' });
  });
  t.ok(fs.existsSync(file), 'the kernel wrote a core');
  const core = await readAllWays(t, file);
  t.equal(core.threads.length, 1);
  t.equal(core.threads[0]!.signal, 11, 'SIGSEGV in pr_cursig');
  t.match(core.siginfo, { signo: 11, code: 1, addr: 0n }, 'NT_SIGINFO: SEGV_MAPERR at address 0');
  t.equal(core.threads[0]!.registers.rip, symbol(binary, 'crash_here'), 'rip at the faulting store in crash_here()');
  t.equal(core.process?.fname, 'core-target');
  t.match(core.process?.psargs, /core-target crash/);
  t.equal(core.notes[0]!.type, 1, 'NT_PRSTATUS first');
  t.same(
    core.notes.slice(1, 5).map((n) => n.type),
    [3, 0x53494749, 6, 0x46494c45],
    'then PRPSINFO, SIGINFO, AUXV, FILE',
  );
  const ids = core.buildIds();
  t.ok(
    ids.some((b) => b.path === binary),
    'the executable has a build-id',
  );
  t.ok(
    ids.some((b) => /libc\.so/.test(b.path)),
    'libc has a build-id',
  );
  const libcText = core.memory.segments.find((s) => s.filesz === 0 && s.memsz > 0x10000n)!;
  t.throws(() => core.memory.read(libcText.vaddr, 16), UnavailableMemoryError, 'undumped file text is unavailable, not zeros');
  checkFixtureMemory(t, core);
});

t.test("gdb's gcore of a live process with 8 threads", async (t) => {
  const target = await startDetached(binary, ['threads']);
  t.teardown(target.kill);
  const core = await readAllWays(t, gcore(target.pid, dir));
  t.equal(core.threads.length, 9);
  t.equal(core.threads[0]!.tid, target.pid);
  for (const th of core.threads) {
    t.equal(th.fpRegisters?.length, 512, `tid ${th.tid} has FP registers`);
    t.ok((th.xstate?.length ?? 0) >= 576, `tid ${th.tid} has XSTATE`);
  }
  checkFixtureMemory(t, core);
  // gdb's build-id, as `readelf -n` prints it, is the one the core's captured ELF header carries.
  const readelf = execFileSync('readelf', ['-n', binary], { encoding: 'utf8' });
  const expected = /Build ID: ([0-9a-f]+)/.exec(readelf)![1];
  t.equal(core.buildIds().find((b) => b.path === binary)?.buildId, expected, 'build-id of the executable');
});

t.test("gdb's generate-core-file of a process it runs", async (t) => {
  const file = path.join(dir, 'generated.core');
  spawnSync('gdb', ['-nx', '-batch', '-ex', 'break wait_here', '-ex', 'run', '-ex', `generate-core-file ${file}`, '-ex', 'kill', '--args', binary, 'single'], {
    stdio: 'ignore',
    timeout: 60_000,
  });
  const core = await readAllWays(t, file);
  t.equal(core.threads.length, 1);
  t.equal(core.threads[0]!.registers.rip, symbol(binary, 'wait_here'), 'stopped at the breakpoint');
  checkFixtureMemory(t, core);
});

t.test('errors name the offset and what was wrong', async (t) => {
  const good = fs.readFileSync(gcoreOfSingle(dir));
  t.throws(() => parseCoreBuffer(Buffer.from('hello')), { name: 'CoreFormatError', offset: 5, message: /ends inside the ELF header/ });
  const notElf = Buffer.from(good);
  notElf[0] = 0;
  t.throws(() => parseCoreBuffer(notElf), { offset: 0, message: /no ELF magic/ });
  const exec = Buffer.from(good);
  exec.writeUInt16LE(2, 16);
  t.throws(() => parseCoreBuffer(exec), { offset: 16, message: /not ET_CORE/ });
  t.throws(() => parseCoreBuffer(good.subarray(0, 100)), { message: /program headers .* run past the end/ });
  const truncated = good.subarray(0, good.length - 5000);
  // gdb writes its notes after the memory, so the cut lands in them.
  t.throws(() => parseCoreBuffer(truncated), { name: 'CoreFormatError', message: /PT_NOTE 0 .* runs past the end of the file .*truncated core/ });
  await t.rejects(readCoreStream(Readable.from([truncated])), CoreFormatError, 'the stream reader says so too');
  t.throws(() => openCore(path.join(dir, 'missing')), { name: 'SystemError', code: 'ENOENT' });
});

function gcoreOfSingle(where: string): string {
  const file = path.join(where, 'single.core');
  if (!fs.existsSync(file)) {
    spawnSync(
      'gdb',
      ['-nx', '-batch', '-ex', 'break wait_here', '-ex', 'run', '-ex', `generate-core-file ${file}`, '-ex', 'kill', '--args', binary, 'single'],
      {
        stdio: 'ignore',
        timeout: 60_000,
      },
    );
  }
  return file;
}
