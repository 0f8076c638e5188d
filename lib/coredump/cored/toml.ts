/**
 * cored's config is TOML v1.0 (https://toml.io/en/v1.0.0), read by
 * toml-eslint-parser: a maintained, spec-complete parser that keeps every
 * node's position, so a syntax error names its line and the validator can
 * report "line 12: sink.0.path: ..." for a value that parses but is wrong.
 */
import { type AST, ParseError, getStaticTOMLValue, parseTOML } from 'toml-eslint-parser';

export type TomlValue = string | number | boolean | Date | TomlValue[] | TomlTable;
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

export function parseToml(text: string, file?: string): ParsedToml {
  let program: AST.TOMLProgram;
  try {
    program = parseTOML(text);
  } catch (err) {
    if (err instanceof ParseError)
      throw new TomlError(err.lineNumber, `${err.message}: ${JSON.stringify(text.split('\n')[err.lineNumber - 1]?.trim() ?? '')}`, file);
    throw err;
  }
  const lines: LineMap = new Map();
  for (const node of program.body[0].body) {
    if (node.type === 'TOMLKeyValue') {
      recordKey(lines, [], node);
      continue;
    }
    const path = node.resolvedKey.map(String);
    setFirst(lines, path.slice(0, node.kind === 'array' ? -1 : undefined).join('.'), node.loc.start.line);
    setFirst(lines, path.join('.'), node.loc.start.line);
    for (const pair of node.body) recordKey(lines, path, pair);
  }
  const root = getStaticTOMLValue(program) as TomlTable;
  rejectUnsafeIntegers(root, lines, file, []);
  return { root, lines };
}

/** `a.b.c = ...` defines a, a.b and a.b.c on its line; an inline table's keys too. */
function recordKey(lines: LineMap, table: string[], pair: AST.TOMLKeyValue): void {
  const path = [...table];
  for (const key of pair.key.keys) {
    path.push(key.type === 'TOMLBare' ? key.name : key.value);
    setFirst(lines, path.join('.'), pair.loc.start.line);
  }
  if (pair.value.type === 'TOMLInlineTable') for (const inner of pair.value.body) recordKey(lines, path, inner);
}

function setFirst(lines: LineMap, path: string, line: number): void {
  if (!lines.has(path)) lines.set(path, line);
}

/** TOML integers are 64-bit; a JavaScript number holds 53 bits exactly, and cored's settings never need more. */
function rejectUnsafeIntegers(value: TomlValue, lines: LineMap, file: string | undefined, path: string[]): void {
  if (typeof value === 'number' && Number.isInteger(value) && !Number.isSafeInteger(value)) {
    throw new TomlError(nearestLine(lines, path), `${path.join('.')}: ${value} is too large`, file);
  }
  if (Array.isArray(value)) for (const [i, v] of value.entries()) rejectUnsafeIntegers(v, lines, file, [...path, String(i)]);
  else if (typeof value === 'object' && !(value instanceof Date))
    for (const [k, v] of Object.entries(value)) rejectUnsafeIntegers(v, lines, file, [...path, k]);
}

/** The line of a dotted key, or of its nearest enclosing table; 0 if none is known. */
export function nearestLine(lines: LineMap, path: string[]): number {
  for (let n = path.length; n > 0; n--) {
    const line = lines.get(path.slice(0, n).join('.'));
    if (line !== undefined) return line;
  }
  return 0;
}
