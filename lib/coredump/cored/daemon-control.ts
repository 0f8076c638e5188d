/**
 * Starting and stopping `cored serve` for `cored install --mode socket`:
 * with systemd (PID 1 is systemd, /run/systemd/system exists) as a socket
 * unit and its service, so systemd holds the socket and restarts the daemon;
 * otherwise as a detached supervisor whose pid and start time the state file
 * keeps. Either way the socket listens before core_pattern names it.
 */
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import { liveStartTime } from '../../procfs/stat';
import path from 'node:path';
import { HostkitError } from '../../errors';
import { cliScript } from './tools';

/** Blocks this thread for `ms` (install and uninstall are synchronous commands). */
function pause(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

/** Where the daemon listens unless told otherwise. */
export const DEFAULT_SOCKET = '/run/cored/coredump.socket';

export type DaemonHandle = { kind: 'process'; pid: number; startTime: string; log: string } | { kind: 'systemd'; units: string[] };

const UNIT_DIR = '/etc/systemd/system';
const SOCKET_UNIT = 'cored.socket';
const SERVICE_UNIT = 'cored.service';

export function systemdRunning(): boolean {
  return fs.existsSync('/run/systemd/system');
}

/** The units `cored install` writes under systemd: the socket held by systemd, the service socket-activated. */
export function systemdUnits(target: { socket: string; config?: string; node?: string; script?: string }): Record<string, string> {
  const node = target.node ?? process.execPath;
  const script = target.script ?? cliScript();
  const quote = (s: string) => (/^[A-Za-z0-9_./=-]+$/.test(s) ? s : JSON.stringify(s));
  return {
    [SOCKET_UNIT]: [
      '# Written by `cored install --mode socket`: the kernel connects here for every core dump.',
      '[Unit]',
      'Description=cored coredump socket',
      '',
      '[Socket]',
      `ListenStream=${target.socket}`,
      'SocketMode=0600',
      // The kernel's connect does not wait: a full backlog loses a core.
      'Backlog=4096',
      'Accept=no',
      '',
      '[Install]',
      'WantedBy=sockets.target',
      '',
    ].join('\n'),
    [SERVICE_UNIT]: [
      '# Written by `cored install --mode socket`.',
      '[Unit]',
      'Description=cored crash collector',
      `Requires=${SOCKET_UNIT}`,
      '',
      '[Service]',
      `ExecStart=${[node, script, 'serve', ...(target.config ? ['--config', target.config] : [])].map(quote).join(' ')}`,
      'Restart=always',
      'RestartSec=100ms',
      '',
    ].join('\n'),
  };
}

/** Waits until `socket` is a listening socket (the supervisor binds and listens in one step). */
function waitForSocket(socket: string, pid: number | undefined, ms: number, log?: string): void {
  const until = Date.now() + ms;
  for (;;) {
    if (fs.lstatSync(socket, { throwIfNoEntry: false })?.isSocket()) return;
    if (pid !== undefined && liveStartTime(pid) === undefined) break;
    if (Date.now() > until) break;
    pause(50);
  }
  const tail = log ? `: ${fs.readFileSync(log, 'utf8').trim().split('\n').slice(-3).join(' / ')}` : '';
  throw new HostkitError('ERR_HOSTKIT_DAEMON', `cored serve did not listen on ${socket} within ${ms / 1000} s${tail}`);
}

export function startDaemon(options: { socket: string; config?: string; stateDir: string; script?: string }): DaemonHandle {
  if (systemdRunning()) {
    const units = systemdUnits(options);
    for (const [name, text] of Object.entries(units)) fs.writeFileSync(path.join(UNIT_DIR, name), text, { mode: 0o644 });
    for (const args of [['daemon-reload'], ['enable', '--now', SOCKET_UNIT], ['restart', SERVICE_UNIT]]) {
      const r = spawnSync('systemctl', args, { encoding: 'utf8' });
      if (r.status !== 0) throw new HostkitError('ERR_HOSTKIT_DAEMON', `systemctl ${args.join(' ')}: ${(r.stderr || r.error?.message || '').trim()}`);
    }
    waitForSocket(options.socket, undefined, 10_000);
    return { kind: 'systemd', units: Object.keys(units) };
  }
  const log = path.join(options.stateDir, 'cored.log');
  const out = fs.openSync(log, 'a', 0o600);
  const args = [options.script ?? cliScript(), 'serve', '--socket', options.socket, ...(options.config ? ['--config', options.config] : [])];
  const child = spawn(process.execPath, args, { detached: true, stdio: ['ignore', out, out] });
  fs.closeSync(out);
  child.unref();
  const pid = child.pid!;
  const startTime = liveStartTime(pid)?.toString() ?? '';
  waitForSocket(options.socket, pid, 10_000, log);
  return { kind: 'process', pid, startTime, log };
}

/** Stops the daemon and waits until it has finished the crashes it accepted (up to `ms`). */
export function stopDaemon(handle: DaemonHandle, ms = 30_000): void {
  if (handle.kind === 'systemd') {
    spawnSync('systemctl', ['disable', '--now', SOCKET_UNIT, SERVICE_UNIT]);
    for (const name of handle.units) fs.rmSync(path.join(UNIT_DIR, name), { force: true });
    spawnSync('systemctl', ['daemon-reload']);
    return;
  }
  if (!running(handle)) return; // gone, or the pid is someone else's now
  process.kill(handle.pid, 'SIGTERM');
  const until = Date.now() + ms;
  while (running(handle) && Date.now() < until) pause(50);
  if (running(handle)) process.kill(handle.pid, 'SIGKILL');
}

export function daemonAlive(handle: DaemonHandle): boolean {
  if (handle.kind === 'systemd') return spawnSync('systemctl', ['is-active', '--quiet', SERVICE_UNIT]).status === 0;
  return running(handle);
}

function running(handle: { pid: number; startTime: string }): boolean {
  return liveStartTime(handle.pid)?.toString() === handle.startTime;
}
