'use strict';
// Builds a benchmark's C helper once into build/bench/ (gcc -O2).
const { execFileSync } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');

const root = path.join(__dirname, '..', '..');

/** `source`: a C file elsewhere (a test fixture) to build under `name`. */
exports.compile = function compile(name, extraFlags = [], source = path.join(__dirname, `${name}.c`)) {
  const outDir = path.join(root, 'build', 'bench');
  const binary = path.join(outDir, name);
  fs.mkdirSync(outDir, { recursive: true });
  if (!fs.existsSync(binary) || fs.statSync(binary).mtimeMs < fs.statSync(source).mtimeMs) {
    execFileSync('gcc', ['-O2', '-Wall', '-o', binary, source, ...extraFlags], { stdio: 'inherit' });
  }
  return binary;
};

exports.median = function median(values) {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)];
};

/** The value below which a share `p` (0-1) of `values` lies. */
exports.percentile = function percentile(values, p) {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))];
};
