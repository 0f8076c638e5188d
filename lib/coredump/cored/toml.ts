/**
 * A strict subset of TOML v1.0 (https://toml.io/en/v1.0.0), enough for a
 * daemon's config: comments, `[table]` and `[[array-of-tables]]` headers,
 * bare or quoted keys (dotted keys included), basic and literal strings,
 * integers (with `_` separators), booleans and arrays (which may span lines).
 * Floats, dates, inline tables and multi-line strings are refused with an
 * error rather than half-understood. Every value remembers its line, so the
 * validator can report "line 12: sink.path: ...".
 */

export type TomlValue = string | number | boolean | TomlValue[] | TomlTable;
export interface TomlTable {
  [key: string]: TomlValue;
}

/** The line each key was defined on, by dotted path ("sink.1.path"). */
export type LineMap = Map<string, number>;

export class TomlError extends Error {
  readonly code = 'ERR_HOSTKIT_BAD_CONFIG';

  constructor(
    readonly line: number,
    readonly reason: string,
    readonly file?: string,
  ) {
    super(`${file ?? 'config'}:${line}: ${reason}`);
    this.name = 'TomlError';
  }
}

export interface ParsedToml {
  root: TomlTable;
  lines: LineMap;
}

const BARE_KEY = /^[A-Za-z0-9_-]+/;

class Parser {
  private pos = 0;
  private line = 1;
  readonly root: TomlTable = {};
  readonly lines: LineMap = new Map();
  /** Tables created by a [header] (not again allowed) and their path for the line map. */
  private readonly explicit = new Set<TomlTable>();

  constructor(
    private readonly text: string,
    private readonly file?: string,
  ) {}

  private fail(reason: string, line = this.line): never {
    throw new TomlError(line, reason, this.file);
  }

  private peek(): string {
    return this.text[this.pos] ?? '';
  }

  /** Skips spaces and tabs (not newlines). */
  private skipBlank(): void {
    while (this.peek() === ' ' || this.peek() === '\t') this.pos++;
  }

  /** Skips blanks, comments and newlines (inside arrays). */
  private skipAll(): void {
    for (;;) {
      this.skipBlank();
      const c = this.peek();
      if (c === '#') this.skipComment();
      else if (c === '\n' || c === '\r') this.newline();
      else return;
    }
  }

  private skipComment(): void {
    while (this.pos < this.text.length && this.peek() !== '\n') {
      const code = this.text.charCodeAt(this.pos);
      if ((code < 0x20 && code !== 9 && code !== 13) || code === 0x7f) this.fail('control character in a comment');
      this.pos++;
    }
  }

  private newline(): void {
    if (this.peek() === '\r') {
      this.pos++;
      if (this.peek() !== '\n') this.fail('a carriage return not followed by a newline');
    }
    this.pos++;
    this.line++;
  }

  /** After a key/value or header: only a comment may follow on the line. */
  private endOfLine(): void {
    this.skipBlank();
    if (this.peek() === '#') this.skipComment();
    if (this.pos >= this.text.length) return;
    if (this.peek() !== '\n' && this.peek() !== '\r') this.fail(`unexpected ${JSON.stringify(this.peek())} after the value`);
    this.newline();
  }

  parse(): ParsedToml {
    let current = this.root;
    let currentPath: string[] = [];
    while (this.pos < this.text.length) {
      this.skipBlank();
      const c = this.peek();
      if (c === '#') {
        this.skipComment();
        continue;
      }
      if (c === '\n' || c === '\r') {
        this.newline();
        continue;
      }
      if (c === '') break;
      if (c === '[') {
        [current, currentPath] = this.header();
      } else {
        this.keyValue(current, currentPath);
      }
      this.endOfLine();
    }
    return { root: this.root, lines: this.lines };
  }

