/*
 * Orphan-storm workload for bench/run.sh (the supervised child of the "orphan storm" scenario).
 *
 *   bench-orphans N READY_FIFO GO_FIFO
 *
 * Double-forks N grandchildren that block reading one pipe; every intermediate child exits
 * at once and is reaped here, so the grandchildren are re-parented to the init of the PID
 * namespace (the manager under test). Then it writes "ready\n" to READY_FIFO and waits for a
 * line on GO_FIFO; on it, it closes the pipe's write end, so all N grandchildren see EOF and
 * exit together and the manager has N zombies to reap. It then sleeps until killed, so that no
 * restart of the workload disturbs the measurement. Grandchildren are named "orphan" (comm).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

static void die(const char *what) {
    fprintf(stderr, "bench-orphans: %s: %s\n", what, strerror(errno));
    exit(111);
}

int main(int argc, char **argv) {
    if (argc != 4) {
        fprintf(stderr, "usage: bench-orphans N READY_FIFO GO_FIFO\n");
        return 100;
    }
    long n = strtol(argv[1], NULL, 10);
    int p[2];
    if (pipe(p) != 0) die("pipe");
    for (long i = 0; i < n; i++) {
        pid_t mid = fork();
        if (mid < 0) die("fork");
        if (mid == 0) {
            close(p[1]);
            pid_t g = fork();
            if (g < 0) _exit(1);
            if (g == 0) {
                char c;
                prctl(PR_SET_NAME, "orphan", 0, 0, 0);
                while (read(p[0], &c, 1) > 0 || errno == EINTR) {
                }
                _exit(0);
            }
            _exit(0);
        }
        while (waitpid(mid, NULL, 0) < 0 && errno == EINTR) {
        }
    }
    close(p[0]);
    int rf = open(argv[2], O_WRONLY);
    if (rf < 0) die("open ready fifo");
    if (write(rf, "ready\n", 6) != 6) die("write ready");
    close(rf);
    int gf = open(argv[3], O_RDONLY);
    if (gf < 0) die("open go fifo");
    char buf[16];
    ssize_t r;
    do {
        r = read(gf, buf, sizeof buf);
    } while (r < 0 && errno == EINTR);
    close(p[1]);
    for (;;) pause();
}
