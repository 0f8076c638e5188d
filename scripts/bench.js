#!/usr/bin/env node
// npm run bench -- NAME [options]: runs scripts/bench/NAME.js, which measures
// hostkit and its anchor side by side in one run and prints ratios.
'use strict';
const fs = require('node:fs');
const path = require('node:path');

const [name, ...rest] = process.argv.slice(2);
const available = fs
  .readdirSync(path.join(__dirname, 'bench'))
  .filter((f) => f.endsWith('.js') && fs.readFileSync(path.join(__dirname, 'bench', f), 'utf8').includes('// npm run bench -- '))
  .map((f) => path.basename(f, '.js'));
if (!name || !available.includes(name)) {
  process.stderr.write(`usage: npm run bench -- NAME [options]\nbenchmarks: ${available.join(', ')}\n`);
  process.exit(2);
}
require(path.join(__dirname, 'bench', `${name}.js`))
  .main(rest)
  .catch((err) => {
    process.stderr.write(`${err.stack || err}\n`);
    process.exit(1);
  });
