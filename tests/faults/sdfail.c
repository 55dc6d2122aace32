/* A failing SD card for the fault tests (built by tests/faults/sdkit.py with gcc, loaded
 * with LD_PRELOAD into a `monitord run` child). While the file MONITORD_TEST_SDFAIL_GATE
 * exists, every write, pwrite, fsync, fdatasync and ftruncate of a file under the
 * directory MONITORD_TEST_SDFAIL_DIR (as /proc/self/fd shows the path) fails with errno
 * MONITORD_TEST_SDFAIL_ERRNO (30 EROFS: ext4 `errors=remount-ro` remounted the card
 * read-only; 5 EIO: the card's writes fail); opens are left alone, and reads too unless
 * MONITORD_TEST_SDFAIL_READS is set (then read, pread fail with EIO: unreadable pages). Why a shim and not `mount -o remount,ro`: Linux refuses to remount a
 * file system read-only while a process holds a file on it open for writing (EBUSY: the
 * daemon's store), which ext4's own error handling does not ask. SQLite reaches these
 * through libc's dynamic symbols (the system libsqlite3), so its commits really fail.
 * A slow card to read (no gate needed): MONITORD_TEST_SDFAIL_READ_US makes every read of
 * a file under the directory that many microseconds longer, and MONITORD_TEST_SDFAIL_READ_COUNT
 * names a file (outside it) kept holding the bytes read from under it so far, in decimal:
 * how far a whole-file check of the store has got. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <unistd.h>

#define REAL(name) ((__typeof__(&name))dlsym(RTLD_NEXT, #name))

static const char *gate, *dir;
static int fail_errno = EIO;
static size_t dir_len;
static int reads_fail;
static long read_us;
static int count_fd = -1;
static unsigned long long read_bytes;

__attribute__((constructor)) static void sdfail_init(void) {
    gate = getenv("MONITORD_TEST_SDFAIL_GATE");
    dir = getenv("MONITORD_TEST_SDFAIL_DIR");
    const char *e = getenv("MONITORD_TEST_SDFAIL_ERRNO");
    if (e != NULL && atoi(e) > 0) fail_errno = atoi(e);
    dir_len = dir ? strlen(dir) : 0;
    reads_fail = getenv("MONITORD_TEST_SDFAIL_READS") != NULL;
    const char *us = getenv("MONITORD_TEST_SDFAIL_READ_US");
    read_us = us != NULL ? atol(us) : 0;
    const char *count = getenv("MONITORD_TEST_SDFAIL_READ_COUNT");
    if (count != NULL) count_fd = open(count, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
}

static int under(const char *path) {
    return dir_len && strncmp(path, dir, dir_len) == 0 &&
           (path[dir_len] == '/' || path[dir_len] == '\0');
}

static int on_card(int fd) {
    char link[64], path[4096];
    snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
    ssize_t n = readlink(link, path, sizeof path - 1);
    if (n < 0) return 0;
    path[n] = '\0';
    return under(path);
}

/* Is the card failing now, and is `fd` a file on it? */
static int fails(int fd) {
    if (gate == NULL || dir_len == 0 || access(gate, F_OK) != 0) return 0;
    return on_card(fd);
}

/* A read of `got` bytes from `fd` done: slowed and counted if `fd` is on the card. */
static ssize_t slow_read(int fd, ssize_t got) {
    if ((read_us <= 0 && count_fd < 0) || dir_len == 0 || got <= 0 || !on_card(fd)) return got;
    if (read_us > 0) usleep((useconds_t)read_us);
    if (count_fd >= 0) {
        char text[32];
        unsigned long long total = __atomic_add_fetch(&read_bytes, (unsigned long long)got, __ATOMIC_SEQ_CST);
        int n = snprintf(text, sizeof text, "%020llu\n", total);
        REAL(pwrite)(count_fd, text, (size_t)n, 0);
    }
    return got;
}

#define FAIL_IF(fd) do { if (fails(fd)) { errno = fail_errno; return -1; } } while (0)

ssize_t write(int fd, const void *buf, size_t n) { FAIL_IF(fd); return REAL(write)(fd, buf, n); }
ssize_t pwrite(int fd, const void *buf, size_t n, off_t off) {
    FAIL_IF(fd); return REAL(pwrite)(fd, buf, n, off);
}
ssize_t pwrite64(int fd, const void *buf, size_t n, off64_t off) {
    FAIL_IF(fd); return REAL(pwrite64)(fd, buf, n, off);
}
int fsync(int fd) { FAIL_IF(fd); return REAL(fsync)(fd); }
int fdatasync(int fd) { FAIL_IF(fd); return REAL(fdatasync)(fd); }
int ftruncate(int fd, off_t len) { FAIL_IF(fd); return REAL(ftruncate)(fd, len); }
int ftruncate64(int fd, off64_t len) { FAIL_IF(fd); return REAL(ftruncate64)(fd, len); }

#define READ_FAIL_IF(fd) do { if (reads_fail && fails(fd)) { errno = EIO; return -1; } } while (0)

ssize_t read(int fd, void *buf, size_t n) {
    READ_FAIL_IF(fd); return slow_read(fd, REAL(read)(fd, buf, n));
}
ssize_t pread(int fd, void *buf, size_t n, off_t off) {
    READ_FAIL_IF(fd); return slow_read(fd, REAL(pread)(fd, buf, n, off));
}
ssize_t pread64(int fd, void *buf, size_t n, off64_t off) {
    READ_FAIL_IF(fd); return slow_read(fd, REAL(pread64)(fd, buf, n, off));
}
