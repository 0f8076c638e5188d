/* Landlock rulesets that allow execution only beneath given paths
 * (Documentation/userspace-api/landlock.rst). The ruleset is applied by the
 * launcher's child just before its exec, when it is single-threaded:
 * landlock_restrict_self() restricts only the calling thread. */
#include <errno.h>
#include <fcntl.h>
#include <linux/landlock.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "forkexec.h"

int hk_landlock_abi(void) {
  long abi = syscall(SYS_landlock_create_ruleset, NULL, 0, LANDLOCK_CREATE_RULESET_VERSION);
  return abi < 0 ? -errno : (int)abi;
}

int hk_landlock_exec_ruleset(const char *const *paths, size_t count, int *failed_path, const char **failed) {
  *failed_path = -1;
  *failed = "landlock_create_ruleset";
  struct landlock_ruleset_attr attr = {.handled_access_fs = LANDLOCK_ACCESS_FS_EXECUTE};
  int ruleset = (int)syscall(SYS_landlock_create_ruleset, &attr, sizeof attr, 0);
  if (ruleset < 0) return -errno;
  for (size_t i = 0; i < count; i++) {
    int fd = open(paths[i], O_PATH | O_CLOEXEC);
    if (fd < 0) {
      int e = errno;
      close(ruleset);
      *failed_path = (int)i;
      *failed = "open(O_PATH) for landlock_add_rule";
      return -e;
    }
    struct landlock_path_beneath_attr rule = {.allowed_access = LANDLOCK_ACCESS_FS_EXECUTE, .parent_fd = fd};
    long rc = syscall(SYS_landlock_add_rule, ruleset, LANDLOCK_RULE_PATH_BENEATH, &rule, 0);
    int e = errno;
    close(fd);
    if (rc < 0) {
      close(ruleset);
      *failed_path = (int)i;
      *failed = "landlock_add_rule";
      return -e;
    }
  }
  return ruleset;
}
