/**
 * hostkit/coredump. The entry point exists so that the package's exports are stable;
 * its features arrive with their own issues. Until then it re-exports the
 * shared bridge it is built on.
 */
export { SystemError } from '../errors';
