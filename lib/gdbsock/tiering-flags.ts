/**
 * The V8 flags gdbsock's command runs with once its modules are loaded
 * (jit-tiering.ts sets them; why, there). Kept apart from the module that
 * sets them so that the build (scripts/train-code-cache.js) and the tests can
 * read them without changing their own process's V8.
 */
export const TIERING_FLAGS = [
  '--always-sparkplug', // baseline code on first call instead of bytecode
  '--no-lazy-feedback-allocation', // collect type feedback from the first call
  '--interrupt-budget=2000', // consider optimizing after ~2 KB of bytecode ran, not ~66 KB
  '--ticks-before-optimization=1',
  '--minimum-invocations-after-ic-update=20',
];
