/* syscall-loop CALL N: makes N calls of one system call and prints the mean time of one call in
 * nanoseconds: the process's CPU time around the loop alone (the program's start and exit are not
 * counted, nor time spent waiting for a CPU on a loaded machine).
 *
 * CALL is one of:
 *   getppid  no rule inspects it (and libc never caches it)
 *   ioctl    ioctl(-1, TCGETS): EBADF; not inspected by the filter
 *   prctl    prctl(PR_GET_DUMPABLE)
 *   socket   socket(AF_INET, 15, 0): the family and the type are inspected; the kernel answers
 *            EINVAL (type 15 does not exist) before it allocates anything
 *   clone    clone(CLONE_SIGHAND): the flags are inspected; the kernel answers EINVAL
 *            (CLONE_SIGHAND needs CLONE_VM) before it copies anything
 * Exits 0, or 2 on a usage error. */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sched.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/socket.h>
#include <sys/ioctl.h>
#include <time.h>
#include <unistd.h>

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return ts.tv_sec * 1e9 + ts.tv_nsec;
}

int main(int argc, char **argv) {
    if (argc != 3) {
        fprintf(stderr, "usage: syscall-loop getppid|ioctl|prctl|socket|clone N\n");
        return 2;
    }
    long n = atol(argv[2]);
    long nr, a0 = 0, a1 = 0;
    if (strcmp(argv[1], "getppid") == 0) {
        nr = SYS_getppid;
    } else if (strcmp(argv[1], "ioctl") == 0) {
        nr = SYS_ioctl, a0 = -1, a1 = TCGETS;
    } else if (strcmp(argv[1], "prctl") == 0) {
        nr = SYS_prctl, a0 = PR_GET_DUMPABLE;
    } else if (strcmp(argv[1], "socket") == 0) {
        nr = SYS_socket, a0 = AF_INET, a1 = 15;
    } else if (strcmp(argv[1], "clone") == 0) {
        nr = SYS_clone, a0 = CLONE_SIGHAND;
    } else {
        fprintf(stderr, "syscall-loop: unknown call %s\n", argv[1]);
        return 2;
    }
    double start = now();
    for (long i = 0; i < n; i++) {
        syscall(nr, a0, a1, 0, 0, 0);
    }
    printf("%.3f\n", (now() - start) / n);
    return 0;
}
