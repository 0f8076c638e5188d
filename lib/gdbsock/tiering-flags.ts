/**
 * The V8 flags gdbsock's command runs with once its modules are loaded
 * (jit-tiering.ts sets them; why, there). Kept apart from the module that
 * sets them so that the build (scripts/train-code-cache.js) and the tests can
 * read them without changing their own process's V8.
 */
export const TIERING_FLAGS = [
  '--always-sparkplug', // baseline code on first call instead of bytecode
  '--no-lazy-feedback-allocation', // collect type feedback from the first call
  '--interrupt-budget=20000', // consider optimizing after ~20 KB of bytecode ran, not ~66 KB (2000: see jit-tiering.ts)
  '--ticks-before-optimization=1',
  '--minimum-invocations-after-ic-update=20',
];
