/**
 * hostkit measure: every measurement gives finite, positive numbers with a
 * spread, beside perf bench where there is an anchor; the JSON parses and
 * carries units. Nothing here asserts a time.
 */
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import t from 'tap';
import { benchmarkIds, formatMeasure, measure } from '../../lib/host';
import { parsePerfBench } from '../../lib/host/measure/anchors';
import { summarize } from '../../lib/host/measure/stats';

const CLI = path.resolve(__dirname, '../../dist/host/cli.js');

t.test('every benchmark, small: finite positive medians with a spread, anchors beside two', async (t) => {
  const report = measure({ samples: 3, scale: 0.05 });
  t.same(
    report.measurements.map((m) => m.id),
    benchmarkIds(),
  );
  for (const m of report.measurements) {
    t.equal(m.unit, 'ns');
    t.equal(m.ours.samples.length, 3, `${m.id}: 3 samples`);
    for (const v of [...m.ours.samples, m.ours.median, m.ours.min, m.ours.max]) t.ok(Number.isFinite(v) && v > 0, `${m.id}: ${v} finite and positive`);
    t.ok(m.ours.min <= m.ours.median && m.ours.median <= m.ours.max && m.ours.spread >= 0, `${m.id}: min <= median <= max`);
  }
  const anchored = report.measurements.filter((m) => m.anchor).map((m) => m.id);
  t.same(anchored, ['syscall', 'pipe'], 'perf bench beside the syscall and the pipe');
  for (const m of report.measurements.filter((x) => x.anchor)) {
    t.match(m.anchor!.command, /^perf bench (syscall basic|sched pipe) --loop \d+$/);
    t.ok(m.anchor!.summary.median > 0 && Number.isFinite(m.anchor!.ratio));
  }
  t.same(
    report.crossovers.map((c) => c.wake),
    ['signal-wake', 'eventfd-wake'],
  );
  for (const c of report.crossovers) t.ok(Number.isFinite(c.checksPerEvent) && c.checksPerEvent > 1, `${c.wake}: a wake-up costs more than one check`);
  t.type(report.host.kpti === null || typeof report.host.kpti === 'boolean', 'boolean');
  const table = formatMeasure(report);
  t.match(table, /KPTI (on|off|unknown)/);
  t.match(table, /perf bench syscall basic/);
  t.match(table, /checks are made per event/);
});

t.test('the command: --json parses and carries units; --only and --no-anchors', async (t) => {
  const r = spawnSync(process.execPath, [CLI, 'measure', '--json', '--quick', '--samples', '2', '--only', 'syscall,page-fault', '--no-anchors'], {
    encoding: 'utf8',
  });
  t.equal(r.status, 0, r.stderr);
  const report = JSON.parse(r.stdout);
  t.same(
    report.measurements.map((m: { id: string }) => m.id),
    ['syscall', 'page-fault'],
  );
  for (const m of report.measurements) {
    t.equal(m.unit, 'ns');
    t.equal(m.anchor, undefined, 'no anchor asked for');
  }
  t.same(report.crossovers, [], 'no crossover without the flag check');
  t.ok('kpti' in report.host && 'mitigations' in report.host, 'the mitigation state beside the numbers');
});

t.test('a missing anchor is a clear error, not a silent gap', async (t) => {
  t.throws(() => measure({ samples: 1, scale: 0.01, only: ['syscall'], perf: '/nonexistent/perf' }), {
    code: 'ERR_HOSTKIT_ANCHOR_MISSING',
    message: /not installed/,
  });
  t.throws(() => measure({ only: ['nope'] }), RangeError);
  t.throws(() => measure({ samples: 0 }), RangeError);
});

t.test('parsing and statistics', async (t) => {
  t.equal(parsePerfBench('# Running...\n     Total time: 1.984 [sec]\n\n       0.198447 usecs/op\n'), 198.447);
  t.throws(() => parsePerfBench('garbage'), { code: 'ERR_HOSTKIT_ANCHOR_OUTPUT' });
  t.same(summarize([3, 1, 2]), { samples: [3, 1, 2], median: 2, min: 1, max: 3, spread: 1 });
  t.equal(summarize([1, 2, 3, 4]).median, 2.5);
});
