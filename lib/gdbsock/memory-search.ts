/** qSearch:memory (GDB manual, "General Query Packets"), over any Target's readMemory. */
import type { Target } from './target';

/**
 * Where `pattern` first starts in [start, start + length) (undefined: not
 * there), reading a MiB at a time with overlaps; 'unreadable' if memory ran
 * out before the range did.
 */
export async function searchMemory(t: Target, start: bigint, length: number, pattern: Buffer): Promise<bigint | undefined | 'unreadable'> {
  let address = start;
  let remaining = length;
  const chunk = 1 << 20;
  while (remaining >= pattern.length) {
    const want = Math.min(remaining, chunk + pattern.length - 1);
    const data = await t.readMemory(address, want);
    if (data.length < pattern.length) return remaining <= data.length ? undefined : 'unreadable';
    const at = data.indexOf(pattern);
    if (at >= 0) return address + BigInt(at);
    if (data.length < want) return 'unreadable';
    const advance = want - pattern.length + 1;
    address += BigInt(advance);
    remaining -= advance;
  }
  return undefined;
}
