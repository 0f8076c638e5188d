/**
 * cored's configuration: the TOML file turned into typed, validated values.
 * Unknown keys and wrong types are errors that name the key and its line, so
 * a typo never silently drops a sink. With no file, cored stores every core
 * zstd-compressed in /var/lib/cored.
 */
import fs from 'node:fs';
import path from 'node:path';
import { type LineMap, TomlError, type TomlTable, type TomlValue, nearestLine, parseToml } from './toml';

export type CoreFormat = 'raw' | 'zstd' | 'gzip';

interface SinkBase {
  name: string;
  /** Also feed it cores of processes that were not dumpable by their user (%d = 2, setuid and the like). */
  restricted: boolean;
}
export interface DirectorySinkConfig extends SinkBase {
  type: 'directory';
  path: string;
  format: CoreFormat;
}
export interface CommandSinkConfig extends SinkBase {
  type: 'command';
  argv: string[];
  /** Seconds the command may take after the core ended before it is killed. */
  timeout: number;
}
export interface HttpSinkConfig extends SinkBase {
  type: 'http';
  url: string;
  method: 'PUT' | 'POST';
  headers: [string, string][];
  /** A file whose contents (trimmed) become "Authorization: Bearer ...". */
  tokenFile?: string;
  timeout: number;
  retries: number;
}
export interface SocketSinkConfig extends SinkBase {
  type: 'socket';
  /** A unix socket path, or host:port for TCP. */
  address: string;
  timeout: number;
}
export type SinkConfig = DirectorySinkConfig | CommandSinkConfig | HttpSinkConfig | SocketSinkConfig;

export interface RuleConfig {
  /** Globs over the executable path (`*` stops at '/', `**` does not). */
  exe?: string[];
  signal?: number[];
  uid?: number[];
  minSize?: number;
  maxSize?: number;
  /** Sink names; empty means "ignore these crashes". */
  sinks: string[];
}

export interface CoredConfig {
  /** The file it came from, if any. */
  file?: string;
  store: { directory: string; maxUse?: number; keepFree?: number };
  limits: {
    maxCoreSize?: number;
    onOversize: 'truncate' | 'skip';
    timeBudget: number;
    stallTimeout: number;
    ratePerExe?: number;
    rateWindow: number;
  };
  metadata: { redactEnviron: string[] };
  sinks: SinkConfig[];
  rules: RuleConfig[];
}

export const DEFAULT_STORE = '/var/lib/cored';
export const DEFAULT_REDACT = ['*PASSWORD*', '*PASSWD*', '*SECRET*', '*TOKEN*', '*CREDENTIAL*', '*_KEY', 'AWS_*', 'GITHUB_*'];

export function defaultConfig(): CoredConfig {
  return {
    store: { directory: DEFAULT_STORE },
    limits: { onOversize: 'truncate', timeBudget: 120, stallTimeout: 15, rateWindow: 60 },
    metadata: { redactEnviron: [...DEFAULT_REDACT] },
    sinks: [{ type: 'directory', name: 'store', path: DEFAULT_STORE, format: 'zstd', restricted: true }],
    rules: [],
  };
}

/** Reads and validates a config file. */
export function loadConfig(file: string): CoredConfig {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (err) {
    throw new TomlError(0, `cannot read: ${(err as Error).message}`, file);
  }
  const config = parseConfig(text, file);
  config.file = path.resolve(file);
  return config;
}

/** Validates config text (TOML); throws TomlError naming the key and line. */
export function parseConfig(text: string, file?: string): CoredConfig {
  const { root, lines } = parseToml(text, file);
  return new Validator(lines, file).config(root);
}

const UNITS: Record<string, number> = {
  '': 1,
  B: 1,
  K: 1024,
  KB: 1024,
  KIB: 1024,
  M: 1024 ** 2,
  MB: 1024 ** 2,
  MIB: 1024 ** 2,
  G: 1024 ** 3,
  GB: 1024 ** 3,
  GIB: 1024 ** 3,
  T: 1024 ** 4,
  TB: 1024 ** 4,
  TIB: 1024 ** 4,
};
const SECONDS: Record<string, number> = { '': 1, s: 1, m: 60, min: 60, h: 3600 };

