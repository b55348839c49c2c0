/* Handing the shared-memory read region to clients (docs/shm-reads.md, step 3), against
 * real cacheserverd processes:
 *   permission  HELLO shm "r" gets a read-only descriptor that cannot be mapped writable nor
 *               reopened writable, sealed; shm-reads off answers shm false with no
 *               descriptor; shm "x" is E_BAD_ARGS; libcacheclient clients map the region,
 *               two of one process share one mapping, and GET/SET work as before; a client
 *               whose server restarts gets the new region after it reconnects.
 *   old server  a stand-in for a server older than the option (E_BAD_ARGS "unknown HELLO
 *               option"): the client repeats HELLO without it, works, and asks no more.
 *   faults      (fault builds, else "# skipped") FAULT shm-bad-size and shm-unsealed: the
 *               client maps nothing and keeps working over the socket.
 * The client hooks (cc_shm_region_id, cc_shm_mappings) are libcacheclient's internal ones. */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <fcntl.h>
#include <msgpack.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <pthread.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "client-internal.h"
#include "client_test.h"
#include "harness.h"

#ifndef F_SEAL_FUTURE_WRITE
#define F_SEAL_FUTURE_WRITE 0x0010
#endif

/* ---- raw requests that may bring a descriptor ---- */

/* Read exactly n bytes; the first descriptor received goes to *fd (libcacheclient's
 * cc_recv_fd: the others are closed). */
static int _recv_fd_all(int s, uint8_t *buf, size_t n, int *fd)
{
    for (size_t got = 0; got < n;) {
        ssize_t r = cc_recv_fd(s, buf + got, n - got, fd);
        if (r <= 0)
            return -1;
        got += (size_t)r;
    }
    return 0;
}

static void _pk_str(msgpack_packer *pk, const char *s)
{
    msgpack_pack_str(pk, strlen(s));
    msgpack_pack_str_body(pk, s, strlen(s));
}

/* A request [op, id, 2 arguments] being packed. */
struct raw {
    msgpack_sbuffer sb;
    msgpack_packer pk;
};

static void _raw_begin(struct raw *q, uint64_t op, uint64_t id)
{
    msgpack_sbuffer_init(&q->sb);
    msgpack_packer_init(&q->pk, &q->sb, msgpack_sbuffer_write);
    msgpack_pack_array(&q->pk, 4);
    msgpack_pack_uint64(&q->pk, op);
    msgpack_pack_uint64(&q->pk, id);
}

/* Send it on a fresh connection of h: the connection. */
static int _raw_send(const struct harness *h, struct raw *q)
{
    int s = harness_connect(h);
    assert_true(s >= 0);
    assert_int_equal(harness_send_frame(s, q->sb.data, q->sb.size), 0);
    msgpack_sbuffer_destroy(&q->sb);
    return s;
}

struct hello {
    uint64_t status;
    int shm;   /* -1: no shm key in the reply, else its value */
    int fd;    /* the descriptor that came with the reply, -1 */
    char msg[200];
};

/* HELLO on a fresh connection of h, with shm = value (NULL: no option). */
static struct hello _hello_raw(const struct harness *h, const char *value)
{
    struct hello out = {.shm = -1, .fd = -1};
    struct raw q;
    _raw_begin(&q, CC_OP_HELLO, 7);
    msgpack_pack_uint64(&q.pk, CC_PROTOCOL_VERSION);
    msgpack_pack_map(&q.pk, value ? 1 : 0);
    if (value) {
        _pk_str(&q.pk, "shm");
        _pk_str(&q.pk, value);
    }
    int s = _raw_send(h, &q);
    uint8_t hdr[CC_FRAME_HEADER_SIZE];
    assert_int_equal(_recv_fd_all(s, hdr, sizeof(hdr), &out.fd), 0);
    size_t len = cc_be32_read(hdr);
    uint8_t *body = malloc(len ? len : 1);
    assert_non_null(body);
    assert_int_equal(_recv_fd_all(s, body, len, &out.fd), 0);
    close(s);
    struct mp_cursor c;
    uint32_t n;
    uint64_t id;
    mp_cursor_init(&c, body, len);
    assert_true(mp_read_array(&c, &n) && n >= 2 && mp_read_uint(&c, &id) &&
                mp_read_uint(&c, &out.status));
    if (out.status != CC_OK) {
        const uint8_t *m;
        uint32_t ml;
        if (mp_read_bytes(&c, &m, &ml))
            snprintf(out.msg, sizeof(out.msg), "%.*s", (int)ml, m);
    } else {
        uint32_t nk;
        assert_true(mp_read_map(&c, &nk));
        for (uint32_t i = 0; i < nk; i++) {
            const uint8_t *k;
            uint32_t kl;
            bool b;
            assert_true(mp_read_bytes(&c, &k, &kl));
            if (kl == 3 && !memcmp(k, "shm", 3)) {
                assert_true(mp_read_bool(&c, &b));
                out.shm = b;
            } else {
                assert_true(mp_skip_any(&c, 8));
            }
        }
    }
    free(body);
    return out;
}

