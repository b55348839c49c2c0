/* The node's replication identity (an Ed25519 key and a self-signed certificate on disk), the
 * SHA-256 fingerprints peers pin it by, and TLS 1.3 contexts whose only check of a peer is
 * that its certificate's fingerprint is in the connection's pin set. */
#include "identity.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509v3.h>

#include "log.h"

#define KEY_FILE "key.pem"
#define CERT_FILE "cert.pem"
#define PEM_MAX (64 * 1024)      /* larger key.pem / cert.pem files are refused */
#define VALID_YEARS 10
#define BACKDATE_S 3600          /* notBefore an hour ago: tolerate peers' clocks behind ours */

static const unsigned char SESSION_ID_CONTEXT[] = "cacheserverd-repl";

/* Format the message into err; with_ssl appends OpenSSL's most recent reason. The thread's
 * OpenSSL error queue is emptied either way, so a stale entry cannot confuse a later
 * SSL_get_error on this thread. */
__attribute__((format(printf, 4, 5)))
static void _err(char *err, size_t errlen, bool with_ssl, const char *fmt, ...)
{
    unsigned long e = with_ssl ? ERR_peek_last_error() : 0;
    if (err && errlen) {
        va_list ap;
        va_start(ap, fmt);
        int n = vsnprintf(err, errlen, fmt, ap);
        va_end(ap);
        if (e && n >= 0 && (size_t)n + 3 < errlen) {
            char reason[256];
            ERR_error_string_n(e, reason, sizeof(reason));
            snprintf(err + n, errlen - (size_t)n, ": %s", reason);
        }
    }
    ERR_clear_error();
}

/* Fingerprints */

int repl_cert_fingerprint(X509 *cert, uint8_t out[REPL_FP_LEN])
{
    unsigned int len = 0;
    if (!cert || X509_digest(cert, EVP_sha256(), out, &len) != 1 || len != REPL_FP_LEN)
        return -1;
    return 0;
}

void repl_fingerprint_format(const uint8_t fp[REPL_FP_LEN], char out[REPL_FP_HEX_SIZE])
{
    static const char hex[] = "0123456789abcdef";
    for (size_t i = 0; i < REPL_FP_LEN; i++) {
        out[2 * i] = hex[fp[i] >> 4];
        out[2 * i + 1] = hex[fp[i] & 0xf];
    }
    out[2 * REPL_FP_LEN] = '\0';
}

static int _hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

