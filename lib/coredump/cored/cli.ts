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
import { parseCommandLine, UsageError } from '../../cli-args';

export const CORED_COMMANDS = new Set(['install', 'uninstall', 'status', 'test', 'handle', 'serve', 'recover', 'list', 'info', 'dump', 'gdb', 'vacuum']);

/** The options several commands share. */
const CONFIG = { config: { type: 'string', short: 'c' } } as const;
const STATE = { state: { type: 'string' } } as const;
const STORE = { store: { type: 'string' }, ...CONFIG, ...STATE } as const;
const JSON_OUTPUT = { json: { type: 'boolean' } } as const;

interface Where {
  config?: string;
  state?: string;
  store?: string;
}

function configFrom(where: Where): CoredConfig {
  if (where.config !== undefined) return loadConfig(where.config);
  const state = readState(stateDirFrom(where));
  return state?.config ? loadConfig(state.config) : defaultConfig();
}

function stateDirFrom(where: Where): string {
  return where.state ?? DEFAULT_STATE_DIR;
}

function storeFrom(where: Where): SafeDir {
  return SafeDir.open(where.store ?? configFrom(where).store.directory, false);
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
        return process.exit(0);
      }
      case 'serve': {
        // serve [--socket PATH] [--config FILE]; --worker --listen-fd N is how the supervisor starts its worker.
        const { values } = parseCommandLine(rest, { socket: { type: 'string' }, ...CONFIG, 'listen-fd': { type: 'string' }, worker: { type: 'boolean' } });
        if (values.worker) {
          const fd = Number(values['listen-fd']);
          if (values['listen-fd'] === undefined || !Number.isInteger(fd) || fd < 0) throw new UsageError('serve --worker needs --listen-fd N');
          await runWorker({ listenFd: fd, config: values.config });
        } else await serve({ socket: values.socket, config: values.config });
        return process.exit(0);
      }
      case 'recover': {
        const { values } = parseCommandLine(rest, { ...CONFIG, ...STATE });
        const recovered = recoverInterrupted(configFrom(values), (line) => out(line));
        if (recovered.length === 0) out('no interrupted crash');
        return 0;
      }
      case 'install': {
        const { values } = parseCommandLine(rest, {
          ...CONFIG,
          ...STATE,
          'pipe-limit': { type: 'string' },
          mode: { type: 'string' },
          socket: { type: 'string' },
        });
        const limit = values['pipe-limit'];
        const mode = values.mode ?? 'auto';
        if (mode !== 'auto' && mode !== 'pipe' && mode !== 'socket') throw new UsageError(`--mode ${mode}: expected pipe, socket or auto`);
        const state = install({
          config: values.config,
          stateDir: stateDirFrom(values),
          mode,
          socket: values.socket,
          pipeLimit: limit === undefined ? undefined : Number(limit),
        });
        out(`installed: core_pattern = ${state.pattern} (${state.mode} mode: ${state.why})`);
        if (state.daemon?.kind === 'process') out(`daemon: pid ${state.daemon.pid}, log ${state.daemon.log}`);
        if (state.daemon?.kind === 'systemd') out(`daemon: systemd units ${state.daemon.units.join(', ')}`);
        out(`previous: ${JSON.stringify(state.previousPattern)} (core_pipe_limit ${state.previousPipeLimit})`);
        return 0;
      }
      case 'uninstall': {
        const { values } = parseCommandLine(rest, STATE);
        const state = uninstall(stateDirFrom(values));
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
        const { values, positionals: positional } = parseCommandLine(rest, { output: { type: 'string', short: 'o' }, ...STORE }, { positionals: 1 });
        const file = values.output;
        if (positional.length !== 1 || file === undefined) throw new UsageError('usage: cored dump ID -o FILE');
        const dir = storeFrom(values);
        const core = locateCore(dir, positional[0]!);
        if (!core) throw new UsageError(`no stored core ${positional[0]} in ${dir.path}`);
        await decompressTo(core, file);
        out(`${file}`);
        return 0;
      }
      case 'vacuum': {
        const { values } = parseCommandLine(rest, { ...STORE, ...JSON_OUTPUT });
        const config = configFrom(values);
        const dir = storeFrom(values);
        const deleted = vacuum(dir, config.store);
        dir.close();
        out(values.json ? JSON.stringify({ deleted }) : deleted.length ? `deleted: ${deleted.join(' ')}` : 'nothing to delete');
        return 0;
      }
      case 'gdb': {
        // Anything after `--` goes to gdb (e.g. -batch -ex bt).
        const { values, positionals: positional, rest: extra } = parseCommandLine(rest, STORE, { positionals: 1, after: 'dashes' });
        if (positional.length !== 1) throw new UsageError('usage: cored gdb ID [-- GDB-ARGS...]');
        const dir = storeFrom(values);
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
  const { values } = parseCommandLine(argv, { ...STATE, ...JSON_OUTPUT });
  const pattern = readSysctl(CORE_PATTERN);
  const state = readState(stateDirFrom(values));
  const ours = isCoredPattern(pattern, state);
  const problems: string[] = [];
  if (ours && pattern.startsWith('|')) {
    const launcher = pattern.slice(1).split(' ')[0]!;
    if (!fs.existsSync(launcher)) problems.push(`${launcher} does not exist`);
  }
  if (ours && state?.daemon && !daemonAlive(state.daemon))
    problems.push(`the daemon (${describeDaemon(state.daemon)}) is not running: crashes are lost until it is (cored install again)`);
  if (ours && state?.socket && !fs.lstatSync(state.socket, { throwIfNoEntry: false })?.isSocket()) problems.push(`${state.socket} is not a socket`);
  if (ours && state?.config) {
    try {
      loadConfig(state.config);
    } catch (err) {
      problems.push(`config: ${(err as Error).message}`);
    }
  }
  const mode = ours ? (state?.mode ?? 'pipe') : undefined;
  const report = {
    installed: ours,
    mode: mode ?? null,
    why: ours ? (state?.why ?? null) : null,
    corePattern: pattern,
    corePipeLimit: Number(readSysctl(CORE_PIPE_LIMIT)),
    coreModes: kernelCoreModes() ?? null,
    state: state ?? null,
    problems,
  };
  if (values.json) out(JSON.stringify(report, null, 2));
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
  const { values } = parseCommandLine(argv, { ...CONFIG, ...STATE, timeout: { type: 'string' }, ...JSON_OUTPUT });
  if (!isCoredPattern(readSysctl(CORE_PATTERN), readState(stateDirFrom(values)))) throw new Error('cored is not installed (cored install)');
  const config = configFrom(values);
  const child = spawnSync('/bin/sh', ['-c', 'echo $$; kill -QUIT $$'], { encoding: 'utf8' });
  const pid = Number(child.stdout.trim());
  if (child.signal !== 'SIGQUIT') throw new Error(`the test process was not killed by SIGQUIT (${child.signal ?? child.status})`);
  const timeout = Number(values.timeout ?? 20) * 1000;
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
      if (values.json) out(JSON.stringify(entry, null, 2));
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
  const { values } = parseCommandLine(argv, { ...STORE, since: { type: 'string' }, exe: { type: 'string' }, ...JSON_OUTPUT });
  const dir = storeFrom(values);
  let entries = readIndex(dir);
  dir.close();
  const { since, exe } = values;
  if (since !== undefined) entries = entries.filter((e) => e.time >= parseSince(since));
  if (exe !== undefined) {
    const match = globMatcher(exe);
    entries = entries.filter((e) => e.exe !== undefined && match(e.exe));
  }
  if (values.json) {
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
  const { values, positionals } = parseCommandLine(argv, { ...STORE, ...JSON_OUTPUT }, { positionals: 1 });
  if (positionals.length !== 1) throw new UsageError('usage: cored info ID');
  const id = positionals[0]!;
  const dir = storeFrom(values);
  const record = readRecord(dir, id);
  const core = locateCore(dir, id);
  if (!record) throw new UsageError(`no metadata ${id}.json in ${dir.path}`);
  if (values.json) {
    out(JSON.stringify(record, null, 2));
    return 0;
  }
  out(`id:        ${record.id}`);
  out(`time:      ${new Date(record.time * 1000).toISOString()}`);
  out(
    `process:   pid ${record.pid} ${JSON.stringify(record.comm)} uid ${record.uid} gid ${record.gid}${record.process.pidVerified ? ' (pidfd-verified)' : ''}`,
  );
  out(`exe:       ${JSON.stringify(record.exe ?? '?')}`);
  if (record.process.cmdline) out(`cmdline:   ${record.process.cmdline.map((a) => JSON.stringify(a)).join(' ')}`);
  if (record.process.cwd) out(`cwd:       ${JSON.stringify(record.process.cwd)}`);
  const si = record.core?.siginfo;
  out(`signal:    ${record.signalName} (${record.signal})${si ? ` code ${si.code}${si.addr ? ` addr ${si.addr}` : ''}` : ''}`);
  if (record.core) {
    out(`threads:   ${record.core.threads.length}`);
    const t = record.core.crashingThread;
    if (t)
      out(
        `crashed:   tid ${t.tid} ${['rip', 'rsp', 'rbp', 'pc', 'sp']
          .filter((r) => t.registers[r])
          .map((r) => `${r}=${t.registers[r]}`)
          .join(' ')}`,
      );
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
