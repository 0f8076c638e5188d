/**
 * The cored commands: install, uninstall, status, test, handle (run by the
 * kernel), list, info, dump and gdb over the store.
 */
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import { type CoredConfig, defaultConfig, loadConfig } from './config';
import { kernelCoreModes } from './core-modes';
import { serve, runWorker } from './daemon';
import { type DaemonHandle, daemonAlive } from './daemon-control';
import { handleCrash } from './handler';
import { recoverInterrupted } from './journal';
import { logLine } from './log';
import { CORE_PATTERN, DEFAULT_STATE_DIR, install, isCoredPattern, readState, readSysctl, uninstall, CORE_PIPE_LIMIT } from './kernel-pattern';
import { SafeDir } from './safe-dir';
import { type IndexEntry, readIndex, vacuum } from './store';
import { decompressTo, locateCore, plainCore, readRecord } from './stored-core';
import { globMatcher } from './glob';
import { findTool } from './tools';

export const CORED_COMMANDS = new Set(['install', 'uninstall', 'status', 'test', 'handle', 'serve', 'recover', 'list', 'info', 'dump', 'gdb', 'vacuum']);

class UsageError extends Error {}

/** Splits argv into options (--name VALUE, --flag) and positionals. */
function parseOptions(argv: string[], withValue: string[], flags: string[]): { options: Map<string, string | true>; positional: string[] } {
  const options = new Map<string, string | true>();
  const positional: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (withValue.includes(a)) {
      if (i + 1 >= argv.length) throw new UsageError(`${a} needs a value`);
      options.set(a, argv[++i]!);
    } else if (flags.includes(a)) options.set(a, true);
    else if (a.startsWith('-') && a !== '-') throw new UsageError(`unknown option ${a}`);
    else positional.push(a);
  }
  return { options, positional };
}

function configFrom(options: Map<string, string | true>): CoredConfig {
  const file = options.get('--config') ?? options.get('-c');
  if (typeof file === 'string') return loadConfig(file);
  const state = readState(stateDirFrom(options));
  return state?.config ? loadConfig(state.config) : defaultConfig();
}

function stateDirFrom(options: Map<string, string | true>): string {
  const s = options.get('--state');
  return typeof s === 'string' ? s : DEFAULT_STATE_DIR;
}

function storeFrom(options: Map<string, string | true>): SafeDir {
  const store = options.get('--store');
  return SafeDir.open(typeof store === 'string' ? store : configFrom(options).store.directory, false);
}

const out = (s: string) => process.stdout.write(s.endsWith('\n') ? s : `${s}\n`);

