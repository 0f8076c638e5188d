/**
 * fs-verity on each mounted filesystem that can have it (ext4, f2fs, btrfs):
 * FS_IOC_MEASURE_VERITY on the mount point answers ENODATA where the
 * filesystem supports verity (the directory just is not a verity file), and
 * EOPNOTSUPP where the kernel or the filesystem lacks it (ext4 without the
 * verity feature, a kernel without CONFIG_FS_VERITY). Other types have no
 * such ioctl.
 */
import { VERITY_TYPES, verityOf } from '../../veriexec/fsverity';
import type { Finding } from './finding';
import { type Mount, mounts } from '../../procfs';

export function probeFsVerity(all: Mount[] = mounts()): Finding[] {
  const candidates = all.filter((m) => VERITY_TYPES.has(m.type));
  const seen = new Set<string>();
  const findings: Finding[] = [];
  for (const m of candidates) {
    if (seen.has(m.source)) continue; // one line per filesystem, not per bind mount
    seen.add(m.source);
    const { state, errno } = verityOf(m.mountPoint);
    findings.push({
      facility: `fs-verity ${m.mountPoint}`,
      state: state === 'supported' ? 'ok' : state === 'unsupported' ? 'missing' : 'limited',
      detail: `${m.type} on ${m.source}: ${state === 'supported' ? 'verity files can be made here' : state === 'unsupported' ? `no fs-verity (FS_IOC_MEASURE_VERITY: ${errno})` : `could not ask (${errno})`}`,
      neededBy: "veriexec (uses the kernel's per-page digests where they exist, else its own FUSE mount)",
      fix:
        state === 'supported'
          ? undefined
          : m.type === 'ext4'
            ? `a kernel with CONFIG_FS_VERITY, then tune2fs -O verity ${m.source}`
            : 'a kernel with CONFIG_FS_VERITY',
      facts: { mountPoint: m.mountPoint, type: m.type, source: m.source, verity: state, errno: errno || null },
    });
  }
  if (findings.length === 0) {
    findings.push({
      facility: 'fs-verity',
      state: 'missing',
      detail: `no mounted ${[...VERITY_TYPES].join(', ')} filesystem (the others have no fs-verity)`,
      neededBy: "veriexec (uses the kernel's per-page digests where they exist, else its own FUSE mount)",
      fix: 'keep verified programs on ext4, f2fs or btrfs with fs-verity enabled',
      facts: { verity: 'unsupported' },
    });
  }
  return findings;
}
