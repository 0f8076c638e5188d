/**
 * The agent expression `printf` (GDB manual, "Bytecode Descriptions"): a
 * C format string as gdb's dprintf gave it, escapes still written out
 * ("\n" is two characters), and its arguments as 64-bit values; `%s`
 * arguments are addresses of strings in the program. The C conversions
 * gdb's dprintf accepts are done as C would with these values: `%d` of an
 * int takes the low 32 bits, `%hhx` the low 8. A format gdb's own parser
 * would refuse gets an AgentError.
 */
import { AgentError } from './agent';

/** The longest string a `%s` reads from the program (without a precision). */
const MAX_STRING = 4096;

const ESCAPES: Record<string, string> = { '\\': '\\', a: '\x07', b: '\b', e: '\x1b', f: '\f', n: '\n', r: '\r', t: '\t', v: '\v', '"': '"' };

/** One conversion: %[flags][width][.precision][length]conversion. */
const CONVERSION = /^%([-+ #0]*)(\d*)(?:\.(\d*))?(hh|h|ll|l|L|z|j|t)?([diouxXcsp%])/;

/**
 * The text `format` prints with `args`; `readString` gives the bytes of the
 * program's string at an address (up to `max` of them, stopping at a NUL).
 */
export function formatAgentPrintf(format: string, args: readonly bigint[], readString: (address: bigint, max: number) => Buffer): string {
  let out = '';
  let next = 0;
  const arg = (): bigint => {
    if (next >= args.length) throw new AgentError(`printf: "${format}" wants more than ${args.length} arguments`);
    return args[next++]!;
  };
  for (let i = 0; i < format.length; ) {
    const c = format[i]!;
    if (c === '\\') {
      const e = format[i + 1];
      const escaped = e === undefined ? undefined : ESCAPES[e];
      if (escaped === undefined) throw new AgentError(`printf: unknown escape \\${e ?? ''} in "${format}"`);
      out += escaped;
      i += 2;
      continue;
    }
    if (c !== '%') {
      out += c;
      i++;
      continue;
    }
    const m = CONVERSION.exec(format.slice(i));
    if (!m) throw new AgentError(`printf: bad conversion at "${format.slice(i, i + 8)}"`);
    i += m[0].length;
    const [, flags = '', width = '', precision, length = '', conversion] = m;
    if (conversion === '%') {
      out += '%';
      continue;
    }
    const spec = { flags, width: width ? Number(width) : 0, precision: precision === undefined ? undefined : Number(precision || '0') };
    out += convert(conversion!, length, arg(), spec, readString);
  }
  return out;
}

interface Spec {
  flags: string;
  width: number;
  precision: number | undefined;
}

function convert(conversion: string, length: string, value: bigint, spec: Spec, readString: (address: bigint, max: number) => Buffer): string {
  switch (conversion) {
    case 'd':
    case 'i':
      return integer(BigInt.asIntN(bitsOf(length), value), 10, spec, false);
    case 'u':
      return integer(BigInt.asUintN(bitsOf(length), value), 10, spec, false);
    case 'o':
      return integer(BigInt.asUintN(bitsOf(length), value), 8, spec, false);
    case 'x':
    case 'X': {
      const text = integer(BigInt.asUintN(bitsOf(length), value), 16, spec, conversion === 'X');
      return conversion === 'X' ? text.toUpperCase() : text;
    }
    case 'p':
      return pad(value === 0n ? '(nil)' : `0x${BigInt.asUintN(64, value).toString(16)}`, { ...spec, precision: undefined });
    case 'c':
      return pad(String.fromCharCode(Number(BigInt.asUintN(8, value))), { ...spec, precision: undefined });
    default: {
      // s
      if (value === 0n) return pad('(null)', spec);
      const bytes = readString(value, spec.precision ?? MAX_STRING);
      const end = bytes.indexOf(0);
      return pad(bytes.toString('latin1', 0, end < 0 ? bytes.length : end), spec);
    }
  }
}

/** The width of an int argument with C's length modifier. */
function bitsOf(length: string): number {
  if (length === 'hh') return 8;
  if (length === 'h') return 16;
  return length === '' ? 32 : 64;
}

function integer(value: bigint, radix: number, spec: Spec, upper: boolean): string {
  const negative = value < 0n;
  let digits = (negative ? -value : value).toString(radix);
  if (spec.precision !== undefined) {
    // An explicit precision is the least number of digits; 0 with precision 0 prints none.
    if (spec.precision === 0 && value === 0n) digits = '';
    digits = digits.padStart(spec.precision, '0');
  }
  if (spec.flags.includes('#') && value !== 0n) {
    if (radix === 16) digits = `${upper ? '0X' : '0x'}${digits}`;
    else if (radix === 8 && !digits.startsWith('0')) digits = `0${digits}`;
  }
  let sign = '';
  if (negative) sign = '-';
  else if (radix === 10 && spec.flags.includes('+')) sign = '+';
  else if (radix === 10 && spec.flags.includes(' ')) sign = ' ';
  // '0' pads between the sign and the digits, unless a precision or '-' says otherwise.
  if (spec.flags.includes('0') && !spec.flags.includes('-') && spec.precision === undefined) {
    const prefix = /^0[xX]/.test(digits) ? digits.slice(0, 2) : '';
    const body = digits.slice(prefix.length);
    return sign + prefix + body.padStart(spec.width - sign.length - prefix.length, '0');
  }
  return pad(sign + digits, { ...spec, precision: undefined });
}

function pad(text: string, spec: Spec): string {
  const cut = spec.precision !== undefined ? text.slice(0, spec.precision) : text;
  return spec.flags.includes('-') ? cut.padEnd(spec.width) : cut.padStart(spec.width);
}