  private header(): [TomlTable, string[]] {
    const line = this.line;
    this.pos++;
    const array = this.peek() === '[';
    if (array) this.pos++;
    this.skipBlank();
    const keys = this.key();
    this.skipBlank();
    if (this.peek() !== ']' || (array && this.text[this.pos + 1] !== ']')) this.fail(`expected '${array ? ']]' : ']'}' to close the table header`);
    this.pos += array ? 2 : 1;
    let table = this.root;
    const path: string[] = [];
    for (const [i, key] of keys.entries()) {
      const last = i === keys.length - 1;
      let next = table[key];
      if (last && array) {
        if (next === undefined) next = table[key] = [];
        if (!Array.isArray(next)) this.fail(`'${[...path, key].join('.')}' is already defined and is not an array of tables`, line);
        const fresh: TomlTable = {};
        next.push(fresh);
        path.push(key, String(next.length - 1));
        this.lines.set(path.join('.'), line);
        this.explicit.add(fresh);
        return [fresh, path];
      }
      if (next === undefined) {
        next = table[key] = {};
        this.lines.set([...path, key].join('.'), line);
      }
      if (Array.isArray(next)) {
        const tail = next[next.length - 1];
        if (last || typeof tail !== 'object' || Array.isArray(tail)) this.fail(`'${[...path, key].join('.')}' is an array, not a table`, line);
        path.push(key, String(next.length - 1));
        table = tail as TomlTable;
        continue;
      }
      if (typeof next !== 'object') this.fail(`'${[...path, key].join('.')}' is already a value, not a table`, line);
      path.push(key);
      table = next;
      if (last) {
        if (this.explicit.has(table)) this.fail(`table [${path.join('.')}] is defined twice`, line);
        this.explicit.add(table);
        this.lines.set(path.join('.'), line);
      }
    }
    return [table, path];
  }

  /** A possibly dotted key. */
  private key(): string[] {
    const parts: string[] = [];
    for (;;) {
      this.skipBlank();
      const c = this.peek();
      if (c === '"') parts.push(this.basicString());
      else if (c === "'") parts.push(this.literalString());
      else {
        const m = BARE_KEY.exec(this.text.slice(this.pos, this.pos + 256));
        if (!m) this.fail(c === '' || c === '\n' ? 'expected a key' : `unexpected ${JSON.stringify(c)} where a key should be`);
        parts.push(m[0]);
        this.pos += m[0].length;
      }
      this.skipBlank();
      if (this.peek() !== '.') return parts;
      this.pos++;
    }
  }

  private keyValue(table: TomlTable, tablePath: string[]): void {
    const line = this.line;
    const keys = this.key();
    this.skipBlank();
    if (this.peek() !== '=') this.fail(`expected '=' after the key '${keys.join('.')}'`);
    this.pos++;
    this.skipBlank();
    const value = this.value();
    let target = table;
    const path = [...tablePath];
    for (const key of keys.slice(0, -1)) {
      path.push(key);
      let next = target[key];
      if (next === undefined) next = target[key] = {};
      if (typeof next !== 'object' || Array.isArray(next) || this.explicit.has(next)) this.fail(`'${path.join('.')}' is already defined`, line);
      target = next;
    }
    const last = keys[keys.length - 1]!;
    path.push(last);
    if (Object.prototype.hasOwnProperty.call(target, last)) this.fail(`'${path.join('.')}' is defined twice`, line);
    if (last === '__proto__') this.fail(`'${path.join('.')}' is not an allowed key`, line);
    target[last] = value;
    this.lines.set(path.join('.'), line);
  }

