/** A core (or ELF image) that is not what it claims: says what was wrong and at which file offset. */
export class CoreFormatError extends Error {
  readonly code = 'ERR_HOSTKIT_BAD_CORE';

  constructor(
    readonly offset: number,
    readonly reason: string,
  ) {
    super(`bad core at offset ${offset} (0x${offset.toString(16)}): ${reason}`);
    this.name = 'CoreFormatError';
  }
}

/** Part of a requested range is not in the core (not dumped, or not mapped at all). */
export class UnavailableMemoryError extends Error {
  readonly code = 'ERR_HOSTKIT_MEMORY_UNAVAILABLE';

  constructor(
    readonly address: bigint,
    readonly length: number,
    readonly firstMissing: bigint,
  ) {
    super(`memory at 0x${firstMissing.toString(16)} is not in the core (reading ${length} bytes at 0x${address.toString(16)})`);
    this.name = 'UnavailableMemoryError';
  }
}
