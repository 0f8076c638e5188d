/**
 * qXfer:osdata (GDB manual, "Operating System Information"): gdb's `info os`
 * lists the types gdbsock serves, `info os processes` and `info os threads`
 * the machine's processes and threads, as through gdbserver; every other
 * type gdbserver serves shows gdbserver's columns, and the process group,
 * open file, sockets and System V IPC objects the osdata-objects fixture
 * made show the same rows as through gdbserver. Nothing else on the machine
 * is asserted: it may have no other groups, sockets, IPC or modules.
 */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import t, { type Test } from 'tap';
import { fixture } from '../helpers';
import { requireTool, runGdb, startGdbserver, startGdbsock } from './gdb';

requireTool('gdb');
const binary = fixture('gdbsock');

t.test('info os, info os processes, info os threads', async (t) => {
  const server = await startGdbsock(['--once', '--listen', '127.0.0.1:0', '--', binary, 'count', '1']);
  t.teardown(() => server.stop());
  const out = await runGdb(`target extended-remote ${server.target}`, ['info os', 'info os processes', 'info os threads', 'kill']);
  t.match(out, /^processes +Listing of all processes/m);
  t.match(out, /^threads +Listing of all threads/m);
  t.match(out, /^pid +user +command +cores/m, 'the processes table');
  t.match(out, new RegExp(`^${server.pid} +root +${binary} count 1 +\\d`, 'm'), 'the program, its user, command line and core');
  t.match(out, /^1 +\S+ +\S/m, 'init');
  t.match(out, new RegExp(`^${server.pid} +gdbsock +${server.pid} +\\d+`, 'm'), 'its thread');
  t.notMatch(out, /Can not fetch data now/);
});

/** The objects fixture's own things, held until its stdin closes. */
async function startObjects(t: Test): Promise<Record<'pid' | 'pgid' | 'child' | 'file' | 'tcp' | 'udp' | 'shm' | 'sem' | 'msg', number> & { path: string }> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'osdata-'));
  const file = path.join(dir, 'held-open');
  fs.writeFileSync(file, 'osdata\n');
  const proc = spawn(fixture('osdata-objects'), [file], { stdio: ['pipe', 'pipe', 'inherit'] });
  const exited = once(proc, 'exit');
  t.teardown(async () => {
    proc.stdin!.end();
    await exited;
    fs.rmSync(dir, { recursive: true, force: true });
  });
  const line = await new Promise<string>((resolve, reject) => {
    let out = '';
    proc.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
      if (out.includes('\n')) resolve(out.split('\n')[0]!);
    });
    void exited.then(([code]) => reject(new Error(`osdata-objects exited (${code}) before it was ready`)));
  });
  const fields = line.split(' ');
  const values: Record<string, number> = {};
  for (let i = 0; i + 1 < fields.length; i += 2) values[fields[i]!] = Number(fields[i + 1]);
  return { ...(values as Record<'pid' | 'pgid' | 'child' | 'file' | 'tcp' | 'udp' | 'shm' | 'sem' | 'msg', number>), path: file };
}

const TYPES = ['cpus', 'files', 'modules', 'msg', 'processes', 'procgroups', 'semaphores', 'shm', 'sockets', 'threads'];
const TABLES = ['procgroups', 'files', 'sockets', 'shm', 'semaphores', 'msg', 'modules'];

/** `info os` and each table of TABLES, split at the echoed markers. */
async function infoOs(connect: string, last: string[]): Promise<Record<string, string>> {
  const commands = ['echo ==types==\\n', 'info os'];
  for (const type of TABLES) commands.push(`echo ==${type}==\\n`, `info os ${type}`);
  commands.push('echo ==unknown==\\n', 'info os unknown_entry', 'echo ==end==\\n', ...last);
  const out = await runGdb(connect, commands, { timeout: 120000 });
  const sections: Record<string, string> = {};
  let current: string | undefined;
  for (const line of out.split('\n')) {
    const marker = /^==(\w+)==$/.exec(line);
    if (marker) current = marker[1] === 'end' ? undefined : marker[1];
    else if (current) sections[current] = sections[current] === undefined ? line : `${sections[current]}\n${line}`;
  }
  for (const name of ['types', ...TABLES]) sections[name] = (sections[name] ?? '').trimEnd();
  // gdb's warnings and errors go to stderr, which runGdb appends after stdout.
  sections.all = out;
  return sections;
}

