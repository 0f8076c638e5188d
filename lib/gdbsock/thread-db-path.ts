/**
 * gdbserver's libthread_db search path (`monitor set libthread-db-search-path
 * [PATH]`, gdbserver/thread-db.cc): a colon-separated list of directories,
 * `$sdir` (the system's own search for libthread_db.so.1) and `$pdir` (the
 * directory of the program's libpthread or libc). gdbsock needs no
 * libthread_db (tls.ts reads glibc's structures itself), but where gdbserver
 * would find none, it has no thread-local addresses either: gdb's
 * gdb.server/no-thread-db.exp counts on that.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';

/** gdbserver's default (gdb/nat/gdb_thread_db.h, LIBTHREAD_DB_SEARCH_PATH), also what an empty PATH sets. */
export const DEFAULT_THREAD_DB_SEARCH_PATH = '$sdir:$pdir';
const LIBTHREAD_DB = 'libthread_db.so.1';

export interface ThreadDbSettings {
  searchPath: string;
}

export function defaultThreadDbSettings(): ThreadDbSettings {
  return { searchPath: DEFAULT_THREAD_DB_SEARCH_PATH };
}

/** Whether the search path would find a libthread_db: `$sdir`, `$pdir`, or a directory that holds one. */
export function threadDbReachable(settings: ThreadDbSettings): boolean {
  return settings.searchPath.split(':').some((dir) => {
    if (dir === '$sdir' || dir === '$pdir' || dir.startsWith('$pdir/')) return true;
    return dir !== '' && fs.existsSync(path.join(dir, LIBTHREAD_DB));
  });
}
