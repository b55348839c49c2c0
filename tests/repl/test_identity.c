/* Unit tests of the replication identity: generating and loading key.pem and cert.pem (modes,
 * no overwrite, refused insecure or mismatched files), fingerprints checked against an
 * independent computation, the fingerprint parser, and real TLS 1.3 handshakes over a
 * socketpair driven by a non-blocking loop: pinned peers connect, anything else is refused. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "identity.h"

/* Three identities for the TLS tests: a server, a client, and a stranger. */
struct fixture {
    char base[64];
    struct repl_identity srv, cli, other;
};

static int _rm(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st, (void)flag, (void)ftw;
    return remove(path);
}

static void _mkdtemp(char *out, size_t outlen)
{
    snprintf(out, outlen, "/tmp/repl_identity.XXXXXX");
    if (!mkdtemp(out))
        fail_msg("mkdtemp: %s", strerror(errno));
}

static void _path(char *out, size_t outlen, const char *dir, const char *name)
{
    snprintf(out, outlen, "%s/%s", dir, name);
}

static void _generate(const char *dir, const char *cn, char fp[REPL_FP_HEX_SIZE])
{
    char err[512] = "";
    enum repl_id_status rc = repl_identity_generate(dir, cn, fp, REPL_FP_HEX_SIZE, err,
                                                    sizeof(err));
    if (rc != REPL_ID_OK)
        fail_msg("generate %s: status %d: %s", dir, rc, err);
}

static void _load(const char *dir, struct repl_identity *id)
{
    char err[512] = "";
    enum repl_id_status rc = repl_identity_load(dir, id, err, sizeof(err));
    if (rc != REPL_ID_OK)
        fail_msg("load %s: status %d: %s", dir, rc, err);
}

static int setup_dir(void **state)
{
    char *dir = malloc(64);
    if (!dir)
        return -1;
    _mkdtemp(dir, 64);
    *state = dir;
    return 0;
}

static int teardown_dir(void **state)
{
    char *dir = *state;
    nftw(dir, _rm, 16, FTW_DEPTH | FTW_PHYS);
    free(dir);
    return 0;
}

static int setup_tls(void **state)
{
    struct fixture *f = calloc(1, sizeof(*f));
    if (!f)
        return -1;
    _mkdtemp(f->base, sizeof(f->base));
    const char *names[] = {"srv", "cli", "other"};
    struct repl_identity *ids[] = {&f->srv, &f->cli, &f->other};
    for (int i = 0; i < 3; i++) {
        char dir[128], fp[REPL_FP_HEX_SIZE];
        _path(dir, sizeof(dir), f->base, names[i]);
        _generate(dir, names[i], fp);
        _load(dir, ids[i]);
    }
    *state = f;
    return 0;
}

static int teardown_tls(void **state)
{
    struct fixture *f = *state;
    repl_identity_free(&f->srv);
    repl_identity_free(&f->cli);
    repl_identity_free(&f->other);
    nftw(f->base, _rm, 16, FTW_DEPTH | FTW_PHYS);
    free(f);
    return 0;
}

static mode_t _mode(const char *path)
{
    struct stat st;
    if (stat(path, &st) != 0)
        fail_msg("stat %s: %s", path, strerror(errno));
    return st.st_mode & 07777;
}

static size_t _read_all(const char *path, char *buf, size_t len)
{
    FILE *fp = fopen(path, "rb");
    if (!fp)
        fail_msg("fopen %s: %s", path, strerror(errno));
    size_t n = fread(buf, 1, len, fp);
    fclose(fp);
    return n;
}

