/** Summaries of repeated samples: the median, the extremes and a spread. */

export interface Summary {
  /** Nanoseconds per operation, each sample's mean. */
  samples: number[];
  median: number;
  min: number;
  max: number;
  /** (max - min) / median: 0.05 means the samples lie within 5% of the median's size. */
  spread: number;
}

export function summarize(samples: number[]): Summary {
  if (samples.length === 0) throw new RangeError('no samples');
  const sorted = [...samples].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  const median = sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
  const min = sorted[0]!;
  const max = sorted[sorted.length - 1]!;
  return { samples, median, min, max, spread: median > 0 ? (max - min) / median : 0 };
}
