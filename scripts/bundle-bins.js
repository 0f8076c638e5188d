#!/usr/bin/env node
// node scripts/bundle-bins.js [ROOT]: after `tsc -p tsconfig.json`, turns each bin
// package.json names (dist/gdbsock/cli.js, ...) into one file holding every
// module of dist/ it can require, and makes it executable (0755).
//
// Why: Node's CommonJS loader costs about a millisecond per module (resolving,
// stat calls, reading, compiling a wrapper), and gdbsock's command line loads
// some eighty of them; gdb's testsuite starts gdbsock at every test. One file
// read and one compile instead.
//
// Why by hand and not esbuild: tsc already emits CommonJS, so bundling is only
// wrapping each emitted file in the function Node itself would wrap it in and
// resolving the relative require() strings tsc writes. This keeps the
// semantics exactly (load order, cycles, lazy requires stay lazy, each module's
// own __dirname and __filename), needs no new dependency, and ~100 lines is
// less to trust than a bundler's rewriting. Anything not bundled (node:
// modules, packages in node_modules, a computed path) goes to Node's require
// from the module's original place.
//
// The unbundled tree stays as tsc left it; only the bin files are replaced.
// A later `tsc` run puts the plain entry back, which works the same, slower.
'use strict';
const fs = require('node:fs');
const path = require('node:path');
const vm = require('node:vm');