/* The fingerprint computed here, not by the module: DER encoding, then SHA-256. */
static void _independent_fp(const char *cert_path, char hex[REPL_FP_HEX_SIZE])
{
    FILE *fp = fopen(cert_path, "r");
    assert_non_null(fp);
    X509 *x = PEM_read_X509(fp, NULL, NULL, NULL);
    fclose(fp);
    assert_non_null(x);
    unsigned char *der = NULL;
    int len = i2d_X509(x, &der);
    assert_true(len > 0);
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int mdlen = 0;
    assert_int_equal(EVP_Digest(der, (size_t)len, md, &mdlen, EVP_sha256(), NULL), 1);
    assert_int_equal(mdlen, 32);
    for (unsigned i = 0; i < mdlen; i++)
        snprintf(hex + 2 * i, 3, "%02x", md[i]);
    OPENSSL_free(der);
    X509_free(x);
}

static void test_generate_creates_dir_0700_key_0600_cert_0644(void **state)
{
    char dir[128], path[256], fp[REPL_FP_HEX_SIZE] = "";
    _path(dir, sizeof(dir), *state, "id");
    mode_t old = umask(0077);          /* cert.pem must still come out 0644 */
    _generate(dir, "node-a", fp);
    umask(old);

    assert_int_equal(_mode(dir), 0700);
    _path(path, sizeof(path), dir, "key.pem");
    assert_int_equal(_mode(path), 0600);
    _path(path, sizeof(path), dir, "cert.pem");
    assert_int_equal(_mode(path), 0644);

    /* Exactly the two files: no temporary left behind. */
    DIR *d = opendir(dir);
    assert_non_null(d);
    int files = 0;
    for (struct dirent *e; (e = readdir(d));) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        if (strcmp(e->d_name, "key.pem") != 0 && strcmp(e->d_name, "cert.pem") != 0)
            fail_msg("unexpected file %s in %s", e->d_name, dir);
        files++;
    }
    closedir(d);
    assert_int_equal(files, 2);

    assert_int_equal(strlen(fp), 64);
    assert_int_equal(strspn(fp, "0123456789abcdef"), 64);
}

static void test_generate_refuses_to_overwrite_key(void **state)
{
    char dir[128], path[256], fp[REPL_FP_HEX_SIZE], fp2[REPL_FP_HEX_SIZE] = "";
    char before[4096], after[4096], err[512] = "";
    _path(dir, sizeof(dir), *state, "id");
    _generate(dir, "node-a", fp);
    _path(path, sizeof(path), dir, "key.pem");
    size_t n = _read_all(path, before, sizeof(before));

    assert_int_equal(repl_identity_generate(dir, "node-b", fp2, sizeof(fp2), err, sizeof(err)),
                     REPL_ID_EXISTS);
    if (!strstr(err, "already exists"))
        fail_msg("expected \"already exists\" in the error, got \"%s\"", err);
    assert_string_equal(fp2, "");
    assert_int_equal(_read_all(path, after, sizeof(after)), n);
    assert_memory_equal(before, after, n);

    /* The identity on disk is still the first one. */
    struct repl_identity id;
    _load(dir, &id);
    assert_string_equal(id.fp_hex, fp);
    assert_string_equal(id.cn, "node-a");
    repl_identity_free(&id);
}

static void test_generate_rejects_bad_common_name(void **state)
{
    char dir[128], err[256];
    _path(dir, sizeof(dir), *state, "id");
    char long_cn[66];
    memset(long_cn, 'x', 65);
    long_cn[65] = '\0';
    assert_int_equal(repl_identity_generate(dir, "", NULL, 0, err, sizeof(err)),
                     REPL_ID_INVALID);
    assert_int_equal(repl_identity_generate(dir, long_cn, NULL, 0, err, sizeof(err)),
                     REPL_ID_INVALID);
}

