/* Slow-storage shim for the benches (built by bench/slowdisk.py with gcc, loaded with
 * LD_PRELOAD into a `monitord run` child): every fsync/fdatasync first does the real
 * sync, then sleeps, which models an SD card where a sync takes tens of milliseconds.
 * MONITORD_BENCH_FSYNC_MS (a float; unset or 0 = no delay) is the delay, and
 * MONITORD_BENCH_FSYNC_MODE says what it means: `add` (the default) sleeps that long after
 * the real sync, so a sync takes the host disk's time plus N; `total` sleeps only what is
 * left of N after the real sync, so a sync takes N in all (or the host's time, if longer):
 * an SD card whose sync takes N, whatever the host disk adds on a slow day.
 * SQLite calls fdatasync/fsync through libc's dynamic symbols, so interposing them here
 * really delays its commits and checkpoints (bench/slowdisk.py checks that by timing a
 * commit). slowdisk_calls() returns how many syncs were delayed and slowdisk_slept_ns()
 * how long the shim slept in all (read with ctypes.CDLL(None)). */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <time.h>

static int (*real_fsync)(int);
static int (*real_fdatasync)(int);
static long delay_ns;
static int total_mode;
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
}

static long since_ns(const struct timespec *t0) {
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (now.tv_sec - t0->tv_sec) * 1000000000L + (now.tv_nsec - t0->tv_nsec);
}

/* After the real sync begun at t0: sleep the delay (add) or what is left of it (total). */
static void slowdisk_wait(const struct timespec *t0) {
    atomic_fetch_add(&calls, 1);
    if (delay_ns <= 0) return;
    int saved = errno; /* the caller sees the real sync's errno, not nanosleep's */
    long wait = total_mode ? delay_ns - since_ns(t0) : delay_ns;
    if (wait > 0) {
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
    slowdisk_wait(&t0);
    return rc;
}

int fdatasync(int fd) {
    struct timespec t0;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    int rc = real_fdatasync(fd);
    slowdisk_wait(&t0);
    return rc;
}

long slowdisk_calls(void) { return atomic_load(&calls); }
long slowdisk_slept_ns(void) { return atomic_load(&slept_ns); }
