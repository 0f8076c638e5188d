/**
 * The item of `sorted` (ordered by start, none overlapping) whose [start, end)
 * holds `address`, by binary search; undefined in a gap.
 */
export function findRange<T>(sorted: readonly T[], address: bigint, start: (item: T) => bigint, end: (item: T) => bigint): T | undefined {
  let lo = 0;
  let hi = sorted.length - 1;
  while (lo <= hi) {
    const mid = (lo + hi) >> 1;
    const item = sorted[mid]!;
    if (address < start(item)) hi = mid - 1;
    else if (address >= end(item)) lo = mid + 1;
    else return item;
  }
  return undefined;
}
