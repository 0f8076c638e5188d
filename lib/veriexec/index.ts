/**
 * hostkit/veriexec: only verified programs and libraries run. Fingerprints
 * (whole files and 4 KiB pages) in a signatures file a person can read,
 * checked offline, at exec and open time (fanotify), and page by page as a
 * program runs from a verifying mount (FUSE).
 */
export { type CheckResult, type CheckStatus, checkAll, checkFile } from './check';
export { type Kind, classify, flagsOf } from './classify';
export { ALGORITHMS, type Algorithm, type Fingerprint, PAGE_SIZE, fingerprintFd, fingerprintFile, pageRoot } from './fingerprint';
export { type GenOptions, type GenReport, generate } from './gen';
export { type Entry, type Flag, FLAGS, SignaturesError, formatSignatures, parseSignatures, readSignatures } from './signatures';
export { VeriexecTable } from './table';
export { type AccessEvent, DENY_ERRNOS, type DenyErrno, type EventKind, type Mark, type Verdict } from './fanotify';
export { type DecisionRecord, type Decider, denialLine, type FailMode, Guard, type GuardOptions, type GuardRecord, type GuardStats, guard } from './guard';
export { LEVELS, type Level, tableDecider } from './policy';
export { detachMount, FSTYPE, type FilePages, type MountOptions, mountVerified, type PageVerifier, type VerifiedMount, type VerifyLog } from './fuse';
export { type PageVerifierOptions, tablePageVerifier } from './page-verifier';
export { type VerifiedProgram, VerifyError, verifyProgram } from './verify-program';
export { type VerityState, verityOf } from './fsverity';
