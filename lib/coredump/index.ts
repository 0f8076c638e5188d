/**
 * hostkit/coredump: the ELF core engine. Read cores from files, buffers and
 * non-seekable streams; write them; take gcore-style snapshots of live
 * processes in one streaming pass.
 */
export { SystemError } from '../errors';
export { Core, type CoreThread } from './core';
export { CoreFile, openCore, readCoreFd, parseCoreBuffer, type ReadOptions } from './reader';
export { CoreMemory, type MemorySegment, type AvailableRange } from './memory';
export { CoreFormatError, UnavailableMemoryError } from './errors';
export { type BuildId, buildIdAt } from './build-id';
export { type Note, parseNotes, encodeNote } from './notes';
export type { ElfHeader, ProgramHeader } from './header';
export type { Prstatus, Prpsinfo, MappedFile } from './note-payloads';
export { type CoreArch, X86_64, AARCH64 } from './registers';
export { NoteType, PType, PFlag, Machine } from './elf';
export { snapshot, type SnapshotOptions, type SnapshotResult } from './snapshot';
export { writeCore, encodeCoreNotes, type CoreNotes, type ThreadNotes, type SegmentData } from './writer';
export { planLayout, type CoreLayout, type PlannedRange } from './layout';
export type { CoreOutput } from './sink';
export { Filter, DEFAULT_FILTER } from './filter';
export { readCoreStream, StreamedCore, type StreamReadOptions } from './stream-reader';
export { openStoredCore, installedStore, CRASH_ID, type StoredCrashCore } from './cored/stored-crash';
