import { aarch64 } from './aarch64';
import type { ArchLayout } from './layout';
import { x86_64 } from './x86_64';

export type { ArchLayout } from './layout';
export { decodeWords, encodeWords } from './layout';
export { x86_64, decodeFxsave, encodeXmm, type X86FpRegisters } from './x86_64';
export { aarch64, decodeFpsimd, type Aarch64FpRegisters } from './aarch64';

const BY_NODE_ARCH: Record<string, ArchLayout> = { x64: x86_64, arm64: aarch64 };

/** The layout of the machine hostkit runs on (tracer and tracee share it). */
export function hostArch(): ArchLayout {
  const layout = BY_NODE_ARCH[process.arch];
  if (!layout) throw new Error(`hostkit's ptrace bridge does not support ${process.arch}`);
  return layout;
}
