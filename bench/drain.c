/*
 * The reader of a manager's stdout in the log-throughput scenario of bench/bench.py.
 *
 *   bench-drain MARKER EXPECTED
 *
 * Reads stdin (the manager's stdout pipe) in 1 MiB reads until end of file and counts the
 * occurrences of MARKER (one per line the child wrote), the bytes and the newlines. When the
 * count first reaches EXPECTED it writes "done SECONDS\n" to stdout, SECONDS being
 * CLOCK_MONOTONIC (Python's time.monotonic() reads the same clock); at end of file it writes
 * "end COUNT BYTES NEWLINES\n" and exits.
 *
 * Why C: the reader stands for the container runtime's log pipe and must cost next to
 * nothing, or the scenario measures the reader. A Python reader (the harness's first one)
 * spent about 2.3 ns of CPU per byte, 0.41 s per million JSON records (185 bytes each) against
 * 0.18 s for a million raw 75-byte lines: on a two-core machine, where the child, the manager
 * and the reader share the cores, that difference alone capped a JSON-writing manager below a
 * raw pass-through one whatever the manager did. This reader uses memchr alone (0.05 to 0.08 s
 * of CPU per million lines in the scenario, pipe reads included), so what is left is the child
 * and the manager. Its first C version called memmem once per marker: 0.15 to 0.17 s.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define CHUNK (1 << 20)

static void say(const char *line) {
    size_t n = strlen(line);
    while (n > 0) {
        ssize_t w = write(1, line, n);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            exit(111);
        }
        line += w;
        n -= (size_t)w;
    }
}

int main(int argc, char **argv) {
    if (argc != 3) {
        fprintf(stderr, "usage: bench-drain MARKER EXPECTED\n");
        return 2;
    }
    const char *marker = argv[1];
    size_t mlen = strlen(marker);
    long long expected = atoll(argv[2]);
    if (mlen == 0 || mlen > 64 || expected <= 0) {
        fprintf(stderr, "bench-drain: a marker of 1 to 64 bytes and a positive count\n");
        return 2;
    }
    /* The last mlen-1 bytes of the previous read sit in front of the next one, so a marker
     * cut in two by the pipe is still counted once. */
    char *buf = malloc(CHUNK + 64);
    if (!buf)
        return 111;
    size_t keep = 0;
    long long count = 0, bytes = 0, newlines = 0;
    int done = 0;
    for (;;) {
        ssize_t n = read(0, buf + keep, CHUNK);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            break;
        }
        if (n == 0)
            break;
        bytes += n;
        for (const char *p = buf + keep, *end = buf + keep + n;
             (p = memchr(p, '\n', (size_t)(end - p))) != NULL; p++)
            newlines++;
        size_t len = keep + (size_t)n, from = 0;
        /* memchr for the marker's first byte, then a compare: glibc's memmem sets up a
         * shift table on every call, which at one call per line cost this reader as much CPU
         * as the manager it measures (150-170 ms per million lines). */
        for (const char *p = buf, *end = buf + len;
             (p = memchr(p, marker[0], (size_t)(end - p))) != NULL;) {
            if ((size_t)(end - p) < mlen)
                break;
            if (memcmp(p, marker, mlen) != 0) {
                p++;
                continue;
            }
            count++;
            p += mlen;
            from = (size_t)(p - buf);
        }
        /* Kept: the last mlen-1 bytes, but none of a marker already counted. */
        if (len - from > mlen - 1)
            from = len - (mlen - 1);
        keep = len - from;
        memmove(buf, buf + from, keep);
        if (!done && count >= expected) {
            struct timespec ts;
            clock_gettime(CLOCK_MONOTONIC, &ts);
            char line[64];
            snprintf(line, sizeof line, "done %lld.%09ld\n", (long long)ts.tv_sec, ts.tv_nsec);
            say(line);
            done = 1;
        }
    }
    char line[128];
    snprintf(line, sizeof line, "end %lld %lld %lld\n", count, bytes, newlines);
    say(line);
    return 0;
}
