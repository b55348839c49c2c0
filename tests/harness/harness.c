/* Test harness (harness.h): runs the real cacheserverd ($CACHESERVERD) in a fresh directory
 * under /tmp, waits until it answers PING, stops/restarts it, and offers raw frame helpers.
 * Setup failures fail the running cmocka test after printing the server log's last lines. */
#include "harness.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <setjmp.h>
#include <cmocka.h>
#include <msgpack.h>

#include "cacheclient_protocol.h"
#include "mpread.h"

#define HARNESS_START_MS 10000
#define HARNESS_STOP_MS 15000
#define HARNESS_IO_TIMEOUT_S 5
#define HARNESS_MAX_FRAME (1u << 30)
#define HARNESS_LOG_LINES 40

struct harness {
    char dir[64];
    char sock[128];
    char log[128];
    char out[128];
    char **argv; /* full argv, NULL-terminated */
    pid_t pid;   /* 0 when not running */
    int status;  /* wait status of the last exit */
};

static uint64_t _now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static void _sleep_ms(unsigned ms)
{
    struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
        ;
}

void harness_print_log(const struct harness *h, int lines)
{
    FILE *f = fopen(h->log, "r");
    if (!f)
        return;
    char *ring[256] = {0};
    if (lines > 256)
        lines = 256;
    char *line = NULL;
    size_t cap = 0;
    long n = 0;
    while (getline(&line, &cap, f) >= 0) {
        free(ring[n % lines]);
        ring[n % lines] = strdup(line);
        n++;
    }
    free(line);
    fclose(f);
    if (n == 0)
        return;
    fprintf(stderr, "---- last lines of %s ----\n", h->log);
    for (long i = n > lines ? n - lines : 0; i < n; i++)
        fprintf(stderr, "%s", ring[i % lines] ? ring[i % lines] : "");
    fprintf(stderr, "---- end of server log ----\n");
    for (int i = 0; i < lines; i++)
        free(ring[i]);
}

int harness_log_contains(const struct harness *h, const char *needle)
{
    FILE *f = fopen(h->log, "r");
    if (!f)
        return 0;
    char *line = NULL;
    size_t cap = 0;
    int found = 0;
    while (!found && getline(&line, &cap, f) >= 0)
        found = strstr(line, needle) != NULL;
    free(line);
    fclose(f);
    return found;
}

static int _rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    remove(path);
    return 0;
}

static void _free(struct harness *h)
{
    if (h->argv)
        for (char **a = h->argv; *a; a++)
            free(*a);
    free(h->argv);
    free(h);
}

/* Wait up to ms for the child to exit. Returns 1 (status stored) or 0. */
static int _wait_exit(struct harness *h, unsigned ms)
{
    uint64_t deadline = _now_ms() + ms;
    for (;;) {
        int st;
        pid_t r = waitpid(h->pid, &st, WNOHANG);
        if (r == h->pid || (r < 0 && errno == ECHILD)) {
            h->status = r == h->pid ? st : 0;
            h->pid = 0;
            return 1;
        }
        if (_now_ms() >= deadline)
            return 0;
        _sleep_ms(5);
    }
}

