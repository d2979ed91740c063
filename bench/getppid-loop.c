/* getppid-loop N [prctl]: makes N getppid system calls (never cached by libc), or with "prctl"
 * N prctl(PR_GET_DUMPABLE) calls, a call the workload filter inspects by argument. Exits 0. */
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

int main(int argc, char **argv) {
    long n = argc > 1 ? atol(argv[1]) : 1000000;
    int use_prctl = argc > 2 && strcmp(argv[2], "prctl") == 0;
    for (long i = 0; i < n; i++) {
        if (use_prctl) {
            syscall(SYS_prctl, PR_GET_DUMPABLE, 0, 0, 0, 0);
        } else {
            syscall(SYS_getppid);
        }
    }
    return 0;
}
