/* Slow-storage shim for the benches (built by bench/slowdisk.py with gcc, loaded with
 * LD_PRELOAD into a `monitord run` child): every fsync/fdatasync first does the real
 * sync, then sleeps, which models an SD card where a sync takes tens of milliseconds.
 * MONITORD_BENCH_FSYNC_MS (a float; unset or 0 = no delay) is the delay, and
 * MONITORD_BENCH_FSYNC_MODE says what it means: `add` (the default) sleeps that long after
 * the real sync, so a sync takes the host disk's time plus N; `total` sleeps only what is
 * left of N after the real sync, so a sync takes N in all (or the host's time, if longer):
 * an SD card whose sync takes N, whatever the host disk adds on a slow day.
 * MONITORD_BENCH_FSYNC_GATE (a path; the fault tests) makes the delay a disk that hangs
 * and comes back: a sync is delayed only while that file exists, and a delayed sync
 * returns as soon as the file is removed (it looks every 10 ms), so a test can stall the
 * store's syncs after the daemon started (its start syncs too) and end the stall.
 * MONITORD_BENCH_FSYNC_FILE (a path, as /proc/self/fd shows it) delays only the syncs of
 * that one file: with the store's main file, only a checkpoint's sync (a commit in WAL
 * mode syncs the -wal file), so a test can hang the final checkpoint of a stop alone.
 * SQLite calls fdatasync/fsync through libc's dynamic symbols, so interposing them here
 * really delays its commits and checkpoints (bench/slowdisk.py checks that by timing a
 * commit). slowdisk_calls() returns how many syncs were delayed and slowdisk_slept_ns()
 * how long the shim slept in all (read with ctypes.CDLL(None)). */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <time.h>

static int (*real_fsync)(int);
static int (*real_fdatasync)(int);
static long delay_ns;
static int total_mode;
static const char *gate;
static const char *only_file;
static atomic_long calls;
static atomic_long slept_ns;

__attribute__((constructor)) static void slowdisk_init(void) {
    real_fsync = (int (*)(int))dlsym(RTLD_NEXT, "fsync");
    real_fdatasync = (int (*)(int))dlsym(RTLD_NEXT, "fdatasync");
    const char *ms = getenv("MONITORD_BENCH_FSYNC_MS");
    double v = ms ? strtod(ms, NULL) : 0.0;
    delay_ns = v > 0 ? (long)(v * 1e6) : 0;
    const char *mode = getenv("MONITORD_BENCH_FSYNC_MODE");
    total_mode = mode != NULL && mode[0] == 't';
    gate = getenv("MONITORD_BENCH_FSYNC_GATE");
    if (gate != NULL && gate[0] == '\0') gate = NULL;
    only_file = getenv("MONITORD_BENCH_FSYNC_FILE");
    if (only_file != NULL && only_file[0] == '\0') only_file = NULL;
}

/* Is `fd` the one file whose syncs are delayed (every file without MONITORD_BENCH_FSYNC_FILE)? */
static int file_chosen(int fd) {
    if (only_file == NULL) return 1;
    char link[64], path[4096];
    snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
    ssize_t n = readlink(link, path, sizeof path - 1);
    if (n < 0) return 0;
    path[n] = '\0';
    return strcmp(path, only_file) == 0;
}

static int gate_open(void) { return gate == NULL || access(gate, F_OK) == 0; }

static long since_ns(const struct timespec *t0) {
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (now.tv_sec - t0->tv_sec) * 1000000000L + (now.tv_nsec - t0->tv_nsec);
}

/* After the real sync begun at t0: sleep the delay (add) or what is left of it (total). */
static void slowdisk_wait(int fd, const struct timespec *t0) {
    atomic_fetch_add(&calls, 1);
    if (delay_ns <= 0 || !gate_open() || !file_chosen(fd)) return;
    int saved = errno; /* the caller sees the real sync's errno, not nanosleep's */
    long wait = total_mode ? delay_ns - since_ns(t0) : delay_ns;
    if (wait > 0 && gate != NULL) {
        /* In 10-ms slices while the gate file exists: removing it ends the stall. */
        struct timespec w0;
        clock_gettime(CLOCK_MONOTONIC, &w0);
        while (since_ns(&w0) < wait && gate_open()) {
            struct timespec ts = {0, 10000000L};
            nanosleep(&ts, NULL);
        }
        atomic_fetch_add(&slept_ns, since_ns(&w0));
    } else if (wait > 0) {
        atomic_fetch_add(&slept_ns, wait);
        struct timespec ts = {wait / 1000000000L, wait % 1000000000L};
        while (nanosleep(&ts, &ts) == -1 && errno == EINTR) {
        }
    }
    errno = saved;
}

int fsync(int fd) {
    struct timespec t0;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    int rc = real_fsync(fd);
    slowdisk_wait(fd, &t0);
    return rc;
}

int fdatasync(int fd) {
    struct timespec t0;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    int rc = real_fdatasync(fd);
    slowdisk_wait(fd, &t0);
    return rc;
}

long slowdisk_calls(void) { return atomic_load(&calls); }
long slowdisk_slept_ns(void) { return atomic_load(&slept_ns); }