class Validator {
  constructor(
    private readonly lines: LineMap,
    private readonly file?: string,
  ) {}

  private fail(key: string, reason: string): never {
    const line = nearestLine(this.lines, key.replace(/\[\d+\]$/, '').split('.'));
    throw new TomlError(line, `${key}: ${reason}`, this.file);
  }

  private table(value: TomlValue | undefined, key: string, allowed: string[]): TomlTable {
    if (value === undefined) return {};
    if (typeof value !== 'object' || Array.isArray(value) || value instanceof Date) this.fail(key, 'expected a table');
    for (const k of Object.keys(value)) {
      if (!allowed.includes(k)) this.fail(key ? `${key}.${k}` : k, `unknown key (expected one of: ${allowed.join(', ')})`);
    }
    return value;
  }

  private string(t: TomlTable, key: string, path: string, options: { absolute?: boolean; oneOf?: string[] } = {}): string | undefined {
    const v = t[key];
    if (v === undefined) return undefined;
    if (typeof v !== 'string') this.fail(path, `expected a string, got ${describe(v)}`);
    if (v.includes('\0')) this.fail(path, 'contains a NUL byte');
    if (options.absolute && !path.endsWith('url') && !v.startsWith('/')) this.fail(path, `'${v}' is not an absolute path`);
    if (options.oneOf && !options.oneOf.includes(v)) this.fail(path, `'${v}' is not one of ${options.oneOf.join(', ')}`);
    return v;
  }

  private integer(t: TomlTable, key: string, path: string, min = 0): number | undefined {
    const v = t[key];
    if (v === undefined) return undefined;
    if (typeof v !== 'number' || !Number.isInteger(v)) this.fail(path, `expected an integer, got ${describe(v)}`);
    if (v < min) this.fail(path, `must be at least ${min}`);
    return v;
  }

  private bool(t: TomlTable, key: string, path: string): boolean | undefined {
    const v = t[key];
    if (v === undefined) return undefined;
    if (typeof v !== 'boolean') this.fail(path, `expected true or false, got ${describe(v)}`);
    return v;
  }

  /** Bytes: an integer, or a string such as "512M", "2G". */
  private size(t: TomlTable, key: string, path: string): number | undefined {
    const v = t[key];
    if (v === undefined) return undefined;
    if (typeof v === 'number' && Number.isInteger(v) && v >= 0) return v;
    const m = typeof v === 'string' ? /^\s*(\d+)\s*([A-Za-z]*)\s*$/.exec(v) : null;
    const unit = m ? UNITS[m[2]!.toUpperCase()] : undefined;
    if (!m || unit === undefined) this.fail(path, `expected a size such as 1048576, "512M" or "2G", got ${describe(v)}`);
    return Number(m[1]) * unit;
  }

  /** Seconds: an integer, or a string such as "30s", "5m". */
  private seconds(t: TomlTable, key: string, path: string): number | undefined {
    const v = t[key];
    if (v === undefined) return undefined;
    if (typeof v === 'number' && Number.isInteger(v) && v > 0) return v;
    const m = typeof v === 'string' ? /^\s*(\d+)\s*([a-z]*)\s*$/.exec(v) : null;
    const unit = m ? SECONDS[m[2]!] : undefined;
    if (!m || unit === undefined || Number(m[1]) === 0) this.fail(path, `expected a positive duration such as 30 or "5m", got ${describe(v)}`);
    return Number(m[1]) * unit;
  }

  private list<T>(t: TomlTable, key: string, path: string, each: (v: TomlValue, p: string) => T): T[] | undefined {
    const v = t[key];
    if (v === undefined) return undefined;
    const items = Array.isArray(v) ? v : [v];
    return items.map((item, i) => each(item, `${path}[${i}]`));
  }

  private stringItem = (v: TomlValue, p: string): string => {
    if (typeof v !== 'string') this.fail(p, `expected a string, got ${describe(v)}`);
    return v;
  };

