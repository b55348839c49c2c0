/* Test harness: runs a real cacheserverd (the binary named by $CACHESERVERD) in a fresh
 * temporary directory with its socket inside it, waits until it answers PING, and can
 * restart it in place on the same data directory. Also raw socket helpers for tests that
 * send malformed bytes. Every function aborts the test (with a message) on setup failure. */
#ifndef TEST_HARNESS_H
#define TEST_HARNESS_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct harness;

/* Start a server. extra_args: NULL-terminated list of extra command-line arguments
 * (e.g. {"--memory", "8MiB", NULL}) or NULL. The server gets --socket DIR/cache.sock,
 * --data-dir DIR/data, --log-file DIR/server.log. Waits (up to 10 s) until PING answers.
 * HARNESS_SERVER_ARGS in the environment (words split at spaces) come after extra_args:
 * meson runs a suite once more with, say, "--ssd-backend vlog"; "{dir}" in a word is the
 * server's directory ("--hdd-path {dir}/hdd"). */
struct harness *harness_start(const char *const *extra_args);
/* Path of the server's Unix socket. */
const char *harness_socket(const struct harness *h);
/* The temporary directory (removed by harness_destroy). */
const char *harness_dir(const struct harness *h);
pid_t harness_pid(const struct harness *h);
/* SIGTERM, wait for exit, start again with the same directory and arguments, wait for PING. */
void harness_restart(struct harness *h);
/* Send a signal and wait for the process to exit; returns its wait status. */
int harness_kill(struct harness *h, int sig);
/* Start again after harness_kill (same directory and arguments). */
void harness_respawn(struct harness *h);
/* Arguments (NULL-terminated) added to the server's command line from its next respawn or
 * restart on. */
void harness_add_args(struct harness *h, const char *const *more);
/* SIGTERM and wait; returns the exit code (or 128+signal). */
int harness_stop(struct harness *h);
/* Stop if running, remove the directory, free; sets *h to NULL. */
void harness_destroy(struct harness **h);
/* 1 if the process is still running. */
int harness_alive(struct harness *h);

/* Raw helpers for malformed-input tests. */
int harness_connect(const struct harness *h);                 /* blocking fd, 5 s timeouts */
int harness_send(int fd, const void *buf, size_t len);        /* 0 or -1 */
/* Send one frame (length prefix added) whose body is `body`. */
int harness_send_frame(int fd, const void *body, size_t len);
/* Read one reply frame body into a malloc'd buffer (*body, *len). 0, or -1 on EOF/timeout. */
int harness_recv_frame(int fd, uint8_t **body, size_t *len);
/* The STATS value `name` (an unsigned number); fails the test when there is none. */
uint64_t harness_stat(const struct harness *h, const char *name);
/* Send [0 (PING), id] and check the reply is [id, 0]. Returns 0 if the server answered. */
int harness_ping(const struct harness *h);

/* ---- additions beyond the first agreed API ---- */
/* Like harness_start, but waits (up to 10 s) only until the socket accepts connections, not
 * for a PING reply: for servers set up to refuse this process (allow-uids tests). */
struct harness *harness_start_listening(const char *const *extra_args);
/* Print the last `lines` lines of the server log to stderr (to explain a failure). */
void harness_print_log(const struct harness *h, int lines);
/* 1 if the server log contains `needle`, else 0. */
int harness_log_contains(const struct harness *h, const char *needle);
/* FAULT what n (fault builds: docs/reliability.md) on a new connection: the count its reply
 * carries, or -1 when the server has no FAULT op (a normal build) or did not answer OK. */
int64_t harness_fault(const struct harness *h, const char *what, uint64_t n);
/* A test that needs FAULT: 0 when the server has it; else prints "# skipped: ..." (meson
 * counts the test as passed), destroys *h and returns 1. */
int harness_skip_without_faults(struct harness **h);

#endif
