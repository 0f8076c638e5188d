#!/usr/bin/env node
// Compiles the C test inferiors in test/fixtures/ into test/fixtures/bin/.
// -no-pie keeps `nm` addresses equal to run-time addresses; -O1 -g keeps them debuggable.
'use strict';
const { execFileSync } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');

const dir = path.join(__dirname, '..', 'test', 'fixtures');
const out = path.join(dir, 'bin');
fs.mkdirSync(out, { recursive: true });

// Libraries first: a program whose source says `link: NAME` links bin/libNAME.so, found at run time beside it ($ORIGIN).
const sources = fs.readdirSync(dir).filter((f) => f.endsWith('.c'));
for (const file of [...sources.filter((f) => f.endsWith('.lib.c')), ...sources.filter((f) => !f.endsWith('.lib.c'))]) {
  const source = path.join(dir, file);
  // *.lib.c: a shared library, bin/libNAME.so, for tests that load C into Node with koffi.
  if (file.endsWith('.lib.c')) {
    const library = path.join(out, `lib${path.basename(file, '.lib.c')}.so`);
    if (fs.existsSync(library) && fs.statSync(library).mtimeMs >= fs.statSync(source).mtimeMs) continue;
    execFileSync('gcc', ['-O1', '-g', '-shared', '-fPIC', '-pthread', '-Wall', '-o', library, source], { stdio: 'inherit' });
    continue;
  }
  const pie = file.endsWith('.pie.c'); // *.pie.c: position-independent, named without ".pie"
  const linkedStatic = file.endsWith('.static.c'); // *.static.c: statically linked, named without ".static"
  const binary = path.join(out, path.basename(file, pie ? '.pie.c' : linkedStatic ? '.static.c' : '.c'));
  if (fs.existsSync(binary) && fs.statSync(binary).mtimeMs >= fs.statSync(source).mtimeMs) continue;
  const pieFlags = pie ? ['-pie', '-fPIE'] : linkedStatic ? ['-no-pie', '-static'] : ['-no-pie'];
  const links = [...fs.readFileSync(source, 'utf8').matchAll(/\blink: ([\w-]+)/g)].flatMap((m) => [`-L${out}`, `-l${m[1]}`, '-Wl,-rpath,$ORIGIN']);
  execFileSync('gcc', ['-O1', '-g', ...pieFlags, '-pthread', '-Wall', '-o', binary, source, ...links], { stdio: 'inherit' });
}