static void test_load_matches_generate_and_independent_fingerprint(void **state)
{
    char dir[128], path[256], fp[REPL_FP_HEX_SIZE], indep[REPL_FP_HEX_SIZE];
    _path(dir, sizeof(dir), *state, "id");
    time_t before = time(NULL);
    _generate(dir, "node-a.example", fp);

    struct repl_identity id;
    _load(dir, &id);
    assert_string_equal(id.fp_hex, fp);
    _path(path, sizeof(path), dir, "cert.pem");
    _independent_fp(path, indep);
    assert_string_equal(id.fp_hex, indep);
    uint8_t raw[REPL_FP_LEN];
    assert_int_equal(repl_fingerprint_parse(indep, raw), 0);
    assert_memory_equal(raw, id.fp, REPL_FP_LEN);
    assert_string_equal(id.cn, "node-a.example");

    /* And the openssl tool's view, when it is installed. */
    if (system("command -v openssl >/dev/null 2>&1") == 0) {
        char cmd[512], line[256] = "";
        snprintf(cmd, sizeof(cmd), "openssl x509 -noout -fingerprint -sha256 -in '%s'", path);
        FILE *p = popen(cmd, "r");
        assert_non_null(p);
        assert_non_null(fgets(line, sizeof(line), p));
        assert_int_equal(pclose(p), 0);
        char hex[REPL_FP_HEX_SIZE];
        size_t k = 0;
        for (const char *c = strchr(line, '=') + 1; *c && *c != '\n'; c++)
            if (*c != ':' && k < 64)
                hex[k++] = (char)(*c >= 'A' && *c <= 'F' ? *c - 'A' + 'a' : *c);
        hex[k] = '\0';
        assert_string_equal(hex, fp);
        assert_int_equal(repl_fingerprint_parse(line, raw), 0);
        assert_memory_equal(raw, id.fp, REPL_FP_LEN);
    }

    /* The certificate is what was asked for. */
    assert_true(EVP_PKEY_is_a(id.key, "ED25519"));
    assert_int_equal(X509_get_version(id.cert), X509_VERSION_3);
    X509_NAME *issuer = X509_get_issuer_name(id.cert);
    assert_int_equal(X509_NAME_cmp(issuer, X509_get_subject_name(id.cert)), 0);
    BIGNUM *serial = ASN1_INTEGER_to_BN(X509_get0_serialNumber(id.cert), NULL);
    assert_non_null(serial);
    assert_false(BN_is_negative(serial));
    assert_true(BN_num_bits(serial) > 96 && BN_num_bits(serial) <= 128);
    BN_free(serial);
    int64_t not_before = -1;
    struct tm tm;
    assert_int_equal(ASN1_TIME_to_tm(X509_get0_notBefore(id.cert), &tm), 1);
    not_before = (int64_t)timegm(&tm);
    assert_true(not_before >= before - 3600 - 2 && not_before <= time(NULL) - 3600);
    gmtime_r(&before, &tm);
    tm.tm_year += 10;
    int64_t expect = (int64_t)timegm(&tm);
    if (id.not_after < expect - 2 || id.not_after > expect + 5)
        fail_msg("notAfter %lld, expected about %lld (ten years)", (long long)id.not_after,
                 (long long)expect);
    assert_int_equal(repl_cert_expiry(id.cert), id.not_after);
    repl_identity_free(&id);
    repl_identity_free(&id);           /* twice is fine */
}

static void test_load_refuses_key_readable_by_others(void **state)
{
    char dir[128], path[256], fp[REPL_FP_HEX_SIZE], err[512] = "";
    _path(dir, sizeof(dir), *state, "id");
    _generate(dir, "node-a", fp);
    _path(path, sizeof(path), dir, "key.pem");
    struct repl_identity id;

    const mode_t refused[] = {0644, 0640, 0604, 0660, 0602};
    for (size_t i = 0; i < sizeof(refused) / sizeof(refused[0]); i++) {
        assert_int_equal(chmod(path, refused[i]), 0);
        err[0] = '\0';
        enum repl_id_status rc = repl_identity_load(dir, &id, err, sizeof(err));
        if (rc != REPL_ID_INSECURE)
            fail_msg("mode %04o: expected REPL_ID_INSECURE (%d), got %d: %s",
                     (unsigned)refused[i], REPL_ID_INSECURE, rc, err);
        if (!strstr(err, "too open") || !strstr(err, "key.pem"))
            fail_msg("mode %04o: unclear error \"%s\"", (unsigned)refused[i], err);
        assert_null(id.key);
        assert_null(id.cert);
    }
    assert_int_equal(chmod(path, 0400), 0);
    _load(dir, &id);
    assert_string_equal(id.fp_hex, fp);
    repl_identity_free(&id);
}