/* ---- the client side ---- */

static cc_client *_client(const struct harness *h)
{
    cc_client *c = client_test_new(h, NULL, "test_shm");
    EXPECT_STATUS(c, CC_OK, cc_connect(c));
    return c;
}

/* SET then GET of key over the socket. */
static void _set_get(cc_client *c, const char *key, const char *val)
{
    cc_value v = cc_value_bytes(val, strlen(val));
    EXPECT_STATUS(c, CC_OK, cc_set(c, key, strlen(key), &v, 0, 0, 0, NULL));
    cc_item it;
    EXPECT_STATUS(c, CC_OK, cc_get(c, key, strlen(key), &it));
    assert_int_equal(it.value.len, strlen(val));
    assert_memory_equal(it.value.data, val, strlen(val));
    cc_item_release(&it);
}

static bool _kernel_has_future_write(void)
{
    int fd = memfd_create("probe", MFD_CLOEXEC | MFD_ALLOW_SEALING);
    assert_true(fd >= 0);
    bool ok = fcntl(fd, F_ADD_SEALS, F_SEAL_FUTURE_WRITE) == 0;
    close(fd);
    return ok;
}

/* /proc/self/fd/fd opened read-write: refused (mode 0400, for any uid but root's), and for
 * root, whom the mode does not stop, every write through it refused by the seal. */
static void _no_writable_reopen(int fd, bool future_write)
{
    char path[64];
    snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
    if (geteuid() == 0) {
        /* as another uid (dumpable again, so /proc/self is still ours to open) */
        pid_t pid = fork();
        assert_true(pid >= 0);
        if (pid == 0) {
            if (setgid(65534) != 0 || setuid(65534) != 0)
                _exit(2);
            prctl(PR_SET_DUMPABLE, 1);
            int w = open(path, O_RDWR);
            _exit(w < 0 && errno == EACCES ? 0 : 1);
        }
        int ws;
        assert_int_equal(waitpid(pid, &ws, 0), pid);
        assert_true(WIFEXITED(ws));
        assert_int_equal(WEXITSTATUS(ws), 0);
        int w = open(path, O_RDWR | O_CLOEXEC);
        if (w >= 0) { /* root: the seal is what stops it */
            assert_true(future_write);
            errno = 0;
            assert_true(write(w, "x", 1) < 0 && errno == EPERM);
            void *p = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, w, 0);
            assert_true(p == MAP_FAILED && errno == EPERM);
            close(w);
        }
    } else {
        int w = open(path, O_RDWR | O_CLOEXEC);
        assert_true(w < 0);
        assert_int_equal(errno, EACCES);
    }
}

