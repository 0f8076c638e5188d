/**
 * `cored serve`: the resident daemon behind `core_pattern = @@SOCKET`.
 *
 * Two processes with one job each. The supervisor creates the listening
 * socket (or takes it from systemd's socket activation) and never accepts on
 * it; the worker accepts and handles every crash in one Node process. The
 * listening socket outlives the worker: if the worker dies (killed, a bug),
 * the kernel's connections wait in the backlog until the supervisor's next
 * worker accepts them, and the crash being written when it died is finished
 * from the journal (journal.ts) as a truncated core. The kernel's connect is
 * non-blocking, so a full backlog would lose a core: the backlog is the
 * most the kernel allows (net.core.somaxconn), and accepting never waits for
 * a crash to be handled.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { HostkitError } from '../../errors';
import { libc } from '../../native';
import { loadConfigOrDefault } from './handler';
import { recoverInterrupted } from './journal';
import { logLine } from './log';
import { SafeDir } from './safe-dir';
import { serveCrashConnection } from './socket-crash';
import { CrashRate, readIndex } from './store';
import { cliScript } from './tools';
import { DEFAULT_SOCKET } from './daemon-control';

/** SOMAXCONN's ceiling: listen(2) caps any larger backlog at net.core.somaxconn (4096 by default). */
export const BACKLOG = 4096;
/** How long a stopping worker still accepts what the kernel queued before core_pattern changed. */
const STOP_GRACE_MS = 250;
/** sd_listen_fds(3): passed sockets start at fd 3. */
const SD_LISTEN_FDS_START = 3;

export interface ServeOptions {
  socket?: string;
  config?: string;
}

/** The fd systemd passed (LISTEN_FDS/LISTEN_PID), if this process was socket-activated. */
function activatedSocket(): number | undefined {
  if (process.env.LISTEN_PID !== String(process.pid) || Number(process.env.LISTEN_FDS) < 1) return undefined;
  return SD_LISTEN_FDS_START;
}

/** Binds the socket 0600 in a 0755 directory, replacing a stale socket but nothing else; the caller holds the lock. */
function listenAt(socketPath: string): number {
  const st = fs.lstatSync(socketPath, { throwIfNoEntry: false });
  if (st && !st.isSocket()) throw new HostkitError('ERR_HOSTKIT_SOCKET_PATH', `${socketPath} exists and is not a socket: not replacing it`);
  if (st) fs.unlinkSync(socketPath); // stale: the lock says no other supervisor is alive
  const umask = process.umask(0o177); // the socket is born 0600: no window where others may connect
  try {
    return libc().listenUnix(socketPath, BACKLOG);
  } finally {
    process.umask(umask);
  }
}

/** The supervisor: holds the socket, runs the worker, restarts it when it dies. Resolves when stopped by a signal. */
export async function serve(options: ServeOptions): Promise<void> {
  const activated = activatedSocket();
  if (activated !== undefined) {
    // systemd holds the socket and restarts us: be the worker directly.
    await runWorker({ listenFd: activated, config: options.config });
    return;
  }
  const socketPath = path.resolve(options.socket ?? DEFAULT_SOCKET);
  fs.mkdirSync(path.dirname(socketPath), { recursive: true, mode: 0o755 });
  const lock = takeLock(`${socketPath}.lock`);
  const listenFd = listenAt(socketPath);
  const ours = fs.statSync(socketPath).ino;
  process.stdout.write(`listening ${socketPath}\n`);
  let worker: ChildProcess | undefined;
  let stopping = false;
  let backoff = 100;
  const stopped = new Promise<void>((resolve) => {
    const stop = () => {
      stopping = true;
      if (worker && worker.exitCode === null && worker.signalCode === null) worker.kill('SIGTERM');
      else resolve();
    };
    process.on('SIGTERM', stop);
    process.on('SIGINT', stop);
    process.on('SIGHUP', () => worker?.kill('SIGHUP'));
    const start = () => {
      const began = Date.now();
      const args = [...process.execArgv, cliScript(), 'serve', '--worker', '--listen-fd', '3', ...(options.config ? ['--config', options.config] : [])];
      worker = spawn(process.execPath, args, { stdio: ['ignore', 'inherit', 'inherit', listenFd] });
      worker.on('exit', (code, signal) => {
        if (stopping) return resolve();
        // A worker that dies at once (a broken install) is restarted slower and slower, never given up on:
        // while any worker may come, the kernel's connections wait in the backlog.
        backoff = Date.now() - began > 10_000 ? 100 : Math.min(backoff * 2, 5_000);
        logLine(`worker ${worker?.pid} ${signal ? `killed by ${signal}` : `exited with ${code}`}: restarting in ${backoff} ms`);
        setTimeout(start, backoff);
      });
    };
    start();
  });
  await stopped;
  try {
    if (fs.statSync(socketPath).ino === ours) fs.unlinkSync(socketPath);
  } catch {
    /* already gone */
  }
  libc().close(listenFd);
  lock.release();
}