static bool _space(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

int repl_fingerprint_parse(const char *s, uint8_t out[REPL_FP_LEN])
{
    static const char prefix[] = "sha256 Fingerprint=";
    if (!s)
        return -1;
    while (_space(*s))
        s++;
    if (strncasecmp(s, prefix, sizeof(prefix) - 1) == 0)
        s += sizeof(prefix) - 1;
    size_t len = strlen(s);
    while (len && _space(s[len - 1]))
        len--;

    size_t step;
    if (len == 2 * REPL_FP_LEN)
        step = 2;                      /* 64 hex characters */
    else if (len == 3 * REPL_FP_LEN - 1)
        step = 3;                      /* AB:CD:...: 32 pairs and 31 colons */
    else
        return -1;
    uint8_t fp[REPL_FP_LEN];
    for (size_t i = 0; i < REPL_FP_LEN; i++) {
        const char *p = s + i * step;
        int hi = _hexval(p[0]), lo = _hexval(p[1]);
        if (hi < 0 || lo < 0)
            return -1;
        if (step == 3 && i + 1 < REPL_FP_LEN && p[2] != ':')
            return -1;
        fp[i] = (uint8_t)(hi << 4 | lo);
    }
    memcpy(out, fp, REPL_FP_LEN);
    return 0;
}

int64_t repl_cert_expiry(const X509 *cert)
{
    struct tm tm;
    const ASN1_TIME *t = cert ? X509_get0_notAfter(cert) : NULL;
    if (!t || ASN1_TIME_to_tm(t, &tm) != 1)
        return -1;
    return (int64_t)timegm(&tm);
}

/* Generating */

/* Add one extension given in openssl.cnf syntax (e.g. "critical,CA:FALSE"). 0, or -1. */
static int _add_ext(X509 *x, int nid, const char *value)
{
    X509V3_CTX v3;
    X509V3_set_ctx_nodb(&v3);
    X509V3_set_ctx(&v3, x, x, NULL, NULL, 0);
    X509_EXTENSION *ext = X509V3_EXT_nconf_nid(NULL, &v3, nid, value);
    if (!ext)
        return -1;
    int ok = X509_add_ext(x, ext, -1);
    X509_EXTENSION_free(ext);
    return ok == 1 ? 0 : -1;
}

/* The self-signed certificate of key, or NULL with a message in err. */
static X509 *_make_cert(EVP_PKEY *key, const char *cn, char *err, size_t errlen)
{
    X509 *x = X509_new();
    BIGNUM *serial = NULL;
    if (!x || X509_set_version(x, X509_VERSION_3) != 1)
        goto fail;

    /* 128 random bits, as a positive integer (RFC 5280: positive, at most 20 octets). */
    uint8_t rnd[16];
    do {
        if (RAND_bytes(rnd, sizeof(rnd)) != 1)
            goto fail;
    } while (memcmp(rnd, (uint8_t[16]){0}, sizeof(rnd)) == 0);
    serial = BN_bin2bn(rnd, sizeof(rnd), NULL);
    if (!serial || !BN_to_ASN1_INTEGER(serial, X509_get_serialNumber(x)))
        goto fail;

    time_t now = time(NULL);
    struct tm tm;
    gmtime_r(&now, &tm);
    tm.tm_year += VALID_YEARS;         /* 29 February becomes 1 March */
    time_t until = timegm(&tm);
    if (!ASN1_TIME_set(X509_getm_notBefore(x), now - BACKDATE_S)
        || !ASN1_TIME_set(X509_getm_notAfter(x), until))
        goto fail;

    X509_NAME *name = X509_get_subject_name(x);
    if (X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8, (const unsigned char *)cn, -1, -1,
                                   0) != 1
        || X509_set_issuer_name(x, name) != 1 || X509_set_pubkey(x, key) != 1)
        goto fail;
    /* A leaf for both ends of a link. Nothing checks these (peers are pinned), but tools that
     * inspect the certificate should see what it is for. */
    if (_add_ext(x, NID_basic_constraints, "critical,CA:FALSE") != 0
        || _add_ext(x, NID_key_usage, "critical,digitalSignature") != 0
        || _add_ext(x, NID_ext_key_usage, "serverAuth,clientAuth") != 0
        || _add_ext(x, NID_subject_key_identifier, "hash") != 0)
        goto fail;
    if (X509_sign(x, key, NULL) <= 0)  /* Ed25519 signs the message itself: no digest */
        goto fail;
    BN_free(serial);
    return x;

fail:
    _err(err, errlen, true, "cannot build the certificate");
    BN_free(serial);
    X509_free(x);
    return NULL;
}

/* Write len bytes to a new file in dfd named ".<name>.tmp.<random>" (returned in tmp), with
 * exactly mode (whatever the umask), and fsync it. 0, or -1 with errno set and nothing left. */
