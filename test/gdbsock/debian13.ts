/**
 * gdb 16.3 and gdbserver 16.3, Debian 13's, for the tests that hold gdbsock to
 * a newer gdb than the host's. On Debian 13 they are the host's own. Elsewhere
 * they come from a Debian 13 tree that scripts/debian13-root.sh builds
 * (.ci/run does), and run without chroot through the tree's own loader and
 * libraries, gdb with the tree's Python and data directory. A missing tree
 * fails the test: it is never skipped.
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { type GdbTools, HOST_TOOLS } from './gdb';

/** Where .ci/run puts the tree; HOSTKIT_DEBIAN13 names another. */
export const DEBIAN13_ROOT = process.env.HOSTKIT_DEBIAN13 ?? '/var/cache/hostkit/debian13';

/** The host's VERSION_ID from os-release(5), '' if none. */
function hostDebianVersion(): string {
  try {
    const text = fs.readFileSync('/etc/os-release', 'utf8');
    const id = /^ID=(.*)$/m.exec(text)?.[1]?.replace(/"/g, '');
    return id === 'debian' ? (/^VERSION_ID="?(\d+)"?$/m.exec(text)?.[1] ?? '') : '';
  } catch {
    return '';
  }
}

/** The tree's tools as command lines through its loader. */
export function treeTools(root: string): GdbTools {
  const loader = path.join(root, 'lib64', 'ld-linux-x86-64.so.2');
  const libraries = ['lib/x86_64-linux-gnu', 'usr/lib/x86_64-linux-gnu'].map((d) => path.join(root, d)).join(':');
  for (const file of [loader, path.join(root, 'usr/bin/gdb'), path.join(root, 'usr/bin/gdbserver')]) {
    if (!fs.existsSync(file)) {
      throw new Error(`${file} is missing: the Debian 13 tree at ${root} is not built; run scripts/debian13-root.sh ${root} (.ci/run does)`);
    }
  }
  return {
    gdb: [loader, '--library-path', libraries, path.join(root, 'usr/bin/gdb'), '-data-directory', path.join(root, 'usr/share/gdb')],
    gdbserver: [loader, '--library-path', libraries, path.join(root, 'usr/bin/gdbserver')],
    gdbEnv: { PYTHONHOME: path.join(root, 'usr') },
  };
}

/** gdb 16 and its gdbserver: the host's on Debian 13, else the tree's (which must be there). */
export function debian13Tools(): GdbTools {
  return hostDebianVersion() === '13' ? HOST_TOOLS : treeTools(DEBIAN13_ROOT);
}

/** `gdb --version`'s first line through `tools`, e.g. "GNU gdb (Debian 16.3-1) 16.3". */
export function gdbVersion(tools: GdbTools): string {
  const env = { ...process.env, ...tools.gdbEnv };
  return execFileSync(tools.gdb[0]!, [...tools.gdb.slice(1), '--version'], { encoding: 'utf8', env }).split('\n')[0]!;
}