/** One supervisor per socket path: an flock held for the supervisor's life. */
function takeLock(file: string): { release(): void } {
  const fd = fs.openSync(file, fs.constants.O_RDWR | fs.constants.O_CREAT | fs.constants.O_NOFOLLOW, 0o600);
  try {
    libc().flock(fd, 2 | 4); // LOCK_EX | LOCK_NB
  } catch (err) {
    fs.closeSync(fd);
    throw new HostkitError('ERR_HOSTKIT_ALREADY_SERVING', `another cored serve holds ${file}: ${(err as Error).message}`);
  }
  return {
    release: () => {
      fs.rmSync(file, { force: true });
      fs.closeSync(fd);
    },
  };
}

export interface WorkerOptions {
  listenFd: number;
  config?: string;
}

/** The worker: accepts on the inherited socket and handles each crash as it comes, concurrently. */
export async function runWorker(options: WorkerOptions): Promise<void> {
  let { config, configError } = loadConfigOrDefault(options.config);
  if (configError) logLine(`config error, using the defaults: ${configError}`);
  recoverInterrupted(config, logLine);
  let rate = rateFor(config);
  const inflight = new Set<Promise<unknown>>();
  const server = net.createServer({ pauseOnConnect: true }, (socket) => {
    const done = serveCrashConnection(socket, { config, configError, rate: rate && ((exe, now) => rate!.take(exe, now)) }).catch((err) =>
      logLine(`crash handling failed: ${(err as Error).stack ?? err}`),
    );
    inflight.add(done);
    void done.finally(() => inflight.delete(done));
  });
  server.on('error', (err) => logLine(`accept: ${err.message}`));
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen({ fd: options.listenFd, backlog: BACKLOG }, () => {
      server.off('error', reject);
      resolve();
    });
  });
  logLine(`serving crashes (worker pid ${process.pid})`);
  await new Promise<void>((resolve) => {
    const stop = () => {
      // Whoever stops us points core_pattern elsewhere first; connections the kernel queued
      // before that are still taken for a moment, then no more, and the accepted ones finish.
      setTimeout(() => {
        server.close();
        void Promise.allSettled([...inflight]).then(() => resolve());
      }, STOP_GRACE_MS);
    };
    process.on('SIGTERM', stop);
    process.on('SIGINT', stop);
    process.on('SIGHUP', () => {
      ({ config, configError } = loadConfigOrDefault(options.config));
      rate = rateFor(config);
      logLine(configError ? `reload: config error, using the defaults: ${configError}` : 'reloaded the config');
    });
  });
}

/** The rate, seeded from the index, or undefined when the config sets none. */
function rateFor(config: ReturnType<typeof loadConfigOrDefault>['config']): CrashRate | undefined {
  const { ratePerExe, rateWindow } = config.limits;
  if (ratePerExe === undefined) return undefined;
  const rate = new CrashRate(ratePerExe, rateWindow);
  try {
    const store = SafeDir.open(config.store.directory, false);
    try {
      rate.seed(readIndex(store));
    } finally {
      store.close();
    }
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') logLine(`rate: could not read the index: ${(err as Error).message}`);
  }
  return rate;
}
