/* A node's replication identity: its own Ed25519 key and self-signed certificate in a
 * directory (key.pem, cert.pem), the certificate's SHA-256 fingerprint by which peers pin it,
 * and TLS 1.3 contexts with mutual authentication that accept a peer only if its certificate's
 * fingerprint is in a pin set attached to the connection. No CA is involved anywhere.
 *
 * Thread safety: every function may be called from any thread; a struct repl_identity or an
 * SSL is used by one thread at a time, an SSL_CTX may be shared (OpenSSL's rules). Errors go
 * to the caller's err buffer (nothing is logged except a peer rejected by its fingerprint), and
 * the thread's OpenSSL error queue is left empty. */
#ifndef REPL_IDENTITY_H
#define REPL_IDENTITY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <openssl/ssl.h>

#define REPL_FP_LEN 32       /* SHA-256 */
#define REPL_FP_HEX_SIZE 65  /* 64 lowercase hex characters and the NUL */
#define REPL_CN_MAX 64       /* RFC 5280 upper bound of a common name */

enum repl_id_status {
    REPL_ID_OK = 0,
    REPL_ID_EXISTS,    /* generate: key.pem already there, nothing written */
    REPL_ID_MISSING,   /* load: key.pem or cert.pem does not exist */
    REPL_ID_INSECURE,  /* load: key.pem is accessible by group or others */
    REPL_ID_MISMATCH,  /* load: the key is not the certificate's */
    REPL_ID_INVALID,   /* bad argument, or a file that does not parse */
    REPL_ID_IO,        /* a system call failed (errno in the message) */
    REPL_ID_CRYPTO,    /* OpenSSL failed (its reason in the message) */
};

struct repl_identity {
    X509 *cert;
    EVP_PKEY *key;
    uint8_t fp[REPL_FP_LEN];      /* SHA-256 of the certificate's DER encoding */
    char fp_hex[REPL_FP_HEX_SIZE];
    int64_t not_after;            /* the certificate's notAfter, unix seconds */
    char cn[REPL_CN_MAX * 4 + 1]; /* subject CN, UTF-8 */
};

/* Create dir (0700) if missing and write a new identity in it: key.pem (PKCS#8, mode 0600,
 * written to a temporary file, fsynced and renamed into place without replacing anything) and
 * cert.pem (0644): self-signed X.509 v3, CN = common_name (1..64 bytes), random 128-bit serial,
 * valid from one hour ago until ten years from now. Refuses with REPL_ID_EXISTS when key.pem
 * exists. The fingerprint goes to fp_out as 64 lowercase hex characters (fp_len >= 65; fp_out
 * may be NULL). */
enum repl_id_status repl_identity_generate(const char *dir, const char *common_name, char *fp_out,
                                           size_t fp_len, char *err, size_t errlen);

/* Read dir/cert.pem and dir/key.pem into out, which owns them until repl_identity_free. Refuses
 * a key.pem that is not a regular file or that group or others may access (any of 077, as ssh
 * does), an encrypted key, a key that is not the certificate's, and a certificate without a
 * subject CN. The certificate's validity is not checked (peers are pinned, not dated): show
 * not_after. On failure out is left empty (safe to free). */
enum repl_id_status repl_identity_load(const char *dir, struct repl_identity *out, char *err,
                                       size_t errlen);
/* Free what load put in id and clear it; NULL or an empty identity is fine. */
void repl_identity_free(struct repl_identity *id);

/* The fingerprint of a certificate: SHA-256 of its DER encoding. 0, or -1. */
int repl_cert_fingerprint(X509 *cert, uint8_t out[REPL_FP_LEN]);
/* The canonical printed form: 64 lowercase hex characters and a NUL. */
void repl_fingerprint_format(const uint8_t fp[REPL_FP_LEN], char out[REPL_FP_HEX_SIZE]);
/* Accepts 64 hex characters of either case, or 32 hex pairs separated by colons as
 * `openssl x509 -noout -fingerprint -sha256` prints them, optionally after its
 * "sha256 Fingerprint=" / "SHA256 Fingerprint=" prefix; surrounding spaces and a trailing newline
 * are ignored. Anything else (other length, other separators, mixed forms) is refused.
 * 0, or -1 with out unchanged. */
int repl_fingerprint_parse(const char *s, uint8_t out[REPL_FP_LEN]);

/* A TLS context for peer links: TLS 1.3 only, id's certificate and key (referenced, so id may be
 * freed afterwards), peer certificate required on both sides (a server requires the client's),
 * no CA: a peer is accepted only if its leaf certificate's fingerprint is in the pin set
 * attached to the SSL with repl_tls_pin (no pin set: every peer is refused). Session tickets,
 * the session cache and therefore resumption are off, so every connection is a full handshake
 * with its certificate checked. SSL_OP_IGNORE_UNEXPECTED_EOF is set: a peer closing without
 * close_notify reads as a clean end (SSL_ERROR_ZERO_RETURN), so the replication protocol must
 * frame its messages to detect truncation. NULL with a message in err. */
SSL_CTX *repl_tls_ctx_new(const struct repl_identity *id, bool server, char *err, size_t errlen);

/* Attach the fingerprints this connection accepts (copied; replaces an earlier set): a server
 * passes its allow-list of peers, a client exactly the peer it dials. Call before the handshake.
 * 0, or -1 (out of memory, or OpenSSL refused the ex_data). */
int repl_tls_pin(SSL *ssl, const uint8_t fp[][REPL_FP_LEN], size_t n);
/* After a completed handshake: the fingerprint of the peer's certificate, which was in the pin
 * set. 0, or -1 when the handshake has not completed or no pinned peer was accepted. */
int repl_tls_peer_fingerprint(SSL *ssl, uint8_t out[REPL_FP_LEN]);
/* After a completed handshake: the peer certificate's notAfter in unix seconds, or -1. */
int64_t repl_tls_peer_expiry(SSL *ssl);
/* A certificate's notAfter in unix seconds, or -1 when it cannot be read. */
int64_t repl_cert_expiry(const X509 *cert);

#endif
