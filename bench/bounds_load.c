/* cache-bounds-load: the heavy clients of bench/bounds, each a loop of one kind of large
 * request, so a second client (cache-bench) can measure what it costs everyone else.
 *
 *   cache-bounds-load --socket PATH populate ITEMS VALUE_SIZE
 *       write keys s:00000000.. (MSET, 1000 items a frame)
 *   cache-bounds-load --socket PATH mget KEYS SECONDS CONNS
 *       MGETs of KEYS random s: keys (of the populated ITEMS, --items), back to back
 *   cache-bounds-load --socket PATH scan COUNT SECONDS CONNS
 *       whole-keyspace SCANs with this count, back to back
 *   cache-bounds-load --socket PATH set SIZE SECONDS CONNS
 *       SETs of a SIZE-byte value (key big:<conn>), back to back
 *   cache-bounds-load --socket PATH pipeline REQUESTS SECONDS CONNS
 *       every 250 ms per connection: connect, send REQUESTS GETs of the key pipe:v (set
 *       first, --value-size bytes) without reading a reply, close
 *
 * CONNS connections, one thread each, one request in flight each; --gap-ms G pauses G ms
 * after each call, so the heavy requests take part of the server's time, not all of it. Consecutive connections
 * go to different worker threads (the server hands them out round-robin), so with CONNS at
 * least the server's threads every worker gets a heavy connection, and the measuring
 * client shares its worker with one of them. Prints one line: calls, errors (by status),
 * and the heavy call's own p50/p99/max in ms. */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "cacheclient.h"

static const char *sock;
static const char *mode;
static uint64_t arg_n;       /* keys, count, size or requests */
static double seconds;
static uint64_t items = 100000;
static size_t value_size = 4096;
static unsigned gap_ms;      /* pause after each call (mget, scan, set) */

static double _now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void _gap(void)
{
    if (gap_ms)
        usleep(gap_ms * 1000u);
}

static cc_client *_client(void)
{
    cc_options o;
    cc_options_init(&o);
    o.socket_path = sock;
    o.io_timeout_ms = 60000;
    o.connect_timeout_ms = 5000;
    o.client_name = "cache-bounds-load";
    cc_client *c = cc_client_create(&o);
    if (!c || cc_connect(c) != CC_OK) {
        fprintf(stderr, "cache-bounds-load: cannot connect to %s\n", sock);
        exit(1);
    }
    return c;
}

struct result {
    uint64_t calls, errors, last_status;
    char last_err[160];
    double *lat; /* ms per call */
    size_t nlat, cap;
};

static void _record(struct result *r, double ms, int st, cc_client *c)
{
    r->calls++;
    if (st != CC_OK && st != CC_NOT_FOUND) {
        r->errors++;
        r->last_status = (uint64_t)st;
        snprintf(r->last_err, sizeof(r->last_err), "%s", cc_errmsg(c));
    }
    if (r->nlat == r->cap) {
        r->cap = r->cap ? r->cap * 2 : 1024;
        r->lat = realloc(r->lat, r->cap * sizeof(double));
        if (!r->lat)
            exit(1);
    }
    r->lat[r->nlat++] = ms;
}

#define KEYW 24 /* room for one key, "s:" and 8 or more digits */
static size_t _key(char *buf, uint64_t i)
{
    return (size_t)snprintf(buf, KEYW, "s:%08llu", (unsigned long long)i);
}

static void *_mget(void *arg)
{
    struct result *r = arg;
    cc_client *c = _client();
    size_t n = (size_t)arg_n;
    char *kb = malloc(n * KEYW);
    const void **keys = malloc(n * sizeof(*keys));
    size_t *lens = malloc(n * sizeof(*lens));
    cc_item *out = calloc(n, sizeof(*out));
    if (!kb || !keys || !lens || !out)
        exit(1);
    unsigned seed = (unsigned)(uintptr_t)r;
    double end = _now() + seconds;
    while (_now() < end) {
        for (size_t i = 0; i < n; i++) {
            lens[i] = _key(kb + i * KEYW, (uint64_t)rand_r(&seed) % items);
            keys[i] = kb + i * KEYW;
        }
        double t0 = _now();
        int st = cc_mget(c, n, keys, lens, out);
        _record(r, (_now() - t0) * 1e3, st, c);
        if (st == CC_OK)
            for (size_t i = 0; i < n; i++)
                cc_item_release(&out[i]);
        _gap();
    }
    cc_client_destroy(&c);
    free(kb);
    free(keys);
    free(lens);
    free(out);
    return NULL;
}

