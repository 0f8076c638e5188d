/**
 * The command sink: runs the admin's argv (which may be `/bin/sh -c
 * "gzip | ssh host 'cat > core'"` written by the admin) with the core on
 * stdin and the crash described in CORED_* environment variables. Nothing
 * the crashing process chose (comm, exe, argv) is ever put on the command
 * line, so no quoting can go wrong.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import type { CommandSinkConfig } from '../config';
import type { CrashRecord } from '../record';
import { growPipe, pipeFd } from '../pipe-input';
import { type CrashSink, type SinkResult, crashEnvironment } from './types';

export class CommandSink implements CrashSink {
  readonly name: string;
  private readonly child: ChildProcess;
  private readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  private failure: Error | undefined;
  private output = '';
  private bytes = 0;

  constructor(
    private readonly config: CommandSinkConfig,
    record: CrashRecord,
  ) {
    this.name = config.name;
    this.child = spawn(config.argv[0]!, config.argv.slice(1), {
      env: crashEnvironment(record),
      cwd: '/',
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    growPipe(pipeFd(this.child.stdin));
    const keep = (d: Buffer) => {
      if (this.output.length < 2048) this.output += d.toString('utf8');
    };
    this.child.stdout!.on('data', keep);
    this.child.stderr!.on('data', keep);
    this.child.stdin!.on('error', (err) => (this.failure ??= new Error(`${config.argv[0]} stopped reading the core: ${err.message}`)));
    this.exited = new Promise((resolve) => {
      this.child.on('error', (err) => {
        this.failure ??= err;
        resolve({ code: null, signal: null });
      });
      this.child.on('close', (code, signal) => resolve({ code, signal }));
    });
  }

  async write(chunk: Buffer): Promise<void> {
    if (this.failure) throw this.failure;
    const stdin = this.child.stdin!;
    // The write callback, not 'drain': the caller reuses `chunk` afterwards.
    await Promise.race([new Promise((r) => stdin.write(chunk, r)), this.exited]);
    if (this.failure) throw this.failure;
    this.bytes += chunk.length;
  }

  async finish(): Promise<SinkResult> {
    this.child.stdin!.end();
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<'timeout'>((r) => (timer = setTimeout(() => r('timeout'), this.config.timeout * 1000)));
    const result = await Promise.race([this.exited, timeout]);
    clearTimeout(timer);
    const location = this.config.argv.join(' ');
    if (result === 'timeout') {
      this.child.kill('SIGKILL');
      return { name: this.name, ok: false, location, bytes: this.bytes, error: `still running after ${this.config.timeout} s: killed` };
    }
    if (this.failure) return { name: this.name, ok: false, location, bytes: this.bytes, error: this.failure.message };
    if (result.code !== 0) {
      const why = result.signal ? `killed by ${result.signal}` : `exit status ${result.code}`;
      return { name: this.name, ok: false, location, bytes: this.bytes, error: `${why}${this.output ? `: ${this.output.trim().slice(0, 300)}` : ''}` };
    }
    return { name: this.name, ok: true, location, bytes: this.bytes };
  }

  abort(): void {
    this.child.stdin!.destroy();
    this.child.kill('SIGKILL');
  }
}
