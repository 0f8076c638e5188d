/**
 * One counter for the order of things the tracer does to its tracees
 * (resuming a thread, removing a breakpoint): enough to tell whether a thread
 * was running while a breakpoint was still in memory.
 */
let last = 0;

/** A number larger than every one handed out before. */
export function nextSequence(): number {
  return ++last;
}