/**
 * The rows matching `pattern`, without trailing blanks: a command line's last
 * NUL shows as a trailing space, which gdbserver 13.1 was seen to give for the
 * group leader's row and not for its child's (same command line) in one run.
 */
function lines(section: string, pattern: RegExp): string[] {
  return section
    .split('\n')
    .filter((l) => pattern.test(l))
    .map((l) => l.trimEnd());
}

t.test('info os TYPE for every type gdbserver serves: the columns, and the objects the test made, as through gdbserver', async (t) => {
  requireTool('gdbserver');
  const own = await startObjects(t);
  const ours = await startGdbsock(['--once', '--listen', '127.0.0.1:0', '--', binary, 'count', '1']);
  t.teardown(() => ours.stop());
  const got = await infoOs(`target extended-remote ${ours.target}`, ['kill']);
  const anchor = await startGdbserver([], { multi: true });
  t.teardown(() => anchor.stop());
  const want = await infoOs(`target extended-remote ${anchor.target}`, ['monitor exit']);

  for (const type of TYPES) t.match(got.types, new RegExp(`^${type} +Listing of all `, 'm'), `info os lists ${type}`);
  t.same(lines(got.types, /^\S+ +Listing/), lines(want.types, /^\S+ +Listing/), 'the same types, in the same order, as gdbserver');

  const header = (s: string) => s.split('\n')[0];
  const mine: Record<string, RegExp> = {
    procgroups: new RegExp(`^${own.pgid} +osdata-objects +(${own.pid}|${own.child}) +\\S*osdata-objects ${own.path} *$`),
    files: new RegExp(`^${own.pid} +osdata-objects +${own.file} +${own.path} *$`),
    sockets: new RegExp(
      `^127\\.0\\.0\\.1 +(${own.tcp} +0\\.0\\.0\\.0 +0 +LISTEN +\\S+ +INET +STREAM|${own.udp} +0\\.0\\.0\\.0 +0 +CLOSE +\\S+ +INET +DGRAM) *$`,
    ),
    shm: new RegExp(`^0 +${own.shm} +600 +4096 +osdata-objects +osdata-objects +1 `),
    semaphores: new RegExp(`^0 +${own.sem} +640 +2 `),
    msg: new RegExp(`^0 +${own.msg} +604 +5 +1 +osdata-objects `),
  };
  for (const [type, pattern] of Object.entries(mine)) {
    const oursRows = lines(got[type]!, pattern);
    t.equal(oursRows.length, type === 'procgroups' || type === 'sockets' ? 2 : 1, `${type}: the test's own rows through gdbsock:\n${got[type]}`);
    t.same(oursRows, lines(want[type]!, pattern), `${type}: the same rows through gdbserver`);
    t.equal(header(got[type]!), header(want[type]!), `${type}: gdbserver's columns`);
  }
  // The leader of the fixture's group comes first, then its child.
  const group = lines(got.procgroups!, mine.procgroups!);
  t.match(group[0], new RegExp(`^${own.pgid} +osdata-objects +${own.pid} `), 'the group leader first');
  t.equal(got.modules, want.modules, 'modules: as gdbserver (whatever modules the machine has, if any)');
  // gdb's words for an unknown type, once, and no other error: as through gdbserver.
  const complaints = (out: string) => out.split('\n').filter((l) => /warning: Empty data|Wrong osdata type|fetch data|Cannot/i.test(l));
  t.match(complaints(got.all!).join('\n'), /Wrong osdata type\?/, 'an unknown type: no data (gdb says the type may be wrong)');
  t.same(complaints(got.all!), complaints(want.all!), 'the same complaints as through gdbserver');
});