static void test_load_refuses_cert_of_another_identity(void **state)
{
    char a[128], b[128], from[256], to[256], fp[REPL_FP_HEX_SIZE], err[512] = "";
    char buf[8192];
    _path(a, sizeof(a), *state, "a");
    _path(b, sizeof(b), *state, "b");
    _generate(a, "node-a", fp);
    _generate(b, "node-b", fp);
    _path(from, sizeof(from), b, "cert.pem");
    _path(to, sizeof(to), a, "cert.pem");
    size_t n = _read_all(from, buf, sizeof(buf));
    FILE *out = fopen(to, "wb");
    assert_non_null(out);
    assert_int_equal(fwrite(buf, 1, n, out), n);
    fclose(out);

    struct repl_identity id;
    assert_int_equal(repl_identity_load(a, &id, err, sizeof(err)), REPL_ID_MISMATCH);
    if (!strstr(err, "not the key"))
        fail_msg("unclear error \"%s\"", err);
    assert_null(id.key);
    assert_int_equal(ERR_peek_error(), 0);   /* the error queue is left empty */
}

static void test_load_reports_missing_and_garbage_files(void **state)
{
    char dir[128], path[256], fp[REPL_FP_HEX_SIZE], err[512] = "";
    struct repl_identity id;
    assert_int_equal(repl_identity_load(*state, &id, err, sizeof(err)), REPL_ID_MISSING);

    _path(dir, sizeof(dir), *state, "id");
    _generate(dir, "node-a", fp);
    _path(path, sizeof(path), dir, "cert.pem");
    FILE *out = fopen(path, "w");
    assert_non_null(out);
    fputs("not a certificate\n", out);
    fclose(out);
    assert_int_equal(repl_identity_load(dir, &id, err, sizeof(err)), REPL_ID_INVALID);
    assert_null(id.key);
    unlink(path);
    assert_int_equal(repl_identity_load(dir, &id, err, sizeof(err)), REPL_ID_MISSING);
}

static void test_fingerprint_parser_forms(void **state)
{
    (void)state;
    uint8_t fp[REPL_FP_LEN], got[REPL_FP_LEN];
    for (int i = 0; i < REPL_FP_LEN; i++)
        fp[i] = (uint8_t)(i * 37 + 11);
    char lower[REPL_FP_HEX_SIZE], upper[REPL_FP_HEX_SIZE], colons[3 * REPL_FP_LEN];
    repl_fingerprint_format(fp, lower);
    for (int i = 0; i < 64; i++)
        upper[i] = (char)(lower[i] >= 'a' ? lower[i] - 'a' + 'A' : lower[i]);
    upper[64] = '\0';
    for (int i = 0; i < REPL_FP_LEN; i++)
        snprintf(colons + 3 * i, 4, "%c%c%s", upper[2 * i], upper[2 * i + 1],
                 i + 1 < REPL_FP_LEN ? ":" : "");

    char buf[256];
    const char *good[] = {lower, upper, colons, buf, buf + 128};
    snprintf(buf, 128, "sha256 Fingerprint=%s\n", colons);
    snprintf(buf + 128, 128, "SHA256 Fingerprint=%s", colons);
    for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
        memset(got, 0, sizeof(got));
        if (repl_fingerprint_parse(good[i], got) != 0)
            fail_msg("refused a good fingerprint \"%s\"", good[i]);
        assert_memory_equal(got, fp, REPL_FP_LEN);
    }

    char bad[12][128];
    snprintf(bad[0], 128, "%.63s", lower);                     /* one short */
    snprintf(bad[1], 128, "%s0", lower);                       /* one long */
    snprintf(bad[2], 128, "%s", lower);
    bad[2][10] = 'g';                                          /* not hex */
    snprintf(bad[3], 128, "%s", colons);
    bad[3][5] = '-';                                           /* other separator */
    snprintf(bad[4], 128, "%s:", colons);                      /* trailing colon */
    snprintf(bad[5], 128, "%s", "");
    snprintf(bad[6], 128, "%s", "sha256 Fingerprint=");
    snprintf(bad[7], 128, "%.32s %.32s", lower, lower + 32);  /* space inside */
    snprintf(bad[8], 128, "%s", colons);
    memmove(bad[8] + 2, bad[8] + 3, strlen(bad[8] + 3) + 1);   /* one colon missing */
    snprintf(bad[9], 128, "sha1 Fingerprint=%s", colons);      /* other digest's prefix */
    snprintf(bad[10], 128, "%s", colons);
    bad[10][2] = 'A';                                          /* colon replaced by hex */
    snprintf(bad[11], 128, "0x%.62s", lower);
    memset(got, 0xaa, sizeof(got));
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        if (repl_fingerprint_parse(bad[i], got) == 0)
            fail_msg("accepted a bad fingerprint \"%s\"", bad[i]);
        for (int k = 0; k < REPL_FP_LEN; k++)
            assert_int_equal(got[k], 0xaa);                    /* out untouched */
    }
    assert_int_equal(repl_fingerprint_parse(NULL, got), -1);
}

