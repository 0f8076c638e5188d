/**
 * The CPU's XSAVE state components and where each sits (CPUID leaf 0xD):
 * the layout of every live thread's NT_X86_XSTATE image here, which gdbsock
 * and the core engine read registers from. AMD and Intel place AVX-512's
 * components differently; gdb and gdbserver 13 assume Intel's.
 */
import { addon } from '../../native';
import { Xfeature } from '../../ptrace/arch/xsave';
import { hostXsaveLayout } from '../../ptrace/cpu';
import type { Finding } from './finding';

const NAMES = new Map<number, string>(Object.entries(Xfeature).map(([name, n]) => [n, name.toLowerCase()]));

function vendor(): string {
  const leaf0 = addon.cpuid(0, 0);
  if (!leaf0) return 'not x86';
  const b = Buffer.alloc(12);
  b.writeUInt32LE(leaf0[1]!, 0);
  b.writeUInt32LE(leaf0[3]!, 4);
  b.writeUInt32LE(leaf0[2]!, 8);
  return b.toString('latin1');
}

export function probeXsave(): Finding {
  const layout = hostXsaveLayout();
  const cpu = vendor();
  if (!layout) {
    return {
      facility: 'XSAVE',
      state: 'info',
      detail: `${cpu}: no XSAVE (only the legacy x87/SSE area in register images)`,
      neededBy: 'gdbsock and ELF cores (vector registers)',
      facts: { vendor: cpu, xcr0: null, components: [] },
    };
  }
  const parts = layout.components.map((c) => `${NAMES.get(c.feature) ?? `#${c.feature}`}@0x${c.offset.toString(16)}+${c.size}`);
  const intelOpmask = 0x440;
  const opmask = layout.components.find((c) => c.feature === Xfeature.OPMASK);
  const differs = opmask !== undefined && opmask.offset !== intelOpmask;
  return {
    facility: 'XSAVE',
    state: 'info',
    detail: `${cpu}, XCR0 0x${layout.xcr0.toString(16)}, ${layout.size} bytes: ${parts.join(' ')}${differs ? "; AVX-512 is not at Intel's offsets (gdb/gdbserver 13 misread it; gdbsock reads CPUID)" : ''}`,
    neededBy: 'gdbsock and ELF cores (vector registers)',
    facts: {
      vendor: cpu,
      xcr0: `0x${layout.xcr0.toString(16)}`,
      size: layout.size,
      components: layout.components.map((c) => ({ name: NAMES.get(c.feature) ?? null, feature: c.feature, offset: c.offset, size: c.size })),
      intelOffsets: !differs,
    },
  };
}
