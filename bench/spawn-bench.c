/* spawn-bench RUNS WARMUP FILE CMDS: times commands side by side, interleaved.
 *
 * CMDS is a file with one command a line: a name, a tab, then the argv words separated by
 * spaces. Each round starts every command once, in order (after WARMUP untimed rounds), with
 * FILE opened read-only on descriptor 9 (bwrap --seccomp 9 reads its program there) and
 * stdin, stdout and stderr on /dev/null, and waits for it, like `hyperfine -N`: posix_spawn,
 * wait4, the monotonic clock around both. Prints one line a timed run: name, the wall time (until
 * the command itself has ended) and the CPU time (user and system) of the command and of every
 * process it started, in seconds, separated by tabs. spawn-bench is a subreaper, so a descendant
 * its parent did not wait for (bubblewrap leaves its namespace's init to the kernel) is waited
 * for, and counted, here.
 * A command that exits non-zero ends the benchmark with status 1. */
#define _GNU_SOURCE
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>

extern char **environ;

#define MAX_CMDS 32
#define MAX_ARGS 64

static char *names[MAX_CMDS];
static char *argvs[MAX_CMDS][MAX_ARGS + 1];

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

int main(int argc, char **argv) {
    if (argc != 5) {
        fprintf(stderr, "usage: spawn-bench RUNS WARMUP FILE CMDS\n");
        return 2;
    }
    int runs = atoi(argv[1]), warmup = atoi(argv[2]);
    const char *fd9 = argv[3];
    FILE *list = fopen(argv[4], "r");
    if (!list) {
        perror("spawn-bench: failed to open the command list");
        return 2;
    }
    int n = 0;
    char line[4096];
    while (n < MAX_CMDS && fgets(line, sizeof line, list)) {
        line[strcspn(line, "\n")] = 0;
        char *tab = strchr(line, '\t');
        if (!tab) continue;
        *tab = 0;
        names[n] = strdup(line);
        int a = 0;
        for (char *w = strtok(tab + 1, " "); w && a < MAX_ARGS; w = strtok(NULL, " ")) {
            argvs[n][a++] = strdup(w);
        }
        argvs[n][a] = NULL;
        n++;
    }
    fclose(list);

    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0);
    posix_spawn_file_actions_addopen(&actions, 2, "/dev/null", O_WRONLY, 0);
    posix_spawn_file_actions_addopen(&actions, 9, fd9, O_RDONLY, 0);

    if (prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) != 0) {
        perror("spawn-bench: failed to become a subreaper");
        return 1;
    }
    for (int round = 0; round < warmup + runs; round++) {
        for (int i = 0; i < n; i++) {
            pid_t pid;
            int status;
            double start = now();
            if (posix_spawn(&pid, argvs[i][0], &actions, NULL, argvs[i], environ) != 0) {
                fprintf(stderr, "spawn-bench: failed to start %s\n", names[i]);
                return 1;
            }
            struct rusage usage;
            if (wait4(pid, &status, 0, &usage) != pid) {
                perror("spawn-bench: failed to wait");
                return 1;
            }
            double took = now() - start;
            if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
                fprintf(stderr, "spawn-bench: %s ended with status %#x\n", names[i], status);
                return 1;
            }
            double cpu = usage.ru_utime.tv_sec + usage.ru_utime.tv_usec / 1e6 +
                         usage.ru_stime.tv_sec + usage.ru_stime.tv_usec / 1e6;
            /* Orphans of the command, reparented here: wait for them all. */
            int orphan_status;
            while (wait4(-1, &orphan_status, 0, &usage) > 0) {
                cpu += usage.ru_utime.tv_sec + usage.ru_utime.tv_usec / 1e6 +
                       usage.ru_stime.tv_sec + usage.ru_stime.tv_usec / 1e6;
            }
            if (round >= warmup) printf("%s\t%.9f\t%.6f\n", names[i], took, cpu);
        }
    }
    return 0;
}
