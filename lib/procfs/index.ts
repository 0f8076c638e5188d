/**
 * Typed readers for /proc/PID. Every reader throws SystemError; a process
 * that is gone gives ESRCH rather than ENOENT.
 */
export { maps, parseMaps, type Mapping } from './maps';
export { mappingAt, type MappingSpan } from './mapping-query';
export { stat, parseStat, type Stat } from './stat';
export { status, parseStatus, type Status } from './status';
export { auxv, parseAuxv, AuxvType, type Auxv, type AuxvEntry } from './auxv';
export { tasks, exe, cwd, cmdline, environ, comm, fds, type OpenFile } from './process';
export { pidfdInfo, peerPidfd, PidfdInfoMask, CoredumpMask, type PidfdInfo } from './pidfd';
export { mounts, mountOf, type Mount } from './mounts';
