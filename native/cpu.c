/* The CPU's own description of itself: CPUID and XCR0. x86 only; elsewhere -ENOSYS. */
#include <errno.h>

#include "shims.h"

#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>

int hk_cpuid(uint32_t leaf, uint32_t subleaf, uint32_t out[4]) {
  /* __get_cpuid_max checks the leaf is within range for this CPU (basic or extended). */
  if (__get_cpuid_max(leaf & 0x80000000u, 0) < leaf) return -EINVAL;
  __cpuid_count(leaf, subleaf, out[0], out[1], out[2], out[3]);
  return 0;
}

int hk_xgetbv(uint32_t index, uint64_t *value) {
  uint32_t leaf1[4];
  /* XGETBV faults unless the OS enabled XSAVE (CPUID.1:ECX.OSXSAVE, bit 27). */
  if (hk_cpuid(1, 0, leaf1) < 0 || !(leaf1[2] & (1u << 27))) return -ENOSYS;
  uint32_t lo, hi;
  __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(index));
  *value = ((uint64_t)hi << 32) | lo;
  return 0;
}
#else
int hk_cpuid(uint32_t leaf, uint32_t subleaf, uint32_t out[4]) {
  (void)leaf, (void)subleaf, (void)out;
  return -ENOSYS;
}

int hk_xgetbv(uint32_t index, uint64_t *value) {
  (void)index, (void)value;
  return -ENOSYS;
}
#endif
