/**
 * hostkit/veriexec's per-page verifying filesystem: a read-only FUSE passthrough
 * of a directory, spoken to the kernel over /dev/fuse without libfuse, whose
 * every file page is checked against its fingerprint when the kernel loads it
 * (read(), and page faults of executed programs and their libraries).
 *
 *   const mount = await mountVerified({ source, mountpoint, verifier, log });
 *   ...
 *   await mount.unmount();
 */
export { detachMount, FSTYPE, type MountOptions, mountVerified, type VerifiedMount, type VerifiedMountStats } from './mount';
export type { ServerStats } from './operations';
export type { Negotiated } from './session';
export { type DeniedRecord, type FilePages, jsonLinesLog, type PageVerifier, type VerifyLog } from './verify';
