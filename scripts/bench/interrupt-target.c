/* gdbsock-interrupt's program: sleeps 10 ms at a time for ever, as
 * gdb.base/bg-execution-repeat.c waits to be told to go on. */
#include <unistd.h>

int main(void) {
  for (;;) usleep(10 * 1000);
}