/* Fail the running test: print why and the log, kill and clean up when `cleanup`. */
static void _harness_fail(struct harness *h, int cleanup, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void _harness_fail(struct harness *h, int cleanup, const char *fmt, ...)
{
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    harness_print_log(h, HARNESS_LOG_LINES);
    if (cleanup) {
        if (h->pid > 0) {
            kill(h->pid, SIGKILL);
            _wait_exit(h, HARNESS_STOP_MS);
        }
        nftw(h->dir, _rm_entry, 16, FTW_DEPTH | FTW_PHYS);
        _free(h);
    }
    fail_msg("harness: %s", msg);
}

static const char *_exit_text(int status, char *buf, size_t len)
{
    if (WIFEXITED(status))
        snprintf(buf, len, "exit code %d", WEXITSTATUS(status));
    else if (WIFSIGNALED(status))
        snprintf(buf, len, "killed by signal %d", WTERMSIG(status));
    else
        snprintf(buf, len, "wait status %d", status);
    return buf;
}

static void _spawn(struct harness *h, int cleanup)
{
    pid_t parent = getpid();
    pid_t pid = fork();
    if (pid < 0)
        _harness_fail(h, cleanup, "fork: %s", strerror(errno));
    if (pid == 0) {
        /* Die with the test process, so a test killed by a timeout leaves no server behind. */
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (getppid() != parent)
            _exit(126);
        int in = open("/dev/null", O_RDONLY);
        int out = open(h->out, O_WRONLY | O_CREAT | O_APPEND, 0644);
        if (in >= 0)
            dup2(in, STDIN_FILENO);
        if (out >= 0)
            dup2(out, STDOUT_FILENO);
        execv(h->argv[0], h->argv);
        fprintf(stderr, "harness: cannot run %s: %s\n", h->argv[0], strerror(errno));
        _exit(127);
    }
    h->pid = pid;
}

static int _can_connect(const struct harness *h)
{
    int fd = harness_connect(h);
    if (fd < 0)
        return 0;
    close(fd);
    return 1;
}

/* Wait until the server answers (PING, or just accepts when !ping); fail if it exits. */
static void _wait_ready(struct harness *h, int ping, int cleanup)
{
    char buf[64];
    uint64_t deadline = _now_ms() + HARNESS_START_MS;
    for (;;) {
        int st;
        if (waitpid(h->pid, &st, WNOHANG) == h->pid) {
            h->pid = 0;
            h->status = st;
            _harness_fail(h, cleanup, "server exited during startup (%s)",
                          _exit_text(st, buf, sizeof(buf)));
        }
        if (ping ? harness_ping(h) == 0 : _can_connect(h))
            return;
        if (_now_ms() >= deadline)
            _harness_fail(h, cleanup, "server did not answer on %s within %d ms", h->sock,
                  HARNESS_START_MS);
        _sleep_ms(10);
    }
}

static struct harness *_start(const char *const *extra, int ping)
{
    const char *bin = getenv("CACHESERVERD");
    if (!bin || !*bin)
        fail_msg("harness: CACHESERVERD is not set (run the tests with meson test)");
    struct harness *h = calloc(1, sizeof(*h));
    assert_non_null(h);
    snprintf(h->dir, sizeof(h->dir), "/tmp/cachetest.XXXXXX");
    if (!mkdtemp(h->dir)) {
        free(h);
        fail_msg("harness: mkdtemp: %s", strerror(errno));
    }
    snprintf(h->sock, sizeof(h->sock), "%s/cache.sock", h->dir);
    snprintf(h->log, sizeof(h->log), "%s/server.log", h->dir);
    snprintf(h->out, sizeof(h->out), "%s/stdout.log", h->dir);
    char data[128];
    snprintf(data, sizeof(data), "%s/data", h->dir);

    const char *fixed[] = {bin, "--socket", h->sock, "--data-dir", data, "--log-file", h->log};
    size_t nfixed = sizeof(fixed) / sizeof(fixed[0]), nextra = 0, nenv = 0;
    while (extra && extra[nextra])
        nextra++;
    /* HARNESS_SERVER_ARGS: the same tests against a server configured otherwise */
    const char *env = getenv("HARNESS_SERVER_ARGS");
    char *words = strdup(env ? env : "");
    assert_non_null(words);
    for (char *p = words; *p; p++)
        nenv += *p != ' ' && (p == words || p[-1] == ' ');
    h->argv = calloc(nfixed + nextra + nenv + 1, sizeof(char *));
    assert_non_null(h->argv);
    for (size_t i = 0; i < nfixed; i++)
        h->argv[i] = strdup(fixed[i]);
    for (size_t i = 0; i < nextra; i++)
        h->argv[nfixed + i] = strdup(extra[i]);
    size_t at = nfixed + nextra;
    for (char *save = NULL, *w = strtok_r(words, " ", &save); w; w = strtok_r(NULL, " ", &save)) {
        char *dir = strstr(w, "{dir}"), buf[600];
        if (dir) /* the server's own directory, e.g. --hdd-path {dir}/hdd */
            snprintf(buf, sizeof(buf), "%.*s%s%s", (int)(dir - w), w, h->dir, dir + 5);
        h->argv[at++] = strdup(dir ? buf : w);
    }
    free(words);
    _spawn(h, 1);
    _wait_ready(h, ping, 1);
    return h;
}

struct harness *harness_start(const char *const *extra_args) { return _start(extra_args, 1); }

struct harness *harness_start_listening(const char *const *extra_args)
{
    return _start(extra_args, 0);
}

const char *harness_socket(const struct harness *h) { return h->sock; }
const char *harness_dir(const struct harness *h) { return h->dir; }
pid_t harness_pid(const struct harness *h) { return h->pid; }

int harness_kill(struct harness *h, int sig)
{
    if (h->pid <= 0)
        return h->status;
    kill(h->pid, sig);
    if (!_wait_exit(h, HARNESS_STOP_MS)) {
        kill(h->pid, SIGKILL);
        _wait_exit(h, HARNESS_STOP_MS);
        _harness_fail(h, 0, "server did not exit within %d ms of signal %d", HARNESS_STOP_MS, sig);
    }
    return h->status;
}

int harness_stop(struct harness *h)
{
    int st = harness_kill(h, SIGTERM);
    if (WIFEXITED(st))
        return WEXITSTATUS(st);
    return WIFSIGNALED(st) ? 128 + WTERMSIG(st) : 255;
}

void harness_add_args(struct harness *h, const char *const *more)
{
    size_t n = 0, m = 0;
    while (h->argv[n])
        n++;
    while (more[m])
        m++;
    char **argv = realloc(h->argv, (n + m + 1) * sizeof(char *));
    assert_non_null(argv);
    for (size_t i = 0; i < m; i++)
        argv[n + i] = strdup(more[i]);
    argv[n + m] = NULL;
    h->argv = argv;
}

void harness_respawn(struct harness *h)
{
    if (h->pid > 0)
        _harness_fail(h, 0, "respawn while the server is still running");
    _spawn(h, 0);
    _wait_ready(h, 1, 0);
}

void harness_restart(struct harness *h)
{
    int code = harness_stop(h);
    if (code != 0)
        _harness_fail(h, 0, "server exited with %d on SIGTERM (expected 0)", code);
    harness_respawn(h);
}

int harness_alive(struct harness *h)
{
    if (h->pid <= 0)
        return 0;
    int st;
    if (waitpid(h->pid, &st, WNOHANG) == h->pid) {
        h->pid = 0;
        h->status = st;
        return 0;
    }
    return 1;
}

void harness_destroy(struct harness **hp)
{
    struct harness *h = *hp;
    if (!h)
        return;
    *hp = NULL;
    int code = 0, hung = 0;
    if (h->pid > 0) {
        kill(h->pid, SIGTERM);
        if (!_wait_exit(h, HARNESS_STOP_MS)) {
            kill(h->pid, SIGKILL);
            _wait_exit(h, HARNESS_STOP_MS);
            hung = 1;
        }
        code = WIFEXITED(h->status) ? WEXITSTATUS(h->status) : 128 + WTERMSIG(h->status);
    }
    if (hung || code != 0)
        harness_print_log(h, HARNESS_LOG_LINES);
    if (!getenv("HARNESS_KEEP"))
        nftw(h->dir, _rm_entry, 16, FTW_DEPTH | FTW_PHYS);
    else
        fprintf(stderr, "harness: kept %s\n", h->dir);
    _free(h);
    /* A hang, a crash or a sanitizer report at shutdown fails the test that owned the server. */
    if (hung)
        fail_msg("harness: server did not exit within %d ms of SIGTERM", HARNESS_STOP_MS);
    if (code != 0)
        fail_msg("harness: server exited with %d on SIGTERM (expected 0)", code);
}

/* ---- raw helpers ---- */

int harness_connect(const struct harness *h)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    size_t len = strlen(h->sock);
    if (len >= sizeof(sa.sun_path)) {
        errno = ENAMETOOLONG;
        return -1;
    }
    memcpy(sa.sun_path, h->sock, len + 1);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    struct timeval tv = {.tv_sec = HARNESS_IO_TIMEOUT_S};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
    if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
        int e = errno;
        close(fd);
        errno = e;
        return -1;
    }
    return fd;
}

