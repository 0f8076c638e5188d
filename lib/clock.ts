/**
 * Milliseconds on the monotonic clock (CLOCK_MONOTONIC, as performance.now()
 * reads it, from another origin): for deadlines and time budgets.
 *
 * Not performance.now(): `performance` is a lazy global in Node 20, and its
 * first use loads perf_hooks (about 0.8 ms), which the gdbsock command would
 * pay at start-up, reaping the program it launched.
 */
export function monotonicMs(): number {
  const [seconds, nanoseconds] = process.hrtime(); // about 50 ns a call, as performance.now(); hrtime.bigint() 70
  return seconds * 1e3 + nanoseconds / 1e6;
}
