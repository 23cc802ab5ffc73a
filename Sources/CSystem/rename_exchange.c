// renameat2(2) reached through syscall(2): Swift cannot call the variadic syscall(), and glibc's
// renameat2 wrapper is not declared in every sysroot.
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <unistd.h>
#include "csystem.h"
#if defined(__linux__)
#include <sys/syscall.h>
#endif

int ckpt_rename_exchange(const char *a, const char *b) {
#if defined(__linux__) && defined(SYS_renameat2)
    return (int)syscall(SYS_renameat2, AT_FDCWD, a, AT_FDCWD, b, 2 /* RENAME_EXCHANGE */);
#else
    (void)a; (void)b;
    errno = ENOSYS;
    return -1;
#endif
}
