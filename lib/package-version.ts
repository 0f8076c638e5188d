/**
 * hostkit's version, for the command lines' --version: read from the
 * package.json one level above this module (dist/ and lib/ both sit there).
 */
import fs from 'node:fs';
import path from 'node:path';

export function packageVersion(): string {
  const { version } = JSON.parse(fs.readFileSync(path.join(__dirname, '..', 'package.json'), 'utf8')) as { version: string };
  return version;
}
