/**
 * Where the kernel sends cores: core_pattern, core_pipe_limit, core_modes,
 * and which of them cored would install (the choice `cored install` makes).
 */
import fs from 'node:fs';
import { chooseMode, kernelCoreFacts } from '../../coredump/cored/core-modes';
import { type Finding, readSetting } from './finding';

const CORE_PATTERN = '/proc/sys/kernel/core_pattern';
const CORE_PIPE_LIMIT = '/proc/sys/kernel/core_pipe_limit';
const SUID_DUMPABLE = '/proc/sys/fs/suid_dumpable';

export function probeCoredump(): Finding {
  const pattern = readSetting(CORE_PATTERN);
  const pipeLimit = readSetting(CORE_PIPE_LIMIT);
  const suidDumpable = readSetting(SUID_DUMPABLE);
  const facts = kernelCoreFacts();
  const choice = chooseMode('auto', facts);
  const target = pattern === undefined ? 'unreadable' : pattern.startsWith('@') ? 'socket' : pattern.startsWith('|') ? 'pipe' : 'file';
  const writable = canWrite(CORE_PATTERN);
  const limited = target === 'pipe' && pipeLimit !== undefined && pipeLimit !== '0';
  return {
    facility: 'core dumps',
    state: pattern === undefined ? 'missing' : limited || !writable ? 'limited' : 'ok',
    detail:
      `core_pattern ${JSON.stringify(pattern ?? '?')} (${target}); core_pipe_limit ${pipeLimit ?? '?'}; ` +
      `core_modes ${facts.modes ? facts.modes.join(' ') : 'absent'}; cored would use ${choice.mode} mode${writable ? '' : '; core_pattern is not writable here'}`,
    neededBy: 'cored (the crash collector), ELF cores',
    fix: !writable
      ? 'cored install needs root in the initial namespace to set core_pattern'
      : limited
        ? `core_pipe_limit ${pipeLimit} makes the kernel skip dumps past that many at once: cored install sets 0`
        : undefined,
    facts: {
      corePattern: pattern ?? null,
      target,
      corePipeLimit: pipeLimit ?? null,
      coreModes: facts.modes ?? null,
      suidDumpable: suidDumpable ?? null,
      coredMode: choice.mode,
      coredWhy: choice.why,
      writable,
    },
  };
}

function canWrite(path: string): boolean {
  try {
    fs.accessSync(path, fs.constants.W_OK);
    return true;
  } catch {
    return false;
  }
}