/* TLS over a socketpair, both ends in this thread, non-blocking. */

struct end {
    SSL *ssl;
    int fd;
    int state;                  /* 0 handshaking, 1 done, -1 failed */
    char why[256];
};

static void _end_init(struct end *e, SSL_CTX *ctx, int fd, bool server)
{
    memset(e, 0, sizeof(*e));
    e->ssl = SSL_new(ctx);
    assert_non_null(e->ssl);
    e->fd = fd;
    assert_int_equal(fcntl(fd, F_SETFL, O_NONBLOCK), 0);
    assert_int_equal(SSL_set_fd(e->ssl, fd), 1);
    if (server)
        SSL_set_accept_state(e->ssl);
    else
        SSL_set_connect_state(e->ssl);
}

static void _end_free(struct end *e)
{
    SSL_free(e->ssl);
    if (e->fd >= 0)
        close(e->fd);
}

static void _step(struct end *e)
{
    if (e->state)
        return;
    ERR_clear_error();          /* one thread drives both ends: one error queue */
    int r = SSL_do_handshake(e->ssl);
    if (r == 1) {
        e->state = 1;
        return;
    }
    int code = SSL_get_error(e->ssl, r);
    if (code == SSL_ERROR_WANT_READ || code == SSL_ERROR_WANT_WRITE)
        return;
    e->state = -1;
    unsigned long err = ERR_peek_last_error();
    if (err)
        ERR_error_string_n(err, e->why, sizeof(e->why));
    else
        snprintf(e->why, sizeof(e->why), "SSL_get_error %d", code);
    ERR_clear_error();
}

static void _wait(int fd1, int fd2)
{
    struct pollfd p[2] = {{fd1, POLLIN, 0}, {fd2, POLLIN, 0}};
    poll(p, 2, 20);
}

/* Drive both handshakes until each has finished or failed (at most 5 s). */
static void _handshake(struct end *s, struct end *c)
{
    for (int i = 0; i < 250 && (!s->state || !c->state); i++) {
        _step(c);
        _step(s);
        if (!s->state || !c->state)
            _wait(s->fd, c->fd);
    }
    if (!s->state || !c->state)
        fail_msg("handshake did not end: server %d, client %d", s->state, c->state);
}

/* Read from e for up to 2 s: bytes read (> 0), 0 at a clean end, -1 on a TLS error. */
static int _read(struct end *e, char *buf, int len)
{
    for (int i = 0; i < 100; i++) {
        ERR_clear_error();
        int r = SSL_read(e->ssl, buf, len);
        if (r > 0)
            return r;
        int code = SSL_get_error(e->ssl, r);
        ERR_clear_error();
        if (code == SSL_ERROR_ZERO_RETURN)
            return 0;
        if (code != SSL_ERROR_WANT_READ && code != SSL_ERROR_WANT_WRITE)
            return -1;
        _wait(e->fd, e->fd);
    }
    fail_msg("read: nothing in 2 s");
    return -1;
}

