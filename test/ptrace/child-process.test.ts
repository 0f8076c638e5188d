import { execFile, spawnSync } from 'node:child_process';
import { promisify } from 'node:util';
import t from 'tap';
import { Tracee } from '../../lib/ptrace';
import { fixture } from '../helpers';

const run = promisify(execFile);

t.test("Node's child_process keeps working while a tracee runs", async (t) => {
  const tracee = Tracee.launch(fixture('threads'), ['4'], { stdio: ['inherit', 2, 'inherit'] });
  t.teardown(() => tracee.state === 'traced' && tracee.kill());
  tracee.resumeAll();
  tracee.on('thread-start', () => {}); // new threads are resumed automatically
  for (let i = 0; i < 5; i++) {
    const { stdout } = await run('/bin/sh', ['-c', `echo child ${i}; exit 0`]);
    t.equal(stdout, `child ${i}\n`);
  }
  await t.rejects(run('/bin/sh', ['-c', 'exit 3']), { code: 3 }, 'exit codes of Node children are theirs');
  t.equal(spawnSync('/bin/echo', ['sync']).stdout.toString(), 'sync\n');
  await tracee.stopAll();
  t.equal(tracee.threads.size, 5, 'the tracee is still traced, all threads accounted for');
  for (const thread of tracee.threads.values()) t.equal(thread.state, 'stopped');
  tracee.kill();
  t.match(await tracee.ended(), { pid: tracee.pid, signal: 9 });
});