export async function runCored(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  try {
    switch (command) {
      case 'handle': {
        // handle [-c FILE] %P %I %s %t %u %g %d %c %e [%F]: %e may look like an option; only a leading -c is one.
        let config: string | undefined;
        let args = rest;
        if (args[0] === '-c') {
          config = args[1];
          args = args.slice(2);
        }
        try {
          await handleCrash(args, { configFile: config });
        } catch (err) {
          // Bad arguments or a bug: say so where the admin looks, and exit, which releases the process.
          logLine(`handler failed: ${err instanceof RangeError ? err.message : ((err as Error).stack ?? err)}`);
          process.exit(1);
        }
        // A read of the pipe may still be pending (the pass stopped early): leave now, which releases the process.
        process.exit(0);
      }
      case 'serve': {
        // serve [--socket PATH] [--config FILE]; --worker --listen-fd N is how the supervisor starts its worker.
        const { options } = parseOptions(rest, ['--socket', '--config', '-c', '--listen-fd'], ['--worker']);
        const config = (options.get('--config') ?? options.get('-c')) as string | undefined;
        if (options.has('--worker')) {
          const fd = Number(options.get('--listen-fd'));
          if (!Number.isInteger(fd) || fd < 0) throw new UsageError('serve --worker needs --listen-fd N');
          await runWorker({ listenFd: fd, config });
        } else await serve({ socket: options.get('--socket') as string | undefined, config });
        process.exit(0);
      }
      case 'recover': {
        const { options } = parseOptions(rest, ['--config', '-c', '--state'], []);
        const recovered = recoverInterrupted(configFrom(options), (line) => out(line));
        if (recovered.length === 0) out('no interrupted crash');
        return 0;
      }
      case 'install': {
        const { options } = parseOptions(rest, ['--config', '-c', '--state', '--pipe-limit', '--mode', '--socket'], []);
        const config = (options.get('--config') ?? options.get('-c')) as string | undefined;
        const limit = options.get('--pipe-limit');
        const mode = options.get('--mode') ?? 'auto';
        if (mode !== 'auto' && mode !== 'pipe' && mode !== 'socket') throw new UsageError(`--mode ${mode}: expected pipe, socket or auto`);
        const state = install({
          config,
          stateDir: stateDirFrom(options),
          mode,
          socket: options.get('--socket') as string | undefined,
          pipeLimit: typeof limit === 'string' ? Number(limit) : undefined,
        });
        out(`installed: core_pattern = ${state.pattern} (${state.mode} mode: ${state.why})`);
        if (state.daemon?.kind === 'process') out(`daemon: pid ${state.daemon.pid}, log ${state.daemon.log}`);
        if (state.daemon?.kind === 'systemd') out(`daemon: systemd units ${state.daemon.units.join(', ')}`);
        out(`previous: ${JSON.stringify(state.previousPattern)} (core_pipe_limit ${state.previousPipeLimit})`);
        return 0;
      }
      case 'uninstall': {
        const { options } = parseOptions(rest, ['--state'], []);
        const state = uninstall(stateDirFrom(options));
        out(`restored: core_pattern = ${state.previousPattern}, core_pipe_limit = ${state.previousPipeLimit}`);
        return 0;
      }
      case 'status':
        return status(rest);
      case 'test':
        return await selfTest(rest);
      case 'list':
        return list(rest);
      case 'info':
        return await info(rest);
      case 'dump': {
        const { options, positional } = parseOptions(rest, ['-o', '--store', '--config', '-c', '--state'], []);
        const file = options.get('-o');
        if (positional.length !== 1 || typeof file !== 'string') throw new UsageError('usage: cored dump ID -o FILE');
        const dir = storeFrom(options);
        const core = locateCore(dir, positional[0]!);
        if (!core) throw new UsageError(`no stored core ${positional[0]} in ${dir.path}`);
        await decompressTo(core, file);
        out(`${file}`);
        return 0;
      }
      case 'vacuum': {
        const { options } = parseOptions(rest, ['--store', '--config', '-c', '--state'], ['--json']);
        const config = configFrom(options);
        const dir = storeFrom(options);
        const deleted = vacuum(dir, config.store);
        dir.close();
        out(options.has('--json') ? JSON.stringify({ deleted }) : deleted.length ? `deleted: ${deleted.join(' ')}` : 'nothing to delete');
        return 0;
      }
      case 'gdb': {
        // Anything after `--` goes to gdb (e.g. -batch -ex bt).
        const dash = rest.indexOf('--');
        const extra = dash >= 0 ? rest.slice(dash + 1) : [];
        const { options, positional } = parseOptions(dash >= 0 ? rest.slice(0, dash) : rest, ['--store', '--config', '-c', '--state'], []);
        if (positional.length !== 1) throw new UsageError('usage: cored gdb ID [-- GDB-ARGS...]');
        const dir = storeFrom(options);
        const core = locateCore(dir, positional[0]!);
        const record = readRecord(dir, positional[0]!);
        if (!core) throw new UsageError(`no stored core ${positional[0]} in ${dir.path}`);
        const plain = await plainCore(core);
        try {
          const exe = record?.exe && !record.exe.endsWith(' (deleted)') ? [record.exe] : [];
          const child = spawn(findTool('gdb'), [...extra, ...exe, plain.file], { stdio: 'inherit' });
          return await new Promise<number>((resolve) => child.on('close', (code) => resolve(code ?? 1)));
        } finally {
          plain.cleanup();
        }
      }
      default:
        throw new UsageError(`unknown command ${command}`);
    }
  } catch (err) {
    if (err instanceof UsageError) {
      process.stderr.write(`cored: ${err.message}\n`);
      return 2;
    }
    process.stderr.write(`cored: ${(err as Error).message}\n`);
    return 1;
  }
}