int harness_send(int fd, const void *buf, size_t len)
{
    const char *p = buf;
    while (len) {
        ssize_t n = send(fd, p, len, MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return -1;
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

int harness_send_frame(int fd, const void *body, size_t len)
{
    uint8_t hdr[CC_FRAME_HEADER_SIZE];
    if (len > UINT32_MAX)
        return -1;
    cc_be32_write(hdr, (uint32_t)len);
    return harness_send(fd, hdr, sizeof(hdr)) == 0 && harness_send(fd, body, len) == 0 ? 0 : -1;
}

static int _recv_all(int fd, void *buf, size_t len)
{
    char *p = buf;
    while (len) {
        ssize_t n = recv(fd, p, len, 0);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return -1;
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

int harness_recv_frame(int fd, uint8_t **body, size_t *len)
{
    uint8_t hdr[CC_FRAME_HEADER_SIZE];
    *body = NULL;
    *len = 0;
    if (_recv_all(fd, hdr, sizeof(hdr)) != 0)
        return -1;
    uint32_t n = cc_be32_read(hdr);
    if (n > HARNESS_MAX_FRAME)
        return -1;
    uint8_t *b = malloc(n ? n : 1);
    if (!b)
        return -1;
    if (_recv_all(fd, b, n) != 0) {
        free(b);
        return -1;
    }
    *body = b;
    *len = n;
    return 0;
}

/* The request body sb on a new connection; the reply frame in *reply (malloc'd). sb is
 * destroyed. */
static int _send_body(const struct harness *h, msgpack_sbuffer *sb, uint8_t **reply, size_t *rlen)
{
    int fd = harness_connect(h);
    int rc = fd >= 0 && harness_send_frame(fd, sb->data, sb->size) == 0
                 ? harness_recv_frame(fd, reply, rlen)
                 : -1;
    msgpack_sbuffer_destroy(sb);
    if (fd >= 0)
        close(fd);
    return rc;
}

/* One request [op, id] on a new connection; the reply frame in *reply (malloc'd). */
static int _request(const struct harness *h, uint64_t op, uint8_t **reply, size_t *rlen)
{
    msgpack_sbuffer sb;
    msgpack_packer pk;
    msgpack_sbuffer_init(&sb);
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    msgpack_pack_array(&pk, 2);
    msgpack_pack_uint64(&pk, op);
    msgpack_pack_uint64(&pk, 1);
    return _send_body(h, &sb, reply, rlen);
}

uint64_t harness_stat(const struct harness *h, const char *name)
{
    uint8_t *reply = NULL;
    size_t rlen = 0;
    uint64_t v = UINT64_MAX;
    if (_request(h, CC_OP_STATS, &reply, &rlen) != 0) {
        fail_msg("STATS: no reply");
        return v;
    }
    struct mp_cursor c;
    uint32_t n, m;
    uint64_t id, status;
    mp_cursor_init(&c, reply, rlen);
    if (mp_read_array(&c, &n) && n == 3 && mp_read_uint(&c, &id) && mp_read_uint(&c, &status) &&
        status == CC_OK && mp_read_map(&c, &m)) {
        for (uint32_t i = 0; i < m; i++) {
            const uint8_t *k;
            uint32_t klen;
            if (!mp_read_bytes(&c, &k, &klen))
                break;
            if (klen == strlen(name) && memcmp(k, name, klen) == 0) {
                if (!mp_read_uint(&c, &v))
                    v = UINT64_MAX;
                break;
            }
            if (!mp_skip_any(&c, 8))
                break;
        }
    }
    free(reply);
    if (v == UINT64_MAX)
        fail_msg("STATS has no unsigned value '%s'", name);
    return v;
}

int64_t harness_fault(const struct harness *h, const char *what, uint64_t n)
{
    msgpack_sbuffer sb;
    msgpack_packer pk;
    msgpack_sbuffer_init(&sb);
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    msgpack_pack_array(&pk, 4);
    msgpack_pack_uint64(&pk, CC_OP_FAULT);
    msgpack_pack_uint64(&pk, 9);
    msgpack_pack_str(&pk, strlen(what));
    msgpack_pack_str_body(&pk, what, strlen(what));
    msgpack_pack_uint64(&pk, n);
    uint8_t *body = NULL;
    size_t len = 0;
    if (_send_body(h, &sb, &body, &len) != 0)
        return -1;
    struct mp_cursor c;
    uint32_t an;
    uint64_t id, st, v = 0;
    mp_cursor_init(&c, body, len);
    int64_t out = mp_read_array(&c, &an) && mp_read_uint(&c, &id) && mp_read_uint(&c, &st) &&
                          st == CC_OK && mp_read_uint(&c, &v)
                      ? (int64_t)v
                      : -1;
    free(body);
    return out;
}

int harness_skip_without_faults(struct harness **h)
{
    if (harness_fault(*h, "fail-allocs", 0) >= 0)
        return 0;
    printf("# skipped: this cacheserverd has no FAULT op (configure with "
           "-Dfault_injection=true)\n");
    harness_destroy(h);
    return 1;
}

int harness_ping(const struct harness *h)
{
    uint8_t *reply = NULL;
    size_t rlen = 0;
    int rc = -1;
    if (_request(h, CC_OP_PING, &reply, &rlen) == 0) {
        struct mp_cursor c;
        uint32_t n;
        uint64_t rid, status;
        mp_cursor_init(&c, reply, rlen);
        if (mp_read_array(&c, &n) && n >= 2 && mp_read_uint(&c, &rid) && rid == 1 &&
            mp_read_uint(&c, &status) && status == CC_OK)
            rc = 0;
    }
    free(reply);
    return rc;
}