// ROOT: another copy of the package (package.json and dist/), e.g. a build kept for a before/after benchmark.
const root = path.resolve(process.argv[2] ?? path.join(__dirname, '..'));
const dist = path.join(root, 'dist');
const RELATIVE_REQUIRE = /\brequire\((['"])(\.{1,2}\/[^'"]*)\1\)/g;
const BUNDLE_MARK = '// hostkit bundle: ';

/** The file Node would load for `request` made from `fromFile`, if it is a .js file in dist/. */
function resolveInDist(request, fromFile) {
  const base = path.resolve(path.dirname(fromFile), request);
  for (const candidate of [base, `${base}.js`, path.join(base, 'index.js')]) {
    if (candidate.startsWith(`${dist}${path.sep}`) && candidate.endsWith('.js') && fs.statSync(candidate, { throwIfNoEntry: false })?.isFile()) {
      return candidate;
    }
  }
  return undefined;
}

/** Every module `entry` can reach through literal relative requires, entry first: [file, source, {request: file}]. */
function collect(entry) {
  const modules = new Map();
  const pending = [entry];
  while (pending.length > 0) {
    const file = pending.shift();
    if (modules.has(file)) continue;
    const source = fs
      .readFileSync(file, 'utf8')
      .replace(/^#!.*\n/, '')
      .replace(/\n\/\/# sourceMappingURL=.*\s*$/, '\n');
    if (source.includes(BUNDLE_MARK)) throw new Error(`${file} is already a bundle: run tsc -p tsconfig.json first`);
    const links = {};
    for (const [, , request] of source.matchAll(RELATIVE_REQUIRE)) {
      const target = resolveInDist(request, file);
      if (target === undefined) continue; // left to Node's require at run time
      links[request] = path.relative(dist, target);
      pending.push(target);
    }
    modules.set(file, { source, links });
  }
  return modules;
}

/**
 * The bundle's text: one function expression, `(require, here) => void`, that
 * holds a table of module functions and a small require serving them, and
 * loads the entry. Each module function is wrapped in parentheses, which V8
 * takes as a sign to compile it at once: the build-time code cache then holds
 * every module's body, not only the outer function.
 */
function bundle(entry) {
  const modules = collect(entry);
  const parts = [
    `${BUNDLE_MARK}${path.relative(dist, entry)} and the ${modules.size - 1} modules it can require, made by scripts/bundle-bins.js from tsc's output.`,
    '(function (require, here) {',
    "'use strict';",
    "const { createRequire, isBuiltin } = require('node:module');",
    "const { join } = require('node:path');",
    // Where dist/ is at run time: the bundle sits where its entry did.
    `const dist = join(here, ${JSON.stringify(path.relative(path.dirname(entry), dist) || '.')});`,
    'const modules = {',
  ];
  for (const [file, { source, links }] of modules) {
    const id = path.relative(dist, file);
    parts.push(`${JSON.stringify(id)}: [${JSON.stringify(links)}, (function (exports, require, module, __filename, __dirname) {\n${source}})],`);
  }
  parts.push(
    '};',
    'const loaded = {};',
    'function load(id) {',
    '  const found = loaded[id];',
    '  if (found !== undefined) return found.exports;',
    '  const [links, body] = modules[id];',
    '  const filename = join(dist, id);',
    '  const module = { id: filename, filename, exports: {}, loaded: false };',
    '  loaded[id] = module;',
    '  let fallback;',
    '  const moduleRequire = (request) => {',
    '    const linked = links[request];',
    '    if (linked !== undefined) return load(linked);',
    '    if (isBuiltin(request)) return require(request);',
    '    fallback ??= createRequire(filename);',
    '    return fallback(request);',
    '  };',
    '  body.call(module.exports, module.exports, moduleRequire, module, filename, join(filename, ".."));',
    '  module.loaded = true;',
    '  return module.exports;',
    '}',
    `load(${JSON.stringify(path.relative(dist, entry))});`,
    '})',
    '',
  );
  return ascii(parts.join('\n'));
}

/**
 * `text` with every character past ASCII written as a \u escape. tsc's output
 * has them in comments (an ellipsis or an arrow), where the escape is only
 * text, and may have them in string, template and regular-expression
 * literals, where it means the same character. An ASCII source is one byte
 * a character in V8, and reading it skips UTF-8 decoding: 2-3 ms of every
 * start for gdbsock's 900 KB.
 */
function ascii(text) {
  return text.replace(/[\u0080-\uffff]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

/**
 * The bin's first two lines, read by /bin/sh and by Node alike. To the shell
 * the second line is `:` (which ignores its arguments), then a command that
 * sets NODE_EXTRA_CA_CERTS aside and runs Node on this same file; to Node it
 * is a string and a comment (Node skips the #! line).
 *
 * Why: Node 20 reads and parses the certificates NODE_EXTRA_CA_CERTS names,
 * with its own bundled roots, before running any JavaScript (src/node.cc,
 * crypto::UseExtraCaCerts); about 40 ms of a 65 ms start where the variable
 * is set, as it is on machines behind a TLS-inspecting proxy. No hostkit
 * command speaks TLS. The value travels in HOSTKIT_NODE_EXTRA_CA_CERTS and
 * the stub puts it back first thing, so the programs a command starts (the
 * one gdbsock debugs above all) get the environment the command was given.
 * `${VAR+set}` tells unset from empty. The shell costs what `env` did.
 */
const SHELL_PROLOGUE = [
  '#!/bin/sh',
  `':' //; if [ "\${NODE_EXTRA_CA_CERTS+set}" ]; then export HOSTKIT_NODE_EXTRA_CA_CERTS="$NODE_EXTRA_CA_CERTS"; unset NODE_EXTRA_CA_CERTS; else unset HOSTKIT_NODE_EXTRA_CA_CERTS; fi; exec node -- "$0" "$@"`,
];

/**
 * The bin itself: compiles the bundle beside it with V8's code cache made at
 * build time (node:vm's cachedData). V8 checks the cache against its own
 * version, its flags and the source, and compiles from scratch when any differs
 * (another Node, NODE_OPTIONS with V8 flags, a cache missing): slower, never wrong.
 * The bundle is ASCII (see `ascii`), read as latin1: a one-byte string, with
 * no UTF-8 decoding.
 */
function stub(bundleName, cacheName) {
  return [
    ...SHELL_PROLOGUE,
    `${BUNDLE_MARK}the bin; the program is ${bundleName}, made by scripts/bundle-bins.js from tsc's output.`,
    "'use strict';",
    'const setAside = process.env.HOSTKIT_NODE_EXTRA_CA_CERTS;',
    'if (setAside !== undefined) {',
    '  process.env.NODE_EXTRA_CA_CERTS = setAside;',
    '  delete process.env.HOSTKIT_NODE_EXTRA_CA_CERTS;',
    '}',
    "const { readFileSync } = require('node:fs');",
    "const { Script } = require('node:vm');",
    `const file = \`\${__dirname}/${bundleName}\`;`,
    'let cachedData;',
    'try {',
    `  cachedData = readFileSync(\`\${__dirname}/${cacheName}\`);`,
    '} catch {}',
    'const script = new Script(readFileSync(file, "latin1"), { filename: file, cachedData });',
    // scripts/train-code-cache.js runs the bin with this set: at exit it writes the code cache of
    // everything this run compiled, with V8's flags put back as they were when the bundle was compiled.
    'const training = process.env.HOSTKIT_CODE_CACHE_TRAINING;',
    'delete process.env.HOSTKIT_CODE_CACHE_TRAINING;',
    'if (training) {',
    '  const { out, flags } = JSON.parse(training);',
    '  process.on("exit", () => {',
    '    for (const flag of flags) require("node:v8").setFlagsFromString(flag);',
    '    require("node:fs").writeFileSync(out, script.createCachedData());',
    '  });',
    '}',
    'script.runInThisContext()(require, __dirname);',
    '',
  ].join('\n');
}

/** Writes beside and renames over, so a reader never sees half a file. */
function writeWhole(file, data, mode) {
  const temporary = `${file}.${process.pid}.tmp`;
  fs.writeFileSync(temporary, data, { mode });
  fs.chmodSync(temporary, mode); // whatever the umask
  fs.renameSync(temporary, file);
}

function main() {
  const { bin } = JSON.parse(fs.readFileSync(path.join(root, 'package.json'), 'utf8'));
  for (const [name, relative] of Object.entries(bin)) {
    const entry = path.join(root, relative);
    const base = path.basename(entry, '.js');
    const bundleFile = path.join(path.dirname(entry), `${base}.bundle.js`);
    const cacheFile = path.join(path.dirname(entry), `${base}.bundle.cache`);
    const text = bundle(entry);
    const cache = new vm.Script(text, { filename: bundleFile }).createCachedData();
    writeWhole(bundleFile, text, 0o644);
    writeWhole(cacheFile, cache, 0o644);
    writeWhole(entry, stub(path.basename(bundleFile), path.basename(cacheFile)), 0o755);
    // A cache trained before (scripts/train-code-cache.js) is gone with this one: so is its mark.
    fs.rmSync(path.join(path.dirname(entry), `${base}.bundle.trained`), { force: true });
    process.stdout.write(
      `bundle-bins: ${name} -> ${relative} (${path.basename(bundleFile)} ${Math.round(text.length / 1024)} KB, code cache ${Math.round(cache.length / 1024)} KB)\n`,
    );
  }
}

main();
