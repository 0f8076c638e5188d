/** The mounts this process sees (/proc/self/mountinfo), and the one holding a path: for doctor's probes and veriexec. */
import fs from 'node:fs';
import path from 'node:path';

export interface Mount {
  mountPoint: string;
  type: string;
  source: string;
}

/** mountinfo escapes space, tab, newline and backslash as \ooo (fs/proc_namespace.c). */
function unescapeOctal(field: string): string {
  return field.replace(/\\([0-7]{3})/g, (_, oct: string) => String.fromCharCode(Number.parseInt(oct, 8)));
}

export function mounts(file = '/proc/self/mountinfo'): Mount[] {
  const out: Mount[] = [];
  for (const line of fs.readFileSync(file, 'utf8').split('\n')) {
    if (!line) continue;
    // id parent major:minor root mount-point options [optional...] - type source super-options
    const [left, right] = line.split(' - ');
    const fields = left?.split(' ') ?? [];
    const tail = right?.split(' ') ?? [];
    if (fields.length < 5 || tail.length < 2) continue;
    out.push({ mountPoint: unescapeOctal(fields[4]!), type: tail[0]!, source: unescapeOctal(tail[1]!) });
  }
  return out;
}

/** The mount a path lies on: the longest mount point that is a prefix of its real path (the last one mounted wins). */
export function mountOf(file: string, all: Mount[] = mounts()): Mount | undefined {
  let real: string;
  try {
    real = fs.realpathSync(file);
  } catch {
    real = path.resolve(file);
  }
  let best: Mount | undefined;
  for (const m of all) {
    const inside = m.mountPoint === '/' || real === m.mountPoint || real.startsWith(`${m.mountPoint}/`);
    if (inside && (!best || m.mountPoint.length >= best.mountPoint.length)) best = m;
  }
  return best;
}