  private intItem = (v: TomlValue, p: string): number => {
    if (typeof v !== 'number' || !Number.isInteger(v) || v < 0) this.fail(p, `expected a non-negative integer, got ${describe(v)}`);
    return v;
  };

  config(root: TomlTable): CoredConfig {
    const config = defaultConfig();
    this.table(root, '', ['store', 'limits', 'metadata', 'sink', 'rule']);

    const store = this.table(root.store, 'store', ['directory', 'max_use', 'keep_free']);
    config.store.directory = this.string(store, 'directory', 'store.directory', { absolute: true }) ?? DEFAULT_STORE;
    config.store.maxUse = this.size(store, 'max_use', 'store.max_use');
    config.store.keepFree = this.size(store, 'keep_free', 'store.keep_free');

    const limits = this.table(root.limits, 'limits', ['max_core_size', 'on_oversize', 'time_budget', 'stall_timeout', 'rate_per_exe', 'rate_window']);
    const l = config.limits;
    l.maxCoreSize = this.size(limits, 'max_core_size', 'limits.max_core_size');
    l.onOversize = (this.string(limits, 'on_oversize', 'limits.on_oversize', { oneOf: ['truncate', 'skip'] }) as 'truncate' | 'skip') ?? l.onOversize;
    l.timeBudget = this.seconds(limits, 'time_budget', 'limits.time_budget') ?? l.timeBudget;
    l.stallTimeout = this.seconds(limits, 'stall_timeout', 'limits.stall_timeout') ?? l.stallTimeout;
    l.ratePerExe = this.integer(limits, 'rate_per_exe', 'limits.rate_per_exe', 1);
    l.rateWindow = this.seconds(limits, 'rate_window', 'limits.rate_window') ?? l.rateWindow;

    const metadata = this.table(root.metadata, 'metadata', ['redact_environ']);
    config.metadata.redactEnviron = this.list(metadata, 'redact_environ', 'metadata.redact_environ', this.stringItem) ?? config.metadata.redactEnviron;

    if (root.sink !== undefined) {
      if (!Array.isArray(root.sink)) this.fail('sink', 'use [[sink]] headers (an array of tables)');
      config.sinks = root.sink.map((s, i) => this.sink(s, `sink.${i}`, config.store.directory));
      const names = new Set<string>();
      for (const [i, s] of config.sinks.entries()) {
        if (names.has(s.name)) this.fail(`sink.${i}.name`, `two sinks are named '${s.name}'`);
        names.add(s.name);
      }
    } else {
      config.sinks[0] = { type: 'directory', name: 'store', path: config.store.directory, format: 'zstd', restricted: true };
    }

    if (root.rule !== undefined) {
      if (!Array.isArray(root.rule)) this.fail('rule', 'use [[rule]] headers (an array of tables)');
      const names = new Set(config.sinks.map((s) => s.name));
      config.rules = root.rule.map((r, i) => this.rule(r, `rule.${i}`, names));
    }
    return config;
  }

