/**
 * The check forkexec's launcher makes before its one allowed exec
 * (`--verify FILE`): the program (and its interpreter, the dynamic loader
 * or a script's #! program) must be listed to be executed and match its
 * fingerprint. The program is opened once and fingerprinted through that
 * descriptor; an ELF program is then executed from the same descriptor
 * (execveat), so the file checked is the file run. A script cannot be run
 * from a close-on-exec descriptor (its interpreter opens it again by name):
 * it is run by path, and a change between the check and the interpreter's
 * read is not caught — as with every exec-time check of scripts.
 */
import fs from 'node:fs';
import { HostkitError } from '../errors';
import { interpreterOf } from '../exec-files';
import { fingerprintFd } from './fingerprint';
import type { VeriexecTable } from './table';

/** A program refused by the table: `path` names the file and `reason` says why. */
export class VerifyError extends HostkitError {
  constructor(
    readonly path: string,
    readonly reason: string,
  ) {
    super('ERR_HOSTKIT_VERIEXEC_DENIED', `veriexec: ${path}: ${reason}`);
  }
}

export interface VerifiedProgram {
  /** Open, read-only, close-on-exec; the caller closes it. */
  fd: number;
  /** Whether the child may exec the descriptor itself (an ELF program; not a script). */
  execByFd: boolean;
  /** Every file checked: the program, then its interpreter. */
  checked: string[];
}

/** Opens and verifies `file` (resolved through symlinks, as exec does) and its interpreter; throws VerifyError. */
export function verifyProgram(table: VeriexecTable, file: string): VerifiedProgram {
  const real = fs.realpathSync(file);
  const fd = fs.openSync(real, fs.constants.O_RDONLY);
  try {
    const head = Buffer.alloc(2);
    fs.readSync(fd, head, 0, 2, 0);
    const script = head.toString('latin1') === '#!';
    checkOpen(table, real, fd);
    const checked = [real];
    const interpreter = interpreterOf(real);
    if (interpreter) {
      const realInterpreter = fs.realpathSync(interpreter);
      const ifd = fs.openSync(realInterpreter, fs.constants.O_RDONLY);
      try {
        checkOpen(table, realInterpreter, ifd);
      } finally {
        fs.closeSync(ifd);
      }
      checked.push(realInterpreter);
    }
    return { fd, execByFd: !script, checked };
  } catch (err) {
    fs.closeSync(fd);
    throw err;
  }
}

function checkOpen(table: VeriexecTable, real: string, fd: number): void {
  const entry = table.get(real);
  if (!entry) throw new VerifyError(real, `not in ${table.file}`);
  if (!entry.flags.has('direct') && !entry.flags.has('indirect')) throw new VerifyError(real, 'listed without direct or indirect: not to be executed');
  const found = fingerprintFd(fd, entry.algorithm);
  if (found.size !== entry.size) throw new VerifyError(real, `size ${found.size} differs from the table's ${entry.size}`);
  if (found.digest !== entry.digest) throw new VerifyError(real, `fingerprint mismatch (${entry.algorithm} ${found.digest})`);
}