static void test_shm_permission(void **state)
{
    (void)state;
    const char *args[] = {"--memory", "64MiB", "--shm-reads", "true", NULL};
    srv = harness_start(args);

    /* without the option: HELLO's reply as before */
    struct hello r = _hello_raw(srv, NULL);
    assert_int_equal(r.status, CC_OK);
    assert_int_equal(r.shm, -1);
    assert_int_equal(r.fd, -1);
    /* a value other than "r" */
    r = _hello_raw(srv, "x");
    assert_int_equal(r.status, CC_E_BAD_ARGS);
    assert_non_null(strstr(r.msg, "shm"));
    assert_int_equal(r.fd, -1);

    /* shm "r": a read-only, sealed descriptor */
    r = _hello_raw(srv, "r");
    assert_int_equal(r.status, CC_OK);
    assert_int_equal(r.shm, 1);
    assert_true(r.fd >= 0);
    int seals = fcntl(r.fd, F_GET_SEALS);
    assert_true(seals >= 0);
    assert_int_equal(seals & (F_SEAL_SHRINK | F_SEAL_GROW), F_SEAL_SHRINK | F_SEAL_GROW);
    bool fw = _kernel_has_future_write();
    if (fw)
        assert_true(seals & F_SEAL_FUTURE_WRITE);
    assert_int_equal(fcntl(r.fd, F_GETFL) & O_ACCMODE, O_RDONLY);
    errno = 0;
    void *p = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, r.fd, 0);
    assert_true(p == MAP_FAILED);
    assert_true(errno == EACCES || errno == EPERM);
    p = mmap(NULL, 4096, PROT_READ, MAP_SHARED, r.fd, 0);
    assert_true(p != MAP_FAILED);
    assert_int_not_equal(mprotect(p, 4096, PROT_READ | PROT_WRITE), 0);
    assert_true(errno == EACCES || errno == EPERM);
    munmap(p, 4096);
    _no_writable_reopen(r.fd, fw);
    /* the checks libcacheclient makes before it maps */
    const void *base;
    size_t size;
    uint64_t id;
    char err[200];
    assert_int_equal(cc_shm_map(r.fd, &base, &size, &id, err, sizeof(err)), 0);
    assert_int_equal(size, harness_stat(srv, "shm.size"));
    assert_int_not_equal(id, 0);
    munmap((void *)base, size);
    close(r.fd);

    /* clients of one process share one mapping of the region */
    unsigned before = cc_shm_mappings();
    cc_client *a = _client(srv), *b = _client(srv);
    assert_int_equal(cc_shm_region_id(a), id);
    assert_int_equal(cc_shm_region_id(b), id);
    assert_int_equal(cc_shm_mappings(), before + 1);
    _set_get(a, "k1", "value one");
    _set_get(b, "k1", "value two");
    cc_client_destroy(&a);
    assert_int_equal(cc_shm_mappings(), before + 1);
    cc_client_destroy(&b);
    /* still mapped: the current region of its path stays for the process's next client */
    assert_int_equal(cc_shm_mappings(), before + 1);
    assert_true(harness_stat(srv, "shm.fds_sent") >= 3);

    /* a restart: the client's next connection brings the new region */
    cc_client *c = _client(srv);
    assert_int_equal(cc_shm_region_id(c), id);
    harness_restart(srv);
    cc_item it;
    int st = cc_get(c, "k1", 2, &it); /* the old connection may fail once */
    if (st == CC_OK)
        cc_item_release(&it);
    _set_get(c, "k2", "after the restart");
    assert_int_not_equal(cc_shm_region_id(c), 0);
    assert_int_not_equal(cc_shm_region_id(c), id);
    assert_int_equal(cc_shm_mappings(), before + 1); /* the old one is gone */
    cc_client_destroy(&c);
    harness_destroy(&srv);

    /* shm-reads off: shm false, no descriptor, and the client works without a region */
    const char *off[] = {"--memory", "64MiB", "--shm-reads", "false", NULL};
    srv = harness_start(off);
    r = _hello_raw(srv, "r");
    assert_int_equal(r.status, CC_OK);
    assert_int_equal(r.shm, 0);
    assert_int_equal(r.fd, -1);
    c = _client(srv);
    assert_int_equal(cc_shm_region_id(c), 0);
    _set_get(c, "k", "v");
    cc_client_destroy(&c);
    assert_int_equal(harness_stat(srv, "shm.fds_sent"), 0);
    harness_destroy(&srv);
}

static void test_shm_faults(void **state)
{
    (void)state;
    const char *args[] = {"--memory", "64MiB", "--shm-reads", "true", NULL};
    srv = harness_start(args);
    if (harness_skip_without_faults(&srv))
        return;
    const char *kinds[] = {"shm-bad-size", "shm-unsealed"};
    const char *why[] = {"header says", "not sealed"};
    for (int k = 0; k < 2; k++) {
        assert_int_equal(harness_fault(srv, kinds[k], 1), 1);
        unsigned before = cc_shm_mappings();
        cc_client *c = _client(srv);
        assert_int_equal(cc_shm_region_id(c), 0);
        if (!strstr(c->shm_err, why[k]))
            fail_msg("%s: the client refused the region for another reason: %s", kinds[k],
                     c->shm_err);
        assert_int_equal(cc_shm_mappings(), before);
        _set_get(c, "k", kinds[k]);
        cc_client_destroy(&c);
        /* the fault was for one HELLO: the next client maps the region */
        c = _client(srv);
        assert_int_not_equal(cc_shm_region_id(c), 0);
        _set_get(c, "k", "after");
        cc_client_destroy(&c);
    }
    harness_destroy(&srv);
}