  private sink(value: TomlValue, key: string, storeDir: string): SinkConfig {
    const common = ['name', 'type', 'restricted'];
    const raw = this.table(value, key, [...common, 'path', 'format', 'argv', 'timeout', 'url', 'method', 'header', 'token_file', 'retries', 'address']);
    const type = this.string(raw, 'type', `${key}.type`, { oneOf: ['directory', 'command', 'http', 'socket'] });
    if (!type) this.fail(`${key}.type`, 'missing (directory, command, http or socket)');
    const name = this.string(raw, 'name', `${key}.name`) ?? `${type}${key.slice(key.lastIndexOf('.'))}`;
    const allowedByType: Record<string, string[]> = {
      directory: ['path', 'format'],
      command: ['argv', 'timeout'],
      http: ['url', 'method', 'header', 'token_file', 'timeout', 'retries'],
      socket: ['address', 'timeout'],
    };
    this.table(raw, key, [...common, ...allowedByType[type]!]);
    if (type === 'directory') {
      return {
        type,
        name,
        restricted: this.bool(raw, 'restricted', `${key}.restricted`) ?? true,
        path: this.string(raw, 'path', `${key}.path`, { absolute: true }) ?? storeDir,
        format: (this.string(raw, 'format', `${key}.format`, { oneOf: ['raw', 'zstd', 'gzip'] }) as CoreFormat) ?? 'zstd',
      };
    }
    const restricted = this.bool(raw, 'restricted', `${key}.restricted`) ?? false;
    const timeout = this.seconds(raw, 'timeout', `${key}.timeout`) ?? 30;
    if (type === 'command') {
      const argv = this.list(raw, 'argv', `${key}.argv`, this.stringItem);
      if (!argv || argv.length === 0 || !Array.isArray(raw.argv)) this.fail(`${key}.argv`, 'missing: an array such as ["/usr/bin/gzip", "-c"]');
      if (!argv[0]!.startsWith('/')) this.fail(`${key}.argv[0]`, `'${argv[0]}' is not an absolute path (the kernel runs cored with no PATH)`);
      return { type, name, restricted, argv, timeout };
    }
    if (type === 'http') {
      const url = this.string(raw, 'url', `${key}.url`);
      if (!url) this.fail(`${key}.url`, 'missing');
      let parsed: URL;
      try {
        parsed = new URL(url);
      } catch {
        this.fail(`${key}.url`, `'${url}' is not a URL`);
      }
      if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') this.fail(`${key}.url`, 'must be http:// or https://');
      const headers = (this.list(raw, 'header', `${key}.header`, this.stringItem) ?? []).map((h, i): [string, string] => {
        const m = /^([!#$%&'*+.^_`|~0-9A-Za-z-]+):[ \t]*([^\r\n]*)$/.exec(h);
        if (!m) this.fail(`${key}.header[${i}]`, `'${h}' is not "Name: value"`);
        return [m[1]!, m[2]!];
      });
      return {
        type,
        name,
        restricted,
        url,
        method: (this.string(raw, 'method', `${key}.method`, { oneOf: ['PUT', 'POST'] }) as 'PUT' | 'POST') ?? 'PUT',
        headers,
        tokenFile: this.string(raw, 'token_file', `${key}.token_file`, { absolute: true }),
        timeout,
        retries: this.integer(raw, 'retries', `${key}.retries`) ?? 2,
      };
    }
    const address = this.string(raw, 'address', `${key}.address`);
    if (!address) this.fail(`${key}.address`, 'missing: a unix socket path or host:port');
    if (!address.startsWith('/') && !/^[^/]+:\d+$/.test(address))
      this.fail(`${key}.address`, `'${address}' is neither an absolute unix socket path nor host:port`);
    return { type: 'socket', name, restricted, address, timeout };
  }

  private rule(value: TomlValue, key: string, sinkNames: Set<string>): RuleConfig {
    const raw = this.table(value, key, ['exe', 'signal', 'uid', 'min_size', 'max_size', 'sinks']);
    const sinks = this.list(raw, 'sinks', `${key}.sinks`, this.stringItem);
    if (!sinks) this.fail(`${key}.sinks`, 'missing (an empty array ignores the matching crashes)');
    sinks.forEach((s, i) => {
      if (!sinkNames.has(s)) this.fail(`${key}.sinks[${i}]`, `no sink is named '${s}'`);
    });
    const rule: RuleConfig = { sinks };
    const exe = this.list(raw, 'exe', `${key}.exe`, this.stringItem);
    if (exe) rule.exe = exe;
    const signal = this.list(raw, 'signal', `${key}.signal`, this.intItem);
    if (signal) rule.signal = signal;
    const uid = this.list(raw, 'uid', `${key}.uid`, this.intItem);
    if (uid) rule.uid = uid;
    const minSize = this.size(raw, 'min_size', `${key}.min_size`);
    if (minSize !== undefined) rule.minSize = minSize;
    const maxSize = this.size(raw, 'max_size', `${key}.max_size`);
    if (maxSize !== undefined) rule.maxSize = maxSize;
    return rule;
  }
}

function describe(v: TomlValue): string {
  if (Array.isArray(v)) return 'an array';
  if (v instanceof Date) return 'a date';
  if (typeof v === 'object') return 'a table';
  return `${typeof v} ${JSON.stringify(v)}`;
}
