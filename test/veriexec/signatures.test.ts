/**
 * The signatures file and its page table as text and bytes: what a person
 * writes by hand (comments, escapes, flags) is read back as written, and
 * every malformed line is refused with its line number.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import t from 'tap';
import { FLAGS, formatSignatures, parseSignatures } from '../../lib/veriexec';
import { pageTableFile, readPageTable, writePageTable } from '../../lib/veriexec/page-table';
import type { Entry } from '../../lib/veriexec/signatures';

const D = 'a'.repeat(64);
const R = 'b'.repeat(64);

t.test('lines round-trip, hostile names included', async (t) => {
  const names = ['/usr/bin/ls', '/opt/with space/and\ttab', '/tmp/new\nline', '/tmp/back\\slash', '/tmp/ünï'];
  const entries: Entry[] = names.map((p, i) => ({ path: p, algorithm: 'sha256', digest: D, flags: new Set([FLAGS[i % 4]!]), size: i * 1000, pageRoot: R }));
  const text = formatSignatures(entries);
  t.equal(text.split('\n').length, names.length + 2, 'one line per file (a newline in a name is escaped), a header, a final newline');
  t.match(text, /\/tmp\/new\\012line /);
  const back = parseSignatures(text, 'x');
  t.same([...back.keys()].sort(), [...names].sort());
  t.same([...back.get('/opt/with space/and\ttab')!.flags], ['indirect']);
});

t.test('comments, blank lines and several flags', async (t) => {
  const text = `# a comment\n\n/bin/true sha256 ${D} direct,file 10 ${R}   \n  # indented\n/lib/x.so sha512 ${'c'.repeat(128)} file,untrusted 0 ${'d'.repeat(128)}\n`;
  const m = parseSignatures(text, 'x');
  t.same([...m.get('/bin/true')!.flags].sort(), ['direct', 'file']);
  t.equal(m.get('/lib/x.so')!.algorithm, 'sha512');
});

t.test('malformed files are refused with the line that is wrong', async (t) => {
  const good = `/bin/true sha256 ${D} direct 10 ${R}\n`;
  const cases: [string, RegExp][] = [
    [`${good}/bin/false sha256 ${D} direct 10`, /x:2: .*does not end with a newline: truncated/],
    [`${good}/bin/false sha256 ${D} direct 10\n`, /x:2: expected 6 fields/],
    [`${good}${good}`, /x:2: "\/bin\/true" is listed twice/],
    [`bin/true sha256 ${D} direct 10 ${R}\n`, /x:1: "bin\/true" is not an absolute, normal path/],
    [`/bin/../etc/x sha256 ${D} direct 10 ${R}\n`, /x:1: .* is not an absolute, normal path/],
    [`/bin/true md5 ${D} direct 10 ${R}\n`, /x:1: unknown algorithm "md5"/],
    [`/bin/true sha256 ${D.slice(2)} direct 10 ${R}\n`, /x:1: the fingerprint is not 64 hex digits/],
    [`/bin/true sha512 ${D} direct 10 ${R}\n`, /x:1: the fingerprint is not 128 hex digits/],
    [`/bin/true sha256 ${D} direct,run 10 ${R}\n`, /x:1: unknown flag "run"/],
    [`/bin/true sha256 ${D} direct -1 ${R}\n`, /x:1: the size "-1" is not a number/],
    [`/bin/t\\9ue sha256 ${D} direct 1 ${R}\n`, /x:1: bad escape/],
  ];
  for (const [text, message] of cases) t.throws(() => parseSignatures(text, 'x'), { code: 'ERR_HOSTKIT_VERIEXEC_SIGNATURES', message }, message.source);
  t.throws(() => parseSignatures(`\n\n${good.replace('direct', 'nope')}`, 'x'), { message: /^x:3: / }, 'the line number counts blank lines');
});

t.test('the page table: written, read back, and refused when truncated or foreign', async (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'hostkit-veriexec-'));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  const file = pageTableFile(path.join(dir, 'sig'));
  const stat = { dev: 1n, ino: 2n, size: 5000n, mtimeNs: 3n, ctimeNs: 4n };
  writePageTable(file, [{ path: '/a\nb', algorithm: 'sha256', size: 5000, stat, pages: Buffer.alloc(64, 7) }]);
  const back = readPageTable(file);
  t.same(back.get('/a\nb')!.stat, stat);
  t.equal(back.get('/a\nb')!.pages.length, 64);
  fs.truncateSync(file, fs.statSync(file).size - 1);
  t.throws(() => readPageTable(file), { code: 'ERR_HOSTKIT_VERIEXEC_SIGNATURES', message: /truncated at byte/ });
  fs.writeFileSync(file, 'not a table');
  t.throws(() => readPageTable(file), { message: /not a hostkit veriexec page table/ });
});
