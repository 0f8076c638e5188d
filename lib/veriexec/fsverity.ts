/**
 * Whether a filesystem has fs-verity: FS_IOC_MEASURE_VERITY on a directory
 * of it answers ENODATA where the filesystem supports verity (the directory
 * just is not a verity file), and EOPNOTSUPP or ENOTTY where the kernel or
 * the filesystem lacks it (ext4 without the verity feature, a kernel without
 * CONFIG_FS_VERITY, a filesystem with no such ioctl).
 */
import fs from 'node:fs';
import { addon } from '../native';

/** _IOWR('f', 134, struct fsverity_digest): the struct's 4-byte head is in the number. */
const FS_IOC_MEASURE_VERITY = (3 << 30) | (4 << 16) | (0x66 << 8) | 134;
/** The filesystem types that can have fs-verity. */
export const VERITY_TYPES = new Set(['ext4', 'f2fs', 'btrfs']);

export type VerityState = 'supported' | 'unsupported' | 'unknown';

/** What the kernel answers for one mount point. */
export function verityOf(mountPoint: string): { state: VerityState; errno: string } {
  let fd: number;
  try {
    fd = fs.openSync(mountPoint, fs.constants.O_RDONLY | fs.constants.O_NONBLOCK | fs.constants.O_DIRECTORY);
  } catch (err) {
    return { state: 'unknown', errno: (err as NodeJS.ErrnoException).code ?? 'error' };
  }
  try {
    const digest = Buffer.alloc(8); // digest_algorithm, digest_size 0: the kernel checks verity before size
    addon.ioctlBuffer(fd, FS_IOC_MEASURE_VERITY, digest, 'FS_IOC_MEASURE_VERITY');
    return { state: 'supported', errno: '' };
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? 'error';
    // ENODATA: not a verity file, on a filesystem that has verity; EOVERFLOW: a verity file, digest too small.
    if (code === 'ENODATA' || code === 'EOVERFLOW') return { state: 'supported', errno: code };
    if (code === 'EOPNOTSUPP' || code === 'ENOTTY' || code === 'ENOTSUP') return { state: 'unsupported', errno: code };
    return { state: 'unknown', errno: code };
  } finally {
    fs.closeSync(fd);
  }
}
