/**
 * What this host's CPU says of its XSAVE state: XCR0 from XGETBV and each
 * component's place from CPUID leaf 0xD. The ptrace regset NT_X86_XSTATE
 * uses exactly these offsets (the kernel copies its buffer out in the
 * standard format the CPU defines), so this is the layout of every live
 * thread's image on this machine.
 */
import { addon } from '../native';
import { type XsaveLayout, cpuidXsaveLayout } from './arch/xsave';

const XSAVE_LEAF = 0xd;

let host: XsaveLayout | null | undefined;

/**
 * The host's XSAVE layout, or null on a CPU without XSAVE (or not x86). The
 * kernel's NT_X86_XSTATE images hold every user component XCR0 enables (it
 * writes its largest user image, fpu_user_cfg.max_size, whatever the thread
 * used), so this is every live thread's layout.
 */
export function hostXsaveLayout(): XsaveLayout | null {
  if (host === undefined) {
    const xcr0 = addon.xgetbv(0);
    host = xcr0 === null ? null : cpuidXsaveLayout(xcr0, (i) => addon.cpuid(XSAVE_LEAF, i));
  }
  return host;
}