static int _write_temp(int dfd, const char *name, const void *buf, size_t len, mode_t mode,
                       char *tmp, size_t tmplen)
{
    uint8_t rnd[6];
    if (RAND_bytes(rnd, sizeof(rnd)) != 1) {
        ERR_clear_error();
        errno = EIO;
        return -1;
    }
    snprintf(tmp, tmplen, ".%s.tmp.%02x%02x%02x%02x%02x%02x", name, rnd[0], rnd[1], rnd[2],
             rnd[3], rnd[4], rnd[5]);
    /* Created 0600, so a key is never readable by others, not even for a moment. */
    int fd = openat(dfd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (fd < 0)
        return -1;
    if (fchmod(fd, mode) != 0)
        goto fail;
    const char *p = buf;
    while (len) {
        ssize_t n = write(fd, p, len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            goto fail;
        p += n;
        len -= (size_t)n;
    }
    if (fsync(fd) != 0)
        goto fail;
    int rc = close(fd);
    fd = -1;
    if (rc != 0)
        goto fail;
    return 0;

fail:;
    int e = errno;
    if (fd >= 0)
        close(fd);
    unlinkat(dfd, tmp, 0);
    errno = e;
    return -1;
}

/* rename without replacing: 0, or -1 with errno (EEXIST when to exists). */
static int _rename_noreplace(int dfd, const char *from, const char *to)
{
    if (renameat2(dfd, from, dfd, to, RENAME_NOREPLACE) == 0)
        return 0;
    if (errno != EINVAL && errno != ENOSYS)
        return -1;
    /* A file system without RENAME_NOREPLACE: a hard link also refuses an existing name. */
    if (linkat(dfd, from, dfd, to, 0) != 0)
        return -1;
    unlinkat(dfd, from, 0);
    return 0;
}

/* The PEM text of key (when not NULL) or of cert; the key's BIO clears its memory when freed. */
static BIO *_pem(EVP_PKEY *key, X509 *cert)
{
    BIO *b = BIO_new(key ? BIO_s_secmem() : BIO_s_mem());
    if (!b)
        return NULL;
    int ok = key ? PEM_write_bio_PrivateKey(b, key, NULL, NULL, 0, NULL, NULL)
                 : PEM_write_bio_X509(b, cert);
    if (ok != 1) {
        BIO_free(b);
        return NULL;
    }
    return b;
}

enum repl_id_status repl_identity_generate(const char *dir, const char *common_name, char *fp_out,
                                           size_t fp_len, char *err, size_t errlen)
{
    if (!dir || !*dir || !common_name) {
        _err(err, errlen, false, "identity: no directory or common name");
        return REPL_ID_INVALID;
    }
    size_t cnlen = strlen(common_name);
    if (cnlen == 0 || cnlen > REPL_CN_MAX) {
        _err(err, errlen, false, "identity: the common name must be 1 to %d bytes, not %zu",
             REPL_CN_MAX, cnlen);
        return REPL_ID_INVALID;
    }
    if (fp_out && fp_len < REPL_FP_HEX_SIZE) {
        _err(err, errlen, false, "identity: the fingerprint buffer needs %d bytes",
             REPL_FP_HEX_SIZE);
        return REPL_ID_INVALID;
    }
    if (mkdir(dir, 0700) != 0 && errno != EEXIST) {
        _err(err, errlen, false, "%s: cannot create the directory: %s", dir, strerror(errno));
        return REPL_ID_IO;
    }
    int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd < 0) {
        _err(err, errlen, false, "%s: %s", dir, strerror(errno));
        return REPL_ID_IO;
    }
    struct stat st;
    int found = fstatat(dfd, KEY_FILE, &st, AT_SYMLINK_NOFOLLOW) == 0;
    if (!found && errno != ENOENT) {
        _err(err, errlen, false, "%s/" KEY_FILE ": %s", dir, strerror(errno));
        close(dfd);
        return REPL_ID_IO;
    }
    if (found) {
        _err(err, errlen, false,
             "%s/" KEY_FILE " already exists: refusing to replace this node's identity (move "
             "it away to make a new one, then re-pin the new fingerprint on every peer)",
             dir);
        close(dfd);
        return REPL_ID_EXISTS;
    }

    enum repl_id_status rc = REPL_ID_CRYPTO;
    EVP_PKEY *key = NULL;
    X509 *cert = NULL;
    BIO *key_pem = NULL, *cert_pem = NULL;
    char key_tmp[64] = "", cert_tmp[64] = "";
    uint8_t fp[REPL_FP_LEN];

    key = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
    if (!key) {
        _err(err, errlen, true, "identity: cannot generate an Ed25519 key");
        goto out;
    }
    if (!(cert = _make_cert(key, common_name, err, errlen)))
        goto out;
    if (repl_cert_fingerprint(cert, fp) != 0) {
        _err(err, errlen, true, "identity: cannot compute the fingerprint");
        goto out;
    }
    if (!(key_pem = _pem(key, NULL)) || !(cert_pem = _pem(NULL, cert))) {
        _err(err, errlen, true, "identity: cannot encode the key and certificate");
        goto out;
    }

    rc = REPL_ID_IO;
    char *data;
    long n = BIO_get_mem_data(key_pem, &data);
    if (_write_temp(dfd, KEY_FILE, data, (size_t)n, 0600, key_tmp, sizeof(key_tmp)) != 0) {
        key_tmp[0] = '\0';
        _err(err, errlen, false, "%s: cannot write the key: %s", dir, strerror(errno));
        goto out;
    }
    n = BIO_get_mem_data(cert_pem, &data);
    if (_write_temp(dfd, CERT_FILE, data, (size_t)n, 0644, cert_tmp, sizeof(cert_tmp)) != 0) {
        cert_tmp[0] = '\0';
        _err(err, errlen, false, "%s: cannot write the certificate: %s", dir, strerror(errno));
        goto out;
    }
    /* The key is the commit point; a cert.pem without a key beside it is a leftover and is
     * replaced. */
    if (_rename_noreplace(dfd, key_tmp, KEY_FILE) != 0) {
        if (errno == EEXIST) {
            rc = REPL_ID_EXISTS;
            _err(err, errlen, false, "%s/" KEY_FILE " appeared while generating: refusing to "
                 "replace it", dir);
        } else {
            _err(err, errlen, false, "%s: cannot rename the key into place: %s", dir,
                 strerror(errno));
        }
        goto out;
    }
    key_tmp[0] = '\0';
    if (renameat(dfd, cert_tmp, dfd, CERT_FILE) != 0) {
        _err(err, errlen, false, "%s: cannot rename the certificate into place (" KEY_FILE
             " is written: remove it before trying again): %s", dir, strerror(errno));
        goto out;
    }
    cert_tmp[0] = '\0';
    if (fsync(dfd) != 0) {
        _err(err, errlen, false, "%s: fsync: %s", dir, strerror(errno));
        goto out;
    }
    if (fp_out)
        repl_fingerprint_format(fp, fp_out);
    rc = REPL_ID_OK;

out:
    if (key_tmp[0])
        unlinkat(dfd, key_tmp, 0);
    if (cert_tmp[0])
        unlinkat(dfd, cert_tmp, 0);
    close(dfd);
    BIO_free(key_pem);
    BIO_free(cert_pem);
    X509_free(cert);
    EVP_PKEY_free(key);
    ERR_clear_error();
    return rc;
}

/* Loading */

/* Never prompt on a terminal for an encrypted key: refuse it. */
static int _no_password(char *buf, int size, int rwflag, void *u)
{
    (void)buf, (void)size, (void)rwflag, (void)u;
    return -1;
}

/* Read the whole of fd (at most PEM_MAX bytes) into a memory BIO. NULL with errno set. */
static BIO *_read_fd(int fd)
{
    char *buf = OPENSSL_secure_malloc(PEM_MAX);
    if (!buf) {
        errno = ENOMEM;
        return NULL;
    }
    size_t len = 0;
    for (;;) {
        if (len == PEM_MAX) {
            OPENSSL_secure_clear_free(buf, PEM_MAX);
            errno = EFBIG;
            return NULL;
        }
        ssize_t n = read(fd, buf + len, PEM_MAX - len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            int e = errno;
            OPENSSL_secure_clear_free(buf, PEM_MAX);
            errno = e;
            return NULL;
        }
        if (n == 0)
            break;
        len += (size_t)n;
    }
    BIO *b = BIO_new(BIO_s_secmem());
    if (!b || BIO_write(b, buf, (int)len) != (int)len) {
        BIO_free(b);
        b = NULL;
        errno = ENOMEM;
    }
    OPENSSL_secure_clear_free(buf, PEM_MAX);
    return b;
}

/* Open dir/name into a BIO; for the key, refuse what group or others may access. */
static enum repl_id_status _open_pem(const char *dir, const char *name, bool secret, BIO **out,
                                     char *err, size_t errlen)
{
    char path[PATH_MAX];
    if ((size_t)snprintf(path, sizeof(path), "%s/%s", dir, name) >= sizeof(path)) {
        _err(err, errlen, false, "%s: path too long", dir);
        return REPL_ID_INVALID;
    }
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
    if (fd < 0) {
        int e = errno;
        _err(err, errlen, false, "%s: %s", path, strerror(e));
        return e == ENOENT ? REPL_ID_MISSING : REPL_ID_IO;
    }
    struct stat st;
    if (fstat(fd, &st) != 0) {
        _err(err, errlen, false, "%s: %s", path, strerror(errno));
        close(fd);
        return REPL_ID_IO;
    }
    if (!S_ISREG(st.st_mode)) {
        _err(err, errlen, false, "%s: not a regular file", path);
        close(fd);
        return REPL_ID_INVALID;
    }
    if (secret && (st.st_mode & 077)) {
        _err(err, errlen, false, "%s: permissions %04o are too open: the private key must not "
             "be accessible by group or others (chmod 600 %s)", path,
             (unsigned)(st.st_mode & 07777), path);
        close(fd);
        return REPL_ID_INSECURE;
    }
    BIO *b = _read_fd(fd);
    int e = errno;
    close(fd);
    if (!b) {
        _err(err, errlen, false, "%s: %s", path, strerror(e));
        return REPL_ID_IO;
    }
    *out = b;
    return REPL_ID_OK;
}

/* The subject CN into out (size outlen) as UTF-8. 0, or -1 when absent, too long or odd. */
static int _subject_cn(X509 *cert, char *out, size_t outlen)
{
    X509_NAME *subj = X509_get_subject_name(cert);
    int i = subj ? X509_NAME_get_index_by_NID(subj, NID_commonName, -1) : -1;
    if (i < 0)
        return -1;
    unsigned char *utf8 = NULL;
    int n = ASN1_STRING_to_UTF8(&utf8, X509_NAME_ENTRY_get_data(X509_NAME_get_entry(subj, i)));
    int rc = -1;
    if (n > 0 && (size_t)n < outlen && !memchr(utf8, '\0', (size_t)n)) {
        memcpy(out, utf8, (size_t)n);
        out[n] = '\0';
        rc = 0;
    }
    OPENSSL_free(utf8);
    return rc;
}

enum repl_id_status repl_identity_load(const char *dir, struct repl_identity *out, char *err,
                                       size_t errlen)
{
    if (!out)
        return REPL_ID_INVALID;
    memset(out, 0, sizeof(*out));
    if (!dir || !*dir) {
        _err(err, errlen, false, "identity: no directory");
        return REPL_ID_INVALID;
    }
    BIO *kb = NULL, *cb = NULL;
    enum repl_id_status rc = _open_pem(dir, KEY_FILE, true, &kb, err, errlen);
    if (rc != REPL_ID_OK)
        goto out;
    if ((rc = _open_pem(dir, CERT_FILE, false, &cb, err, errlen)) != REPL_ID_OK)
        goto out;

    rc = REPL_ID_INVALID;
    out->key = PEM_read_bio_PrivateKey(kb, NULL, _no_password, NULL);
    if (!out->key) {
        _err(err, errlen, true, "%s/" KEY_FILE ": no private key (or an encrypted one, which "
             "is not supported)", dir);
        goto out;
    }
    out->cert = PEM_read_bio_X509(cb, NULL, _no_password, NULL);
    if (!out->cert) {
        _err(err, errlen, true, "%s/" CERT_FILE ": no certificate", dir);
        goto out;
    }
    if (X509_check_private_key(out->cert, out->key) != 1) {
        rc = REPL_ID_MISMATCH;
        _err(err, errlen, false, "%s: " KEY_FILE " is not the key of " CERT_FILE, dir);
        goto out;
    }
    if (_subject_cn(out->cert, out->cn, sizeof(out->cn)) != 0) {
        _err(err, errlen, false, "%s/" CERT_FILE ": no usable subject CN", dir);
        goto out;
    }
    if ((out->not_after = repl_cert_expiry(out->cert)) < 0) {
        _err(err, errlen, true, "%s/" CERT_FILE ": unreadable notAfter", dir);
        goto out;
    }
    if (repl_cert_fingerprint(out->cert, out->fp) != 0) {
        rc = REPL_ID_CRYPTO;
        _err(err, errlen, true, "%s/" CERT_FILE ": cannot compute the fingerprint", dir);
        goto out;
    }
    repl_fingerprint_format(out->fp, out->fp_hex);
    rc = REPL_ID_OK;

out:
    BIO_free(kb);
    BIO_free(cb);
    if (rc != REPL_ID_OK)
        repl_identity_free(out);
    ERR_clear_error();
    return rc;
}

void repl_identity_free(struct repl_identity *id)
{
    if (!id)
        return;
    X509_free(id->cert);
    EVP_PKEY_free(id->key);
    memset(id, 0, sizeof(*id));
}

/* TLS */

/* The fingerprints a connection accepts, attached to its SSL as ex_data. */
struct pinset {
    bool accepted;                  /* the verify callback accepted accepted_fp */
    uint8_t accepted_fp[REPL_FP_LEN];
    size_t n;
    uint8_t fp[][REPL_FP_LEN];
};

static pthread_once_t pin_once = PTHREAD_ONCE_INIT;
static int pin_idx = -1;

static void _pin_free(void *parent, void *ptr, CRYPTO_EX_DATA *ad, int idx, long argl, void *argp)
{
    (void)parent, (void)ad, (void)idx, (void)argl, (void)argp;
    OPENSSL_free(ptr);
}

/* SSL_dup: the copy gets its own pin set (else both would free the same one). */
static int _pin_dup(CRYPTO_EX_DATA *to, const CRYPTO_EX_DATA *from, void **from_d, int idx,
                    long argl, void *argp)
{
    (void)to, (void)from, (void)idx, (void)argl, (void)argp;
    const struct pinset *ps = *from_d;
    if (!ps)
        return 1;
    struct pinset *copy = OPENSSL_memdup(ps, sizeof(*ps) + ps->n * REPL_FP_LEN);
    if (!copy)
        return 0;
    copy->accepted = false;
    *from_d = copy;
    return 1;
}

static void _pin_setup(void)
{
    pin_idx = SSL_get_ex_new_index(0, NULL, NULL, _pin_dup, _pin_free);
}

static int _pin_index(void)
{
    pthread_once(&pin_once, _pin_setup);
    return pin_idx;
}

int repl_tls_pin(SSL *ssl, const uint8_t fp[][REPL_FP_LEN], size_t n)
{
    int idx = _pin_index();
    if (!ssl || idx < 0 || (n && !fp) || n > 1u << 20)
        return -1;
    struct pinset *ps = OPENSSL_zalloc(sizeof(*ps) + n * REPL_FP_LEN);
    if (!ps)
        return -1;
    ps->n = n;
    if (n)
        memcpy(ps->fp, fp, n * REPL_FP_LEN);
    struct pinset *old = SSL_get_ex_data(ssl, idx);
    if (SSL_set_ex_data(ssl, idx, ps) != 1) {
        OPENSSL_free(ps);
        ERR_clear_error();
        return -1;
    }
    OPENSSL_free(old);
    return 0;
}

/* A refused certificate is logged once a minute (a node not added yet, or revoked, dials
 * every second or two). Only the link thread verifies certificates. */
static bool _first_this_minute(const uint8_t *fp)
{
    static struct {
        uint8_t fp[REPL_FP_LEN];
        uint64_t ms;
    } seen[8];
    static unsigned next;
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    uint64_t now = (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
    for (unsigned i = 0; i < 8; i++)
        if (!memcmp(seen[i].fp, fp, REPL_FP_LEN)) {
            if (now - seen[i].ms < 60000)
                return false;
            seen[i].ms = now;
            return true;
        }
    memcpy(seen[next].fp, fp, REPL_FP_LEN);
    seen[next].ms = now;
    next = (next + 1) % 8;
    return true;
}

/* Replaces OpenSSL's chain verification (there is no CA): the peer is accepted if and only if
 * the fingerprint of its leaf certificate is in the SSL's pin set. Its proof of holding the
 * certificate's key is the handshake's CertificateVerify, which OpenSSL checks regardless. */
static int _verify_pinned(X509_STORE_CTX *xs, void *arg)
{
    (void)arg;
    SSL *ssl = X509_STORE_CTX_get_ex_data(xs, SSL_get_ex_data_X509_STORE_CTX_idx());
    X509 *leaf = X509_STORE_CTX_get0_cert(xs);
    int idx = _pin_index();
    struct pinset *ps = ssl && idx >= 0 ? SSL_get_ex_data(ssl, idx) : NULL;
    uint8_t fp[REPL_FP_LEN];

    if (ps)
        ps->accepted = false;
    if (repl_cert_fingerprint(leaf, fp) != 0) {
        X509_STORE_CTX_set_error(xs, X509_V_ERR_UNSPECIFIED);
        return 0;
    }
    for (size_t i = 0; ps && i < ps->n; i++) {
        if (memcmp(ps->fp[i], fp, REPL_FP_LEN) == 0) {
            ps->accepted = true;
            memcpy(ps->accepted_fp, fp, REPL_FP_LEN);
            X509_STORE_CTX_set_error(xs, X509_V_OK);
            return 1;
        }
    }
    if (_first_this_minute(fp)) {
        char hex[REPL_FP_HEX_SIZE];
        repl_fingerprint_format(fp, hex);
        log_warn("repl: refused a peer whose certificate sha256 %s is not pinned%s (logged "
                 "once a minute per certificate; counted in repl_refused)", hex,
                 ps ? "" : " (no pin set on the connection)");
    }
    X509_STORE_CTX_set_error(xs, X509_V_ERR_CERT_REJECTED);
    return 0;
}

SSL_CTX *repl_tls_ctx_new(const struct repl_identity *id, bool server, char *err, size_t errlen)
{
    if (!id || !id->cert || !id->key) {
        _err(err, errlen, false, "tls: no identity");
        return NULL;
    }
    if (_pin_index() < 0) {
        _err(err, errlen, true, "tls: no ex_data index for the pin set");
        return NULL;
    }
    SSL_CTX *ctx = SSL_CTX_new(server ? TLS_server_method() : TLS_client_method());
    if (!ctx || SSL_CTX_set_min_proto_version(ctx, TLS1_3_VERSION) != 1
        || SSL_CTX_set_max_proto_version(ctx, TLS1_3_VERSION) != 1) {
        _err(err, errlen, true, "tls: cannot make a TLS 1.3 context");
        goto fail;
    }
    if (SSL_CTX_use_certificate(ctx, id->cert) != 1 || SSL_CTX_use_PrivateKey(ctx, id->key) != 1
        || SSL_CTX_check_private_key(ctx) != 1) {
        _err(err, errlen, true, "tls: cannot use the identity's certificate and key");
        goto fail;
    }
    /* No resumption: a resumed session would skip the certificate, so the pin set. */
    SSL_CTX_set_options(ctx, SSL_OP_NO_TICKET | SSL_OP_IGNORE_UNEXPECTED_EOF);
    SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
    if (SSL_CTX_set_num_tickets(ctx, 0) != 1
        || (server && SSL_CTX_set_session_id_context(ctx, SESSION_ID_CONTEXT,
                                                     sizeof(SESSION_ID_CONTEXT) - 1) != 1)) {
        _err(err, errlen, true, "tls: cannot turn session resumption off");
        goto fail;
    }
    /* Both sides demand the other's certificate (FAIL_IF_NO_PEER_CERT only matters to a
     * server); _verify_pinned is the whole verification. */
    SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, NULL);
    SSL_CTX_set_cert_verify_callback(ctx, _verify_pinned, NULL);
    ERR_clear_error();
    return ctx;

fail:
    SSL_CTX_free(ctx);
    return NULL;
}

int repl_tls_peer_fingerprint(SSL *ssl, uint8_t out[REPL_FP_LEN])
{
    int idx = _pin_index();
    const struct pinset *ps = ssl && idx >= 0 ? SSL_get_ex_data(ssl, idx) : NULL;
    if (!ps || !ps->accepted || !SSL_is_init_finished(ssl)
        || SSL_get_verify_result(ssl) != X509_V_OK)
        return -1;
    /* The certificate of this connection, not only what the callback saw last. */
    uint8_t fp[REPL_FP_LEN];
    X509 *peer = SSL_get0_peer_certificate(ssl);
    if (!peer || repl_cert_fingerprint(peer, fp) != 0
        || memcmp(fp, ps->accepted_fp, REPL_FP_LEN) != 0) {
        ERR_clear_error();
        return -1;
    }
    memcpy(out, fp, REPL_FP_LEN);
    return 0;
}

int64_t repl_tls_peer_expiry(SSL *ssl)
{
    uint8_t fp[REPL_FP_LEN];
    if (repl_tls_peer_fingerprint(ssl, fp) != 0)
        return -1;
    return repl_cert_expiry(SSL_get0_peer_certificate(ssl));
}