static void *_scan(void *arg)
{
    struct result *r = arg;
    cc_client *c = _client();
    double end = _now() + seconds;
    uint64_t cursor = 0;
    while (_now() < end) {
        cc_keys k = {0};
        double t0 = _now();
        int st = cc_scan(c, cursor, "", 0, (uint32_t)arg_n, &cursor, &k);
        _record(r, (_now() - t0) * 1e3, st, c);
        if (st == CC_OK)
            cc_keys_release(&k);
        else
            cursor = 0;
        _gap();
    }
    cc_client_destroy(&c);
    return NULL;
}

static void *_set(void *arg)
{
    struct result *r = arg;
    cc_client *c = _client();
    uint8_t *v = malloc((size_t)arg_n);
    if (!v)
        exit(1);
    memset(v, 'x', (size_t)arg_n);
    char key[32];
    snprintf(key, sizeof(key), "big:%p", arg);
    cc_value val = cc_value_bytes(v, (size_t)arg_n);
    double end = _now() + seconds;
    while (_now() < end) {
        double t0 = _now();
        int st = cc_set(c, key, strlen(key), &val, 0, 0, 0, NULL);
        _record(r, (_now() - t0) * 1e3, st, c);
        _gap();
    }
    cc_client_destroy(&c);
    free(v);
    return NULL;
}

/* Raw socket: GET frames [2, id, "pipe:v"] sent without reading anything back. */
static void *_pipeline(void *arg)
{
    struct result *r = arg;
    size_t n = (size_t)arg_n, flen = 4 + 1 + 1 + 5 + 1 + 6;
    uint8_t *frames = malloc(n * flen);
    if (!frames)
        exit(1);
    for (size_t i = 0; i < n; i++) {
        uint8_t *f = frames + i * flen;
        f[0] = 0, f[1] = 0, f[2] = 0, f[3] = (uint8_t)(flen - 4);
        f[4] = 0x93;             /* array of 3 */
        f[5] = 0x02;             /* op GET */
        f[6] = 0xce;             /* uint32 id */
        f[7] = (uint8_t)(i >> 24), f[8] = (uint8_t)(i >> 16), f[9] = (uint8_t)(i >> 8);
        f[10] = (uint8_t)i;
        f[11] = 0xa6;            /* str 6 */
        memcpy(f + 12, "pipe:v", 6);
    }
    struct sockaddr_un a = {.sun_family = AF_UNIX};
    snprintf(a.sun_path, sizeof(a.sun_path), "%s", sock);
    double end = _now() + seconds;
    while (_now() < end) {
        int fd = socket(AF_UNIX, SOCK_STREAM, 0);
        if (fd < 0 || connect(fd, (struct sockaddr *)&a, sizeof(a)) != 0) {
            r->errors++;
            if (fd >= 0)
                close(fd);
            usleep(250000);
            continue;
        }
        fcntl(fd, F_SETFL, O_NONBLOCK);
        size_t off = 0, total = n * flen;
        double t0 = _now(), stop = t0 + 0.25;
        while (off < total && _now() < stop) {
            ssize_t w = send(fd, frames + off, total - off, MSG_NOSIGNAL);
            if (w > 0)
                off += (size_t)w;
            else if (w < 0 && errno != EAGAIN && errno != EINTR)
                break;
            else
                usleep(1000);
        }
        /* how long the server took to take every request in (it stops reading once its
         * replies pile up above max-output-buffer, so that may be never) */
        _record(r, off == total ? (_now() - t0) * 1e3 : 250.0, off == total ? CC_OK : CC_E_TIMEOUT,
                NULL);
        if (off < total)
            snprintf(r->last_err, sizeof(r->last_err), "sent %zu of %zu request bytes in 250 ms",
                     off, total);
        double rest = stop - _now();
        if (rest > 0)
            usleep((useconds_t)(rest * 1e6));
        close(fd);
    }
    free(frames);
    return NULL;
}

static int _cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static void _populate(void)
{
    cc_client *c = _client();
    enum { BATCH = 1000 };
    static char kb[BATCH][KEYW];
    const void *keys[BATCH];
    size_t lens[BATCH];
    cc_value vals[BATCH];
    uint64_t ttls[BATCH] = {0};
    uint8_t *v = malloc(value_size);
    if (!v)
        exit(1);
    memset(v, 'v', value_size);
    for (uint64_t i = 0; i < arg_n; i += BATCH) {
        size_t m = arg_n - i < BATCH ? (size_t)(arg_n - i) : BATCH;
        for (size_t j = 0; j < m; j++) {
            lens[j] = _key(kb[j], i + j);
            keys[j] = kb[j];
            vals[j] = cc_value_bytes(v, value_size);
        }
        int st = cc_mset(c, m, keys, lens, vals, ttls);
        if (st != CC_OK) {
            fprintf(stderr, "cache-bounds-load: populate: %s\n", cc_errmsg(c));
            exit(1);
        }
    }
    free(v);
    cc_client_destroy(&c);
}