  private value(): TomlValue {
    const c = this.peek();
    if (c === '"') {
      if (this.text.startsWith('"""', this.pos)) this.fail('multi-line strings are not supported');
      return this.basicString();
    }
    if (c === "'") {
      if (this.text.startsWith("'''", this.pos)) this.fail('multi-line strings are not supported');
      return this.literalString();
    }
    if (c === '[') return this.array();
    if (c === '{') this.fail('inline tables are not supported: use a [table] header');
    const m = /^[^\s,\]#]+/.exec(this.text.slice(this.pos, this.pos + 64));
    if (!m) this.fail('expected a value');
    const word = m[0];
    this.pos += word.length;
    if (word === 'true') return true;
    if (word === 'false') return false;
    if (/^[+-]?(0|[1-9](_?[0-9])*)$/.test(word)) {
      const n = Number(word.replace(/_/g, ''));
      if (!Number.isSafeInteger(n)) this.fail(`integer ${word} is too large`);
      return n;
    }
    if (/^0x[0-9A-Fa-f](_?[0-9A-Fa-f])*$/.test(word) || /^0o[0-7](_?[0-7])*$/.test(word)) {
      const n = Number(word.replace(/_/g, ''));
      if (!Number.isSafeInteger(n)) this.fail(`integer ${word} is too large`);
      return n;
    }
    if (/^[+-]?[0-9.eE_+-]+$/.test(word) || /^[+-]?(inf|nan)$/.test(word)) this.fail(`floats are not supported ('${word}')`);
    this.fail(`'${word}' is not a value (strings need quotes)`);
  }

  private array(): TomlValue[] {
    this.pos++; // [
    const out: TomlValue[] = [];
    for (;;) {
      this.skipAll();
      if (this.peek() === ']') {
        this.pos++;
        return out;
      }
      if (this.peek() === '') this.fail('unterminated array');
      out.push(this.value());
      this.skipAll();
      if (this.peek() === ',') {
        this.pos++;
        continue;
      }
      if (this.peek() === ']') {
        this.pos++;
        return out;
      }
      if (this.peek() === '') this.fail('unterminated array');
      this.fail(`expected ',' or ']' in an array, found ${JSON.stringify(this.peek())}`);
    }
  }

  private basicString(): string {
    this.pos++; // "
    let out = '';
    for (;;) {
      const c = this.peek();
      if (c === '' || c === '\n' || c === '\r') this.fail('unterminated string');
      this.pos++;
      if (c === '"') return out;
      if (c === '\\') {
        const e = this.peek();
        this.pos++;
        const simple: Record<string, string> = { b: '\b', t: '\t', n: '\n', f: '\f', r: '\r', '"': '"', '\\': '\\' };
        if (e in simple) out += simple[e];
        else if (e === 'u' || e === 'U') {
          const len = e === 'u' ? 4 : 8;
          const hex = this.text.slice(this.pos, this.pos + len);
          if (!new RegExp(`^[0-9A-Fa-f]{${len}}$`).test(hex)) this.fail(`bad \\${e} escape`);
          const code = parseInt(hex, 16);
          if (code > 0x10ffff || (code >= 0xd800 && code <= 0xdfff)) this.fail(`\\${e}${hex} is not a Unicode scalar value`);
          out += String.fromCodePoint(code);
          this.pos += len;
        } else this.fail(`unknown escape \\${e}`);
        continue;
      }
      const code = c.charCodeAt(0);
      if ((code < 0x20 && code !== 9) || code === 0x7f) this.fail('control character in a string');
      out += c;
    }
  }

  private literalString(): string {
    this.pos++; // '
    const end = this.text.indexOf("'", this.pos);
    const nl = this.text.indexOf('\n', this.pos);
    if (end < 0 || (nl >= 0 && nl < end)) this.fail('unterminated string');
    const out = this.text.slice(this.pos, end);
    if (/[\x00-\x08\x0a-\x1f\x7f]/.test(out)) this.fail('control character in a string');
    this.pos = end + 1;
    return out;
  }
}

/** Parses TOML text; throws TomlError with the line of the first problem. */
export function parseToml(text: string, file?: string): ParsedToml {
  if (typeof text !== 'string') throw new TypeError('text must be a string');
  return new Parser(text, file).parse();
}