static void _write(struct end *e, const char *msg)
{
    ERR_clear_error();
    assert_int_equal(SSL_write(e->ssl, msg, (int)strlen(msg)), (int)strlen(msg));
}

static SSL_CTX *_ctx(const struct repl_identity *id, bool server)
{
    char err[512] = "";
    SSL_CTX *ctx = repl_tls_ctx_new(id, server, err, sizeof(err));
    if (!ctx)
        fail_msg("repl_tls_ctx_new: %s", err);
    return ctx;
}

/* A pair of connected ends, server s and client c. */
static void _pair(struct end *s, SSL_CTX *sctx, struct end *c, SSL_CTX *cctx)
{
    int sv[2];
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
    _end_init(s, sctx, sv[0], true);
    _end_init(c, cctx, sv[1], false);
}

static void test_tls_pinned_peers_connect_with_tls13(void **state)
{
    struct fixture *f = *state;
    SSL_CTX *sctx = _ctx(&f->srv, true), *cctx = _ctx(&f->cli, false);
    struct end s, c;
    _pair(&s, sctx, &c, cctx);
    uint8_t allow[2][REPL_FP_LEN];
    memcpy(allow[0], f->other.fp, REPL_FP_LEN);   /* an allow-list of two */
    memcpy(allow[1], f->cli.fp, REPL_FP_LEN);
    assert_int_equal(repl_tls_pin(s.ssl, allow, 2), 0);
    assert_int_equal(repl_tls_pin(c.ssl, (const uint8_t(*)[REPL_FP_LEN])f->srv.fp, 1), 0);

    uint8_t fp[REPL_FP_LEN];
    assert_int_equal(repl_tls_peer_fingerprint(s.ssl, fp), -1);   /* not before */
    _handshake(&s, &c);
    if (s.state != 1 || c.state != 1)
        fail_msg("expected both ends to connect: server %d (%s), client %d (%s)", s.state,
                 s.why, c.state, c.why);

    assert_int_equal(SSL_version(s.ssl), TLS1_3_VERSION);
    assert_string_equal(SSL_get_version(c.ssl), "TLSv1.3");
    assert_int_equal(repl_tls_peer_fingerprint(s.ssl, fp), 0);
    assert_memory_equal(fp, f->cli.fp, REPL_FP_LEN);
    assert_int_equal(repl_tls_peer_fingerprint(c.ssl, fp), 0);
    assert_memory_equal(fp, f->srv.fp, REPL_FP_LEN);
    assert_int_equal(repl_tls_peer_expiry(s.ssl), f->cli.not_after);
    assert_int_equal(repl_tls_peer_expiry(c.ssl), f->srv.not_after);
    /* Both ends proved their keys with Ed25519 signatures. */
    int nid = 0;
    assert_int_equal(SSL_get_peer_signature_type_nid(s.ssl, &nid), 1);
    assert_int_equal(nid, NID_ED25519);
    assert_int_equal(SSL_get_peer_signature_type_nid(c.ssl, &nid), 1);
    assert_int_equal(nid, NID_ED25519);

    char buf[64];
    _write(&c, "ping");
    assert_int_equal(_read(&s, buf, sizeof(buf)), 4);
    assert_memory_equal(buf, "ping", 4);
    _write(&s, "pong");
    assert_int_equal(_read(&c, buf, sizeof(buf)), 4);
    assert_memory_equal(buf, "pong", 4);
    /* No ticket came with the data: nothing to resume with. */
    SSL_SESSION *sess = SSL_get1_session(c.ssl);
    if (sess) {
        assert_int_equal(SSL_SESSION_is_resumable(sess), 0);
        SSL_SESSION_free(sess);
    }

    /* A peer that closes without close_notify reads as a clean end, not an error. */
    close(c.fd);
    c.fd = -1;
    assert_int_equal(_read(&s, buf, sizeof(buf)), 0);

    _end_free(&s);
    _end_free(&c);
    SSL_CTX_free(sctx);
    SSL_CTX_free(cctx);
}

