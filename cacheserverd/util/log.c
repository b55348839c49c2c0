/* Logging: formats "2026-11-24T10:00:00.123Z LEVEL message\n" and writes it with one
 * write(2) to stderr or to a file opened O_APPEND. log_reopen swaps the file under the same
 * descriptor number (dup2), so writers on other threads never see a closed descriptor. */
#include "log.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#define LOG_LINE_MAX 2048

static int log_fd = STDERR_FILENO; /* written once per setup; dup2 keeps the number */
static int log_level = LOG_INFO;
static char *log_path;             /* NULL = stderr */
static pthread_mutex_t reopen_lock = PTHREAD_MUTEX_INITIALIZER;

static const char *const level_names[] = {"ERROR", "WARN", "INFO", "DEBUG"};

static int _open(const char *path)
{
    return open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
}

int log_setup(const char *path, enum log_level level)
{
    __atomic_store_n(&log_level, (int)level, __ATOMIC_RELAXED);
    if (!path || !*path)
        return 0;
    int fd = _open(path);
    if (fd < 0)
        return -1;
    char *copy = strdup(path);
    if (!copy) {
        close(fd);
        errno = ENOMEM;
        return -1;
    }
    pthread_mutex_lock(&reopen_lock);
    free(log_path);
    log_path = copy;
    if (log_fd != STDERR_FILENO) {
        dup2(fd, log_fd);
        close(fd);
    } else {
        __atomic_store_n(&log_fd, fd, __ATOMIC_RELEASE);
    }
    pthread_mutex_unlock(&reopen_lock);
    return 0;
}

int log_reopen(void)
{
    int rc = 0;
    pthread_mutex_lock(&reopen_lock);
    if (log_path) {
        int fd = _open(log_path);
        if (fd < 0 || dup2(fd, log_fd) < 0)
            rc = -1;
        if (fd >= 0)
            close(fd);
    }
    pthread_mutex_unlock(&reopen_lock);
    return rc;
}

void log_teardown(void)
{
    pthread_mutex_lock(&reopen_lock);
    int fd = log_fd;
    __atomic_store_n(&log_fd, STDERR_FILENO, __ATOMIC_RELEASE);
    if (fd != STDERR_FILENO)
        close(fd);
    free(log_path);
    log_path = NULL;
    pthread_mutex_unlock(&reopen_lock);
}

int log_level_parse(const char *s)
{
    static const char *const names[] = {"error", "warn", "info", "debug"};
    for (int i = 0; i < 4; i++)
        if (!strcasecmp(s, names[i]))
            return i;
    if (!strcasecmp(s, "warning"))
        return LOG_WARN;
    return -1;
}

void log_write(enum log_level level, const char *fmt, ...)
{
    if ((int)level > __atomic_load_n(&log_level, __ATOMIC_RELAXED))
        return;
    int saved_errno = errno;
    char line[LOG_LINE_MAX];
    struct timespec ts;
    struct tm tm;
    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    size_t n = strftime(line, sizeof(line), "%Y-%m-%dT%H:%M:%S", &tm);
    n += (size_t)snprintf(line + n, sizeof(line) - n, ".%03ldZ %s ", ts.tv_nsec / 1000000L,
                          level_names[level <= LOG_DEBUG ? level : LOG_DEBUG]);
    va_list ap;
    va_start(ap, fmt);
    int m = vsnprintf(line + n, sizeof(line) - n, fmt, ap);
    va_end(ap);
    if (m < 0)
        m = 0;
    if ((size_t)m >= sizeof(line) - n) {
        /* Truncated: mark it and keep room for the newline. */
        n = sizeof(line) - 5;
        memcpy(line + n, "...", 3);
        n += 3;
    } else {
        n += (size_t)m;
    }
    line[n++] = '\n';
    int fd = __atomic_load_n(&log_fd, __ATOMIC_ACQUIRE);
    while (write(fd, line, n) < 0 && errno == EINTR)
        ;
    errno = saved_errno;
}