function status(argv: string[]): number {
  const { options } = parseOptions(argv, ['--state'], ['--json']);
  const pattern = readSysctl(CORE_PATTERN);
  const state = readState(stateDirFrom(options));
  const ours = isCoredPattern(pattern, state);
  const problems: string[] = [];
  if (ours && pattern.startsWith('|')) {
    const launcher = pattern.slice(1).split(' ')[0]!;
    if (!fs.existsSync(launcher)) problems.push(`${launcher} does not exist`);
  }
  if (ours && state?.daemon && !daemonAlive(state.daemon)) problems.push(`the daemon (${describeDaemon(state.daemon)}) is not running: crashes are lost until it is (cored install again)`);
  if (ours && state?.socket && !fs.lstatSync(state.socket, { throwIfNoEntry: false })?.isSocket()) problems.push(`${state.socket} is not a socket`);
  if (ours && state?.config) {
    try {
      loadConfig(state.config);
    } catch (err) {
      problems.push(`config: ${(err as Error).message}`);
    }
  }
  const mode = ours ? (state?.mode ?? 'pipe') : undefined;
  const report = { installed: ours, mode: mode ?? null, why: ours ? (state?.why ?? null) : null, corePattern: pattern, corePipeLimit: Number(readSysctl(CORE_PIPE_LIMIT)), coreModes: kernelCoreModes() ?? null, state: state ?? null, problems };
  if (options.has('--json')) out(JSON.stringify(report, null, 2));
  else {
    out(`core_pattern: ${pattern}\ncore_pipe_limit: ${report.corePipeLimit}\ncore_modes: ${report.coreModes?.join(' ') ?? '(no /proc/sys/kernel/core_modes)'}`);
    out(ours ? `cored is installed in ${mode} mode${state?.config ? ` with ${state.config}` : ' with the default config'}` : 'cored is not installed');
    if (ours && state?.why) out(`why: ${state.why}`);
    if (ours && state?.daemon) out(`daemon: ${describeDaemon(state.daemon)}`);
    if (state) out(`before cored: ${JSON.stringify(state.previousPattern)}`);
    for (const p of problems) out(`problem: ${p}`);
  }
  return ours && problems.length === 0 ? 0 : 1;
}

function describeDaemon(daemon: DaemonHandle): string {
  return daemon.kind === 'systemd' ? `systemd ${daemon.units.join(' ')}` : `pid ${daemon.pid}, log ${daemon.log}`;
}

