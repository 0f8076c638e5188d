import fs from 'node:fs';
import t, { type Test } from 'tap';
import { Tracee } from '../../lib/ptrace';
import { captureFile, fixture, symbol } from '../helpers';

function launchTarget(t: Test, args: string[] = []) {
  const out = captureFile();
  const tracee = Tracee.launch(fixture('target'), args, { stdio: ['inherit', out.fd, 'inherit'] });
  t.teardown(() => {
    if (tracee.state === 'traced') tracee.kill();
    out.close();
  });
  return { tracee, out };
}

t.test('memory read/write round trip changes what the program sees', async (t) => {
  const { tracee, out } = launchTarget(t);
  const value = symbol(fixture('target'), 'value');
  t.equal(tracee.memory.read(value, 8).readBigUInt64LE(0), 0x1122334455667788n);
  const replacement = Buffer.alloc(8);
  replacement.writeBigUInt64LE(0xfeedfacecafebeefn);
  t.equal(tracee.memory.write(value, replacement), 8);
  t.same(tracee.memory.read(value, 8), replacement);
  t.same(await tracee.memory.readAsync(value, 8), replacement, 'the thread-pool read agrees');
  tracee.leader!.cont();
  t.same(await tracee.ended(), { pid: tracee.pid, code: 3 });
  t.equal(out.read(), 'value feedfacecafebeef\n');
});

t.test('writes to read-only text go through /proc/PID/mem', async (t) => {
  const { tracee } = launchTarget(t);
  const marker = symbol(fixture('target'), 'marker');
  const original = tracee.memory.read(marker, 4);
  const nops = Buffer.from([0x90, 0x90, 0x90, 0x90]);
  t.equal(tracee.memory.write(marker, nops), 4, 'write() falls back for a read-only mapping');
  t.same(tracee.memory.read(marker, 4), nops);
  t.equal(tracee.memory.writeForced(marker, original), 4);
  t.same(tracee.memory.read(marker, 4), original);
});

t.test('a read that runs into unmapped memory reports how much it read', async (t) => {
  const { tracee } = launchTarget(t);
  // The end of a mapping followed by a hole: the first line of maps whose end is not the next start.
  const ranges = fs
    .readFileSync(`/proc/${tracee.pid}/maps`, 'utf8')
    .trim()
    .split('\n')
    .map(
      (l) =>
        l
          .split(' ')[0]!
          .split('-')
          .map((h) => BigInt(`0x${h}`)) as [bigint, bigint],
    );
  const i = ranges.findIndex(([, end], k) => k + 1 < ranges.length && ranges[k + 1]![0] > end && !ranges[k]![0].toString(16).startsWith('ffff'));
  const end = ranges[i]![1];
  const partial = tracee.memory.read(end - 16n, 64);
  t.equal(partial.length, 16, 'stops at the end of the mapping');
  const into = Buffer.alloc(64);
  t.equal(tracee.memory.readInto(end - 16n, into), 16);
  t.equal((await tracee.memory.readAsync(end - 16n, 64)).length, 16);
  t.throws(() => tracee.memory.read(end + 16n, 8), {
    name: 'SystemError',
    code: 'EFAULT',
    syscall: 'process_vm_readv',
    pid: tracee.pid,
    address: end + 16n,
  });
  await t.rejects(tracee.memory.readAsync(end + 16n, 8), { code: 'EFAULT', syscall: 'process_vm_readv' });
  t.equal(tracee.memory.read(end, 0).length, 0);
});

t.test('bad arguments throw before any syscall', async (t) => {
  const { tracee } = launchTarget(t);
  t.throws(() => tracee.memory.read(-1, 8), TypeError);
  t.throws(() => tracee.memory.read(0x1000n, -1), RangeError);
  t.throws(() => tracee.memory.read(1n << 64n, 8), RangeError);
  t.throws(() => tracee.memory.write(0x1000n, 'abc' as never), TypeError);
  t.throws(() => tracee.memory.readInto(0x1000n, [] as never), TypeError);
});

t.test('memory of a vanished process gives ESRCH', async (t) => {
  const { tracee } = launchTarget(t);
  const value = symbol(fixture('target'), 'value');
  tracee.kill();
  await tracee.ended();
  t.throws(() => tracee.memory.read(value, 8), { code: 'ESRCH', syscall: 'process_vm_readv', pid: tracee.pid });
});
