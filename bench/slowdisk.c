/* Slow-storage shim for the benches (built by bench/slowdisk.py with gcc, loaded with
 * LD_PRELOAD into a `monitord run` child): every fsync/fdatasync first does the real
 * sync, then sleeps MONITORD_BENCH_FSYNC_MS milliseconds (a float; unset or 0 = no
 * delay), which models an SD card where a sync takes tens of milliseconds. SQLite calls
 * fdatasync/fsync through libc's dynamic symbols, so interposing them here really delays
 * its commits and checkpoints (bench/slowdisk.py checks that by timing a commit).
 * slowdisk_calls() returns how many syncs were delayed (read with ctypes.CDLL(None)). */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <time.h>

static int (*real_fsync)(int);
static int (*real_fdatasync)(int);
static long delay_ns;
static atomic_long calls;

__attribute__((constructor)) static void slowdisk_init(void) {
    real_fsync = (int (*)(int))dlsym(RTLD_NEXT, "fsync");
    real_fdatasync = (int (*)(int))dlsym(RTLD_NEXT, "fdatasync");
    const char *ms = getenv("MONITORD_BENCH_FSYNC_MS");
    double v = ms ? strtod(ms, NULL) : 0.0;
    delay_ns = v > 0 ? (long)(v * 1e6) : 0;
}

static void slowdisk_wait(void) {
    atomic_fetch_add(&calls, 1);
    if (delay_ns <= 0) return;
    int saved = errno; /* the caller sees the real sync's errno, not nanosleep's */
    struct timespec ts = {delay_ns / 1000000000L, delay_ns % 1000000000L};
    while (nanosleep(&ts, &ts) == -1 && errno == EINTR) {
    }
    errno = saved;
}

int fsync(int fd) {
    int rc = real_fsync(fd);
    slowdisk_wait();
    return rc;
}

int fdatasync(int fd) {
    int rc = real_fdatasync(fd);
    slowdisk_wait();
    return rc;
}

long slowdisk_calls(void) { return atomic_load(&calls); }
