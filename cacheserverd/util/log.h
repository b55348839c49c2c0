/* Logging: one line per event, "2026-11-24T10:00:00.123Z LEVEL message", to stderr or to a
 * file. Thread-safe; a line is written with one write(2). SIGHUP calls log_reopen(). */
#ifndef UTIL_LOG_H
#define UTIL_LOG_H

enum log_level { LOG_ERROR = 0, LOG_WARN = 1, LOG_INFO = 2, LOG_DEBUG = 3 };

/* path NULL or "" = stderr. Returns 0 or -1 (errno set) if the file cannot be opened. */
int log_setup(const char *path, enum log_level level);
/* Reopen the log file (after rotation). Async-signal-unsafe: call from the event loop. */
int log_reopen(void);
void log_teardown(void);
/* "error", "warn", "info", "debug" -> level; -1 if unknown. */
int log_level_parse(const char *s);

void log_write(enum log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
#define log_error(...) log_write(LOG_ERROR, __VA_ARGS__)
#define log_warn(...) log_write(LOG_WARN, __VA_ARGS__)
#define log_info(...) log_write(LOG_INFO, __VA_ARGS__)
#define log_debug(...) log_write(LOG_DEBUG, __VA_ARGS__)

#endif