static void test_tls_client_pinning_wrong_server_fails(void **state)
{
    struct fixture *f = *state;
    SSL_CTX *sctx = _ctx(&f->srv, true), *cctx = _ctx(&f->cli, false);
    struct end s, c;
    _pair(&s, sctx, &c, cctx);
    assert_int_equal(repl_tls_pin(s.ssl, (const uint8_t(*)[REPL_FP_LEN])f->cli.fp, 1), 0);
    assert_int_equal(repl_tls_pin(c.ssl, (const uint8_t(*)[REPL_FP_LEN])f->other.fp, 1), 0);
    _handshake(&s, &c);
    if (c.state != -1 || s.state != -1)
        fail_msg("expected both ends to fail: server %d (%s), client %d (%s)", s.state, s.why,
                 c.state, c.why);
    if (!strstr(c.why, "certificate verify failed"))
        fail_msg("expected the client to fail verifying, got \"%s\"", c.why);
    uint8_t fp[REPL_FP_LEN];
    assert_int_equal(repl_tls_peer_fingerprint(c.ssl, fp), -1);
    assert_int_equal(repl_tls_peer_expiry(c.ssl), -1);
    _end_free(&s);
    _end_free(&c);
    SSL_CTX_free(sctx);
    SSL_CTX_free(cctx);
}

/* The client finishes its side of a TLS 1.3 handshake before the server has checked its
 * certificate, so a refused client learns it from the alert on its first read. */
static void _expect_server_refuses(struct end *s, struct end *c, const char *reason)
{
    _handshake(s, c);
    if (s->state != -1)
        fail_msg("expected the server to refuse the client: server %d, client %d (%s)",
                 s->state, c->state, c->why);
    if (!strstr(s->why, reason))
        fail_msg("expected the server to fail with \"%s\", got \"%s\"", reason, s->why);
    uint8_t fp[REPL_FP_LEN];
    assert_int_equal(repl_tls_peer_fingerprint(s->ssl, fp), -1);
    if (c->state == 1) {
        char buf[16];
        assert_int_equal(_read(c, buf, sizeof(buf)), -1);
    }
}

static void test_tls_server_refuses_client_not_in_allow_list(void **state)
{
    struct fixture *f = *state;
    SSL_CTX *sctx = _ctx(&f->srv, true), *cctx = _ctx(&f->cli, false);
    struct end s, c;
    _pair(&s, sctx, &c, cctx);
    assert_int_equal(repl_tls_pin(s.ssl, (const uint8_t(*)[REPL_FP_LEN])f->other.fp, 1), 0);
    assert_int_equal(repl_tls_pin(c.ssl, (const uint8_t(*)[REPL_FP_LEN])f->srv.fp, 1), 0);
    _expect_server_refuses(&s, &c, "certificate verify failed");
    _end_free(&s);
    _end_free(&c);
    SSL_CTX_free(sctx);
    SSL_CTX_free(cctx);
}

static void test_tls_connection_without_pin_set_is_refused(void **state)
{
    struct fixture *f = *state;
    SSL_CTX *sctx = _ctx(&f->srv, true), *cctx = _ctx(&f->cli, false);
    struct end s, c;
    _pair(&s, sctx, &c, cctx);
    assert_int_equal(repl_tls_pin(c.ssl, (const uint8_t(*)[REPL_FP_LEN])f->srv.fp, 1), 0);
    _expect_server_refuses(&s, &c, "certificate verify failed");  /* no repl_tls_pin */
    _end_free(&s);
    _end_free(&c);
    SSL_CTX_free(sctx);
    SSL_CTX_free(cctx);
}