static void _usage(void)
{
    fprintf(stderr, "usage: cache-bounds-load --socket PATH [--items N] [--value-size N] [--gap-ms G] "
                    "populate ITEMS VALUE_SIZE | mget KEYS S CONNS | scan COUNT S CONNS | "
                    "set SIZE S CONNS | pipeline REQUESTS S CONNS\n");
    exit(2);
}

int main(int argc, char **argv)
{
    int i = 1;
    for (; i < argc && !strncmp(argv[i], "--", 2); i += 2) {
        if (i + 1 >= argc)
            _usage();
        if (!strcmp(argv[i], "--socket"))
            sock = argv[i + 1];
        else if (!strcmp(argv[i], "--items"))
            items = strtoull(argv[i + 1], NULL, 10);
        else if (!strcmp(argv[i], "--gap-ms"))
            gap_ms = (unsigned)strtoul(argv[i + 1], NULL, 10);
        else if (!strcmp(argv[i], "--value-size"))
            value_size = strtoull(argv[i + 1], NULL, 10);
        else
            _usage();
    }
    if (!sock || argc - i < 3)
        _usage();
    mode = argv[i];
    arg_n = strtoull(argv[i + 1], NULL, 10);
    if (!strcmp(mode, "populate")) {
        value_size = strtoull(argv[i + 2], NULL, 10);
        _populate();
        return 0;
    }
    if (argc - i < 4)
        _usage();
    seconds = atof(argv[i + 2]);
    int conns = atoi(argv[i + 3]);
    void *(*fn)(void *) = !strcmp(mode, "mget") ? _mget
                          : !strcmp(mode, "scan") ? _scan
                          : !strcmp(mode, "set") ? _set
                          : !strcmp(mode, "pipeline") ? _pipeline
                                                      : NULL;
    if (!fn || conns < 1 || conns > 64 || arg_n == 0)
        _usage();
    if (fn == _pipeline) {
        cc_client *c = _client();
        uint8_t *v = malloc(value_size);
        if (!v)
            exit(1);
        memset(v, 'p', value_size);
        cc_value val = cc_value_bytes(v, value_size);
        if (cc_set(c, "pipe:v", 6, &val, 0, 0, 0, NULL) != CC_OK) {
            fprintf(stderr, "cache-bounds-load: SET pipe:v: %s\n", cc_errmsg(c));
            return 1;
        }
        free(v);
        cc_client_destroy(&c);
    }
    struct result *res = calloc((size_t)conns, sizeof(*res));
    pthread_t *th = calloc((size_t)conns, sizeof(*th));
    if (!res || !th)
        return 1;
    for (int k = 0; k < conns; k++) {
        if (pthread_create(&th[k], NULL, fn, &res[k]) != 0)
            return 1;
        usleep(20000); /* connect in order: consecutive connections, different workers */
    }
    struct result all = {0};
    for (int k = 0; k < conns; k++) {
        pthread_join(th[k], NULL);
        all.calls += res[k].calls;
        all.errors += res[k].errors;
        if (res[k].errors || res[k].last_err[0]) {
            all.last_status = res[k].last_status;
            memcpy(all.last_err, res[k].last_err, sizeof(all.last_err));
        }
        for (size_t j = 0; j < res[k].nlat; j++) {
            if (all.nlat == all.cap) {
                size_t ncap = all.cap ? all.cap * 2 : 1024;
                double *nlat = realloc(all.lat, ncap * sizeof(double));
                if (!nlat) {
                    free(all.lat);
                    return 1;
                }
                all.lat = nlat;
                all.cap = ncap;
            }
            all.lat[all.nlat++] = res[k].lat[j];
        }
        free(res[k].lat);
    }
    if (all.nlat) /* qsort's array may not be NULL, even empty */
        qsort(all.lat, all.nlat, sizeof(double), _cmp);
    double p50 = all.nlat ? all.lat[all.nlat / 2] : 0;
    double p99 = all.nlat ? all.lat[(size_t)((double)all.nlat * 0.99)] : 0;
    double max = all.nlat ? all.lat[all.nlat - 1] : 0;
    printf("%s %llu x %d conns: %llu calls in %.0f s, %llu errors%s%s%s; per call p50 %.2f ms, "
           "p99 %.2f ms, max %.2f ms\n",
           mode, (unsigned long long)arg_n, conns, (unsigned long long)all.calls, seconds,
           (unsigned long long)all.errors, all.last_err[0] ? " (" : "",
           all.last_err, all.last_err[0] ? ")" : "", p50, p99, max);
    free(all.lat);
    free(res);
    free(th);
    return 0;
}
