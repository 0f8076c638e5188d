/**
 * gdbsock's own command-line arguments as bytes. Node decodes process.argv as
 * UTF-8, with U+FFFD for bytes that are not, but a program path or argument
 * after `--` must reach the program byte for byte (as under gdbserver): the
 * kernel's copy is in /proc/self/cmdline, each argument NUL-terminated (proc(5)).
 */
import fs from 'node:fs';

/**
 * `decoded` (the end of process.argv) as the bytes they came from: the same
 * number of entries at the end of /proc/self/cmdline. Where those do not decode
 * to `decoded` (the command line was rewritten, or /proc is not there), the
 * strings are all there is, and they are returned as they are.
 */
export function rawArgs(decoded: readonly string[]): (string | Buffer)[] {
  let cmdline: Buffer;
  try {
    cmdline = fs.readFileSync('/proc/self/cmdline');
  } catch {
    return [...decoded];
  }
  const all = splitAtNuls(cmdline);
  const tail = all.slice(Math.max(0, all.length - decoded.length));
  const linesUp = tail.length === decoded.length && tail.every((bytes, i) => bytes.toString() === decoded[i]);
  return linesUp ? tail : [...decoded];
}

/** "a\0b\0\0" -> [a, b, ''] (each argument ends with a NUL, the last one too). */
function splitAtNuls(cmdline: Buffer): Buffer[] {
  const out: Buffer[] = [];
  for (let start = 0; start < cmdline.length; ) {
    const end = cmdline.indexOf(0, start);
    if (end === -1) {
      out.push(cmdline.subarray(start));
      break;
    }
    out.push(cmdline.subarray(start, end));
    start = end + 1;
  }
  return out;
}
