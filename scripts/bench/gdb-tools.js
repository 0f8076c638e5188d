'use strict';
// Which gdb and gdbserver a benchmark drives: the host's, or with --gdb16
// Debian 13's 16.3 (the host's on Debian 13, else the tree
// scripts/debian13-root.sh builds, run through the tree's own loader).
const fs = require('node:fs');
const path = require('node:path');

const DEBIAN13_ROOT = process.env.HOSTKIT_DEBIAN13 || '/var/cache/hostkit/debian13';
const HOST = { label: 'host', gdb: ['gdb'], gdbserver: ['gdbserver'], env: {} };

function hostIsDebian13() {
  try {
    return /^VERSION_ID="?13"?$/m.test(fs.readFileSync('/etc/os-release', 'utf8'));
  } catch {
    return false;
  }
}

/** Takes --gdb16 out of `args`; the tools to use. */
function gdbTools(args) {
  const i = args.indexOf('--gdb16');
  if (i < 0) return HOST;
  args.splice(i, 1);
  if (hostIsDebian13()) return { ...HOST, label: 'gdb 16.3 (host)' };
  const loader = path.join(DEBIAN13_ROOT, 'lib64', 'ld-linux-x86-64.so.2');
  if (!fs.existsSync(path.join(DEBIAN13_ROOT, 'usr/bin/gdbserver'))) {
    throw new Error(`no Debian 13 tree at ${DEBIAN13_ROOT}: run scripts/debian13-root.sh ${DEBIAN13_ROOT}`);
  }
  const libraries = ['lib/x86_64-linux-gnu', 'usr/lib/x86_64-linux-gnu'].map((d) => path.join(DEBIAN13_ROOT, d)).join(':');
  const through = (bin) => [loader, '--library-path', libraries, path.join(DEBIAN13_ROOT, bin)];
  return {
    label: `gdb 16.3 (${DEBIAN13_ROOT})`,
    gdb: [...through('usr/bin/gdb'), '-data-directory', path.join(DEBIAN13_ROOT, 'usr/share/gdb')],
    gdbserver: through('usr/bin/gdbserver'),
    env: { PYTHONHOME: path.join(DEBIAN13_ROOT, 'usr') },
  };
}

module.exports = { gdbTools, HOST };