/** Crashes a throw-away shell with SIGQUIT and waits for its entry in the store's index. */
async function selfTest(argv: string[]): Promise<number> {
  const { options } = parseOptions(argv, ['--config', '-c', '--state', '--timeout'], ['--json']);
  if (!isCoredPattern(readSysctl(CORE_PATTERN), readState(stateDirFrom(options)))) throw new Error('cored is not installed (cored install)');
  const config = configFrom(options);
  const child = spawnSync('/bin/sh', ['-c', 'echo $$; kill -QUIT $$'], { encoding: 'utf8' });
  const pid = Number(child.stdout.trim());
  if (child.signal !== 'SIGQUIT') throw new Error(`the test process was not killed by SIGQUIT (${child.signal ?? child.status})`);
  const timeout = Number(options.get('--timeout') ?? 20) * 1000;
  const until = Date.now() + timeout;
  while (Date.now() < until) {
    let entry: IndexEntry | undefined;
    try {
      const dir = SafeDir.open(config.store.directory, false);
      entry = readIndex(dir).find((e) => e.pid === pid);
      dir.close();
    } catch {
      /* not there yet */
    }
    if (entry) {
      if (options.has('--json')) out(JSON.stringify(entry, null, 2));
      else {
        out(`crashed pid ${pid} (${entry.comm}, ${entry.signalName}); core handled as ${entry.id}`);
        for (const s of entry.sinks) out(`  ${s.name}: ${s.ok ? s.location : `FAILED: ${s.error}`}`);
        if (entry.skipped) out(`  not stored: ${entry.skipped}`);
      }
      return entry.sinks.some((s) => s.ok) ? 0 : 1;
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`no record of pid ${pid} in ${config.store.directory}/index.jsonl after ${timeout / 1000} s (see dmesg for cored's log line)`);
}

function human(n: number | undefined): string {
  if (n === undefined) return '-';
  const units = ['B', 'K', 'M', 'G', 'T'];
  let u = 0;
  while (n >= 1024 && u < units.length - 1) {
    n /= 1024;
    u++;
  }
  return `${u === 0 ? n : n.toFixed(1)}${units[u]}`;
}

function parseSince(value: string): number {
  if (/^\d+$/.test(value)) return Number(value);
  const ms = Date.parse(value);
  if (Number.isNaN(ms)) throw new UsageError(`--since ${value}: expected epoch seconds or a date`);
  return Math.floor(ms / 1000);
}

function list(argv: string[]): number {
  const { options } = parseOptions(argv, ['--store', '--config', '-c', '--state', '--since', '--exe'], ['--json']);
  const dir = storeFrom(options);
  let entries = readIndex(dir);
  dir.close();
  const since = options.get('--since');
  if (typeof since === 'string') entries = entries.filter((e) => e.time >= parseSince(since));
  const exe = options.get('--exe');
  if (typeof exe === 'string') {
    const match = globMatcher(exe);
    entries = entries.filter((e) => e.exe !== undefined && match(e.exe));
  }
  if (options.has('--json')) {
    out(JSON.stringify(entries, null, 2));
    return 0;
  }
  const width = process.stdout.columns ?? 120;
  out('TIME                 PID      UID    SIGNAL   SIZE     ID / EXE');
  for (const e of entries) {
    const time = new Date(e.time * 1000).toISOString().replace('T', ' ').slice(0, 19);
    const stored = e.sinks.some((s) => s.ok) ? '' : e.skipped ? ' (not stored)' : ' (FAILED)';
    const line = `${time}  ${String(e.pid).padEnd(8)} ${String(e.uid).padEnd(6)} ${e.signalName.padEnd(8)} ${human(e.size).padEnd(8)} ${e.id} ${JSON.stringify(e.exe ?? e.comm)}${stored}`;
    out(line.length > width ? `${line.slice(0, width - 1)}…` : line);
  }
  return 0;
}

async function info(argv: string[]): Promise<number> {
  const { options, positional } = parseOptions(argv, ['--store', '--config', '-c', '--state'], ['--json']);
  if (positional.length !== 1) throw new UsageError('usage: cored info ID');
  const id = positional[0]!;
  const dir = storeFrom(options);
  const record = readRecord(dir, id);
  const core = locateCore(dir, id);
  if (!record) throw new UsageError(`no metadata ${id}.json in ${dir.path}`);
  if (options.has('--json')) {
    out(JSON.stringify(record, null, 2));
    return 0;
  }
  out(`id:        ${record.id}`);
  out(`time:      ${new Date(record.time * 1000).toISOString()}`);
  out(`process:   pid ${record.pid} ${JSON.stringify(record.comm)} uid ${record.uid} gid ${record.gid}${record.process.pidVerified ? ' (pidfd-verified)' : ''}`);
  out(`exe:       ${JSON.stringify(record.exe ?? '?')}`);
  if (record.process.cmdline) out(`cmdline:   ${record.process.cmdline.map((a) => JSON.stringify(a)).join(' ')}`);
  if (record.process.cwd) out(`cwd:       ${JSON.stringify(record.process.cwd)}`);
  const si = record.core?.siginfo;
  out(`signal:    ${record.signalName} (${record.signal})${si ? ` code ${si.code}${si.addr ? ` addr ${si.addr}` : ''}` : ''}`);
  if (record.core) {
    out(`threads:   ${record.core.threads.length}`);
    const t = record.core.crashingThread;
    if (t) out(`crashed:   tid ${t.tid} ${['rip', 'rsp', 'rbp', 'pc', 'sp'].filter((r) => t.registers[r]).map((r) => `${r}=${t.registers[r]}`).join(' ')}`);
    for (const b of record.core.buildIds) out(`build-id:  ${b.buildId} ${b.path}`);
  }
  out(`core:      ${core ? `${core.file} (${core.format}, ${human(record.size)})` : 'not in this store'}${record.truncated ? ' TRUNCATED' : ''}`);
  for (const s of record.sinks) out(`sink:      ${s.name}: ${s.ok ? s.location : `FAILED ${s.error}`}`);
  if (core) {
    let gdb: string | undefined;
    try {
      gdb = findTool('gdb');
    } catch {
      /* no gdb: no backtrace */
    }
    if (gdb) {
      const plain = await plainCore(core);
      try {
        const exe = record.exe && !record.exe.endsWith(' (deleted)') ? [record.exe] : [];
        const bt = spawnSync(gdb, ['-batch', '-nx', '-ex', 'bt', ...exe, plain.file], { encoding: 'utf8', timeout: 30_000 });
        const lines = [...new Set((bt.stdout ?? '').split('\n').filter((l) => l.startsWith('#')))]; // gdb prints frame #0 on load, then again in bt
        if (lines.length) out(`backtrace:\n  ${lines.join('\n  ')}`);
      } finally {
        plain.cleanup();
      }
    }
  }
  return 0;
}