static void test_tls_server_refuses_client_without_certificate(void **state)
{
    struct fixture *f = *state;
    SSL_CTX *sctx = _ctx(&f->srv, true);
    SSL_CTX *cctx = SSL_CTX_new(TLS_client_method());  /* plain OpenSSL, no certificate */
    assert_non_null(cctx);
    SSL_CTX_set_verify(cctx, SSL_VERIFY_NONE, NULL);
    struct end s, c;
    _pair(&s, sctx, &c, cctx);
    assert_int_equal(repl_tls_pin(s.ssl, (const uint8_t(*)[REPL_FP_LEN])f->cli.fp, 1), 0);
    _expect_server_refuses(&s, &c, "peer did not return a certificate");
    _end_free(&s);
    _end_free(&c);
    SSL_CTX_free(sctx);
    SSL_CTX_free(cctx);
}

static void test_tls_server_refuses_tls12_client(void **state)
{
    struct fixture *f = *state;
    SSL_CTX *sctx = _ctx(&f->srv, true);
    SSL_CTX *cctx = SSL_CTX_new(TLS_client_method());
    assert_non_null(cctx);
    SSL_CTX_set_max_proto_version(cctx, TLS1_2_VERSION);
    SSL_CTX_set_verify(cctx, SSL_VERIFY_NONE, NULL);
    assert_int_equal(SSL_CTX_use_certificate(cctx, f->cli.cert), 1);
    assert_int_equal(SSL_CTX_use_PrivateKey(cctx, f->cli.key), 1);
    struct end s, c;
    _pair(&s, sctx, &c, cctx);
    assert_int_equal(repl_tls_pin(s.ssl, (const uint8_t(*)[REPL_FP_LEN])f->cli.fp, 1), 0);
    _handshake(&s, &c);
    assert_int_equal(s.state, -1);
    assert_int_equal(c.state, -1);
    if (!strstr(s.why, "unsupported protocol"))
        fail_msg("expected \"unsupported protocol\", got \"%s\"", s.why);
    _end_free(&s);
    _end_free(&c);
    SSL_CTX_free(sctx);
    SSL_CTX_free(cctx);
}

int main(void)
{
    /* As the server does (core_setup): a write to a closed peer must fail, not kill us. */
    signal(SIGPIPE, SIG_IGN);
    const struct CMUnitTest files[] = {
        cmocka_unit_test_setup_teardown(test_generate_creates_dir_0700_key_0600_cert_0644,
                                        setup_dir, teardown_dir),
        cmocka_unit_test_setup_teardown(test_generate_refuses_to_overwrite_key, setup_dir,
                                        teardown_dir),
        cmocka_unit_test_setup_teardown(test_generate_rejects_bad_common_name, setup_dir,
                                        teardown_dir),
        cmocka_unit_test_setup_teardown(test_load_matches_generate_and_independent_fingerprint,
                                        setup_dir, teardown_dir),
        cmocka_unit_test_setup_teardown(test_load_refuses_key_readable_by_others, setup_dir,
                                        teardown_dir),
        cmocka_unit_test_setup_teardown(test_load_refuses_cert_of_another_identity, setup_dir,
                                        teardown_dir),
        cmocka_unit_test_setup_teardown(test_load_reports_missing_and_garbage_files, setup_dir,
                                        teardown_dir),
        cmocka_unit_test(test_fingerprint_parser_forms),
    };
    const struct CMUnitTest tls[] = {
        cmocka_unit_test(test_tls_pinned_peers_connect_with_tls13),
        cmocka_unit_test(test_tls_client_pinning_wrong_server_fails),
        cmocka_unit_test(test_tls_server_refuses_client_not_in_allow_list),
        cmocka_unit_test(test_tls_connection_without_pin_set_is_refused),
        cmocka_unit_test(test_tls_server_refuses_client_without_certificate),
        cmocka_unit_test(test_tls_server_refuses_tls12_client),
    };
    int failed = cmocka_run_group_tests_name("identity files", files, NULL, NULL);
    failed += cmocka_run_group_tests_name("tls pinning", tls, setup_tls, teardown_tls);
    return failed;
}