/* ---- a server older than the option: a thread answering as one did ---- */

struct old_server {
    char path[108];
    int lfd;
    int hellos, hellos_shm; /* HELLOs seen, and how many asked for shm */
};

/* Answer frames on s until it closes: HELLO with an shm option as an old server did
 * (E_BAD_ARGS), any other HELLO with an empty map, anything else with [id, OK]. */
static void _old_serve(struct old_server *o, int s)
{
    uint8_t *body;
    size_t len;
    while (harness_recv_frame(s, &body, &len) == 0) {
        struct mp_cursor c;
        uint32_t n, nopts = 0;
        uint64_t op = 0, id = 0, ver;
        bool shm = false;
        mp_cursor_init(&c, body, len);
        if (mp_read_array(&c, &n) && mp_read_uint(&c, &op) && mp_read_uint(&c, &id) &&
            op == CC_OP_HELLO && mp_read_uint(&c, &ver) && n == 4 && mp_read_map(&c, &nopts))
            for (uint32_t i = 0; i < nopts; i++) {
                const uint8_t *k, *v;
                uint32_t kl, vl;
                if (mp_read_bytes(&c, &k, &kl) && mp_read_bytes(&c, &v, &vl) && kl == 3 &&
                    !memcmp(k, "shm", 3))
                    shm = true;
            }
        free(body);
        msgpack_sbuffer sb;
        msgpack_packer pk;
        msgpack_sbuffer_init(&sb);
        msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
        if (op == CC_OP_HELLO) {
            o->hellos++;
            o->hellos_shm += shm;
        }
        if (op == CC_OP_HELLO && shm) {
            msgpack_pack_array(&pk, 3);
            msgpack_pack_uint64(&pk, id);
            msgpack_pack_uint64(&pk, CC_E_BAD_ARGS);
            _pk_str(&pk, "unknown HELLO option 'shm'");
        } else {
            msgpack_pack_array(&pk, op == CC_OP_HELLO ? 3 : 2);
            msgpack_pack_uint64(&pk, id);
            msgpack_pack_uint64(&pk, CC_OK);
            if (op == CC_OP_HELLO)
                msgpack_pack_map(&pk, 0);
        }
        int rc = harness_send_frame(s, sb.data, sb.size);
        msgpack_sbuffer_destroy(&sb);
        if (rc != 0)
            break;
    }
    close(s);
}

static void *_old_thread(void *arg)
{
    struct old_server *o = arg;
    for (int i = 0; i < 2; i++) { /* the two connections of the test */
        int s = accept(o->lfd, NULL, NULL);
        if (s < 0)
            break;
        _old_serve(o, s);
    }
    return NULL;
}

static void test_shm_old_server(void **state)
{
    (void)state;
    struct old_server o = {0};
    snprintf(o.path, sizeof(o.path), "/tmp/cc-test-shm-old.%d.sock", (int)getpid());
    unlink(o.path);
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    strcpy(sa.sun_path, o.path);
    o.lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    assert_true(o.lfd >= 0);
    assert_int_equal(bind(o.lfd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    assert_int_equal(listen(o.lfd, 4), 0);
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, _old_thread, &o), 0);

    cc_options opt;
    cc_options_init(&opt);
    opt.socket_path = o.path;
    cc_client *c = cc_client_create(&opt);
    assert_non_null(c);
    EXPECT_STATUS(c, CC_OK, cc_ping(c)); /* HELLO with shm refused, HELLO again, PING */
    assert_int_equal(cc_shm_region_id(c), 0);
    cc_disconnect(c);
    EXPECT_STATUS(c, CC_OK, cc_ping(c)); /* a new connection: HELLO without shm at once */
    cc_client_destroy(&c);
    pthread_join(t, NULL);
    close(o.lfd);
    unlink(o.path);
    assert_int_equal(o.hellos, 3);
    assert_int_equal(o.hellos_shm, 1);
}

int main(int argc, char **argv)
{
    const char *which = argc > 1 ? argv[1] : "";
    const struct CMUnitTest perm[] = {cmocka_unit_test(test_shm_permission),
                                      cmocka_unit_test(test_shm_old_server)};
    const struct CMUnitTest faults[] = {cmocka_unit_test(test_shm_faults)};
    if (!strcmp(which, "faults"))
        return cmocka_run_group_tests_name("shm_faults", faults, NULL, group_teardown);
    return cmocka_run_group_tests_name("shm_permission", perm, NULL, group_teardown);
}
