/* Membership and revocation (docs/integrity.md, "Membership and revocation"), on the link
 * thread but for the operators' requests (any thread, under lock).
 *
 * The members are this node and its configured peers; the list has an epoch, 0 as
 * configured. A change (revoke a member, rotate its certificate, re-admit it after it fenced
 * itself, remove it, add a new one) names the epoch it applies to and the member, and carries
 * Ed25519 signatures by members' identity keys, each with the signer's certificate so any
 * node checks it against the fingerprint it pins. A change is applied when a majority of the members
 * active at its epoch signed it; a revoked or re-admitted member's own signature counts for
 * nothing. A node signs only on evidence of its own (_evidence): an operator asked for the
 * same change here (`cache-cli cluster revoke|readmit|remove NODE`), or, for a revocation,
 * the member told this node it fenced itself (its ERROR "fenced: ..."). Proposals, signatures
 * and applied changes
 * travel as MEMBER frames on every link; applied changes are kept in the data directory
 * (membership.state) and replayed, checked again, at start. A revoked peer's links close and
 * its fingerprint leaves the pinned set, so its handshakes fail; a node that learns it was
 * revoked fences itself, then and after every restart. An added node joins at the epoch of
 * its addition (_join), which its state file then starts from. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <msgpack.h>
#include <openssl/evp.h>
#include <openssl/x509.h>

#include "clock.h"
#include "fence.h"
#include "log.h"
#include "mpread.h"
#include "repl-internal.h"
#include "repl.h"

#define MAX_SIGS (REPL_MAX_PEERS + 1)
#define CERT_MAX 4096
#define SIG_LEN 64
#define INTENT_MS (10 * 60 * 1000) /* an operator's revoke request counts this long */
#define FENCED_EVIDENCE_MS 60000   /* a member's "fenced" counts this long */

enum { CHANGE_PROPOSED = 1, CHANGE_APPLIED = 2 };
/* What a change does to its target member: revoke it (a bad node locked out), rotate its
 * certificate, re-admit it (it fenced itself; a majority lifts the fence), remove it (a
 * planned departure, which the member itself may sign), or add it (a new member, by name,
 * address and fingerprint). */
enum {
    KIND_REVOKE = 1,
    KIND_ROTATE = 2,
    KIND_READMIT = 3,
    KIND_REMOVE = 4,
    KIND_ADD = 5,
    KIND_MAX = 5
};
#define ADDR_MAX 127

struct sig {
    uint8_t fp[REPL_FP_LEN];
    uint8_t cert[CERT_MAX];
    uint32_t cert_len;
    uint8_t sig[SIG_LEN];
};

/* A change of the member `target`, at `epoch` (the list it changes), with its signatures:
 * its revocation, or its certificate's rotation to new_fp (new_cert: the certificate). */
struct change {
    uint8_t kind;
    uint64_t epoch;
    uint8_t target[REPL_FP_LEN];
    uint8_t new_fp[REPL_FP_LEN];
    uint32_t new_cert_len;
    uint8_t new_cert[CERT_MAX];
    char name[REPL_NAME_MAX + 1]; /* an addition: the new member's name and HOST:PORT */
    char addr[ADDR_MAX + 1];
    uint32_t nsigs;
    struct sig sigs[MAX_SIGS];
};

static uint64_t epoch;                   /* link thread (atomic stores: status reads it) */
static uint64_t base_epoch; /* where `applied` starts: 0, or the addition of this node, which
                             * joined then (what came before is its peers' history) */
static struct change *applied;           /* every change applied, in order */
static uint32_t napplied;
/* Proposals being signed: at most one per member (a second operator's request for another
 * revocation must not wait behind the first, nor a bad node's proposal block a good one). */
static struct change pending[REPL_MAX_PEERS + 1];
static uint32_t npending;
static char state_path[4200];

/* The operators' requests (CLUSTER_REVOKE, _READMIT, _REMOVE, on a worker thread), one per
 * kind (the latest): under intent_lock. */
static pthread_mutex_t intent_lock = PTHREAD_MUTEX_INITIALIZER;
static struct intent {
    uint8_t fp[REPL_FP_LEN];
    bool self;         /* this node's removal (fp unset: the link thread knows this node's) */
    uint64_t until_ms; /* wall ms; 0: none */
    char name[REPL_NAME_MAX + 1], addr[ADDR_MAX + 1]; /* an addition's */
} intents[KIND_MAX + 1];
static bool asked_now; /* atomic: a request came since the link thread last looked */

bool repl_members_asked(void) { return __atomic_exchange_n(&asked_now, false, __ATOMIC_ACQ_REL); }

uint64_t repl_members_epoch(void) { return __atomic_load_n(&epoch, __ATOMIC_RELAXED); }

/* ---- who is who ---- */

/* This node's fingerprint as the membership knows it: its certificate's, once a rotation of
 * it was applied and the new identity is in place. */
static uint8_t self_fp[REPL_FP_LEN];
static uint8_t self_fp0[REPL_FP_LEN]; /* at epoch 0: the state file's first line */

static bool _is_self(const uint8_t *fp) { return !memcmp(fp, self_fp, REPL_FP_LEN); }

static struct peer *_peer_of(const uint8_t *fp)
{
    for (int i = 0; i < repl.npeers; i++)
        if (!memcmp(repl.peers[i].fp, fp, REPL_FP_LEN))
            return &repl.peers[i];
    return NULL;
}

static bool _self_revoked; /* revoked or removed: this node is out of the cluster */

/* While the state file replays at start: configured peers that one of its changes adds
 * later (their `peer` line was written after the addition), no members until then. */
static uint8_t joining[REPL_MAX_PEERS][REPL_FP_LEN];
static int njoining;

static bool _joining(const uint8_t *fp)
{
    for (int i = 0; i < njoining; i++)
        if (!memcmp(joining[i], fp, REPL_FP_LEN))
            return true;
    return false;
}

/* A member, active now (not revoked, removed, nor still to be added)? */
static bool _active(const uint8_t *fp)
{
    if (_is_self(fp))
        return !_self_revoked;
    struct peer *p = _peer_of(fp);
    return p && !p->revoked && !_joining(fp);
}

/* A member now or before (an addition of it would be no addition)? */
static bool _known(const uint8_t *fp) { return _is_self(fp) || (_peer_of(fp) && !_joining(fp)); }

static int _nactive(void)
{
    int n = !_self_revoked;
    for (int i = 0; i < repl.npeers; i++)
        n += !repl.peers[i].revoked && !_joining(repl.peers[i].fp);
    return n;
}

/* ---- signatures ---- */

/* What a signature covers: a domain naming the kind, the epoch, the member's fingerprint
 * and (a rotation) the new one or (an addition) the new member's name and address. */
#define SIGNED_MAX 400
static size_t _signed_bytes(const struct change *c, uint8_t *out)
{
    static const char *const domains[KIND_MAX + 1] = {
        [KIND_REVOKE] = "cacheserverd membership v1: revoke",
        [KIND_ROTATE] = "cacheserverd membership v1: rotate",
        [KIND_READMIT] = "cacheserverd membership v1: readmit",
        [KIND_REMOVE] = "cacheserverd membership v1: remove",
        [KIND_ADD] = "cacheserverd membership v1: add"};
    const char *dom = domains[c->kind];
    size_t o = strlen(dom) + 1; /* with its NUL */
    memcpy(out, dom, o);
    for (int i = 0; i < 8; i++)
        out[o++] = (uint8_t)(c->epoch >> (56 - 8 * i));
    memcpy(out + o, c->target, REPL_FP_LEN);
    o += REPL_FP_LEN;
    if (c->kind == KIND_ROTATE) {
        memcpy(out + o, c->new_fp, REPL_FP_LEN);
        o += REPL_FP_LEN;
    } else if (c->kind == KIND_ADD) { /* each with its NUL */
        size_t nl = strlen(c->name) + 1, al = strlen(c->addr) + 1;
        memcpy(out + o, c->name, nl);
        memcpy(out + o + nl, c->addr, al);
        o += nl + al;
    }
    return o;
}

static bool _sign(struct change *c)
{
    if (c->nsigs >= MAX_SIGS)
        return false;
    struct sig *s = &c->sigs[c->nsigs];
    uint8_t msg[SIGNED_MAX];
    size_t mlen = _signed_bytes(c, msg), slen = SIG_LEN;
    unsigned char *der = s->cert;
    int dlen = i2d_X509(repl.id.cert, NULL);
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    bool ok = md && dlen > 0 && dlen <= CERT_MAX && i2d_X509(repl.id.cert, &der) == dlen &&
              EVP_DigestSignInit(md, NULL, NULL, NULL, repl.id.key) == 1 &&
              EVP_DigestSign(md, s->sig, &slen, msg, mlen) == 1 && slen == SIG_LEN;
    EVP_MD_CTX_free(md);
    if (ok) {
        memcpy(s->fp, repl.id.fp, REPL_FP_LEN);
        s->cert_len = (uint32_t)dlen;
        c->nsigs++;
    }
    return ok;
}

/* Does the target's own signature count? Not for its revocation nor its re-admission (a bad
 * or fenced node has no say in either), nor its addition (it is no member yet); for its
 * rotation and its removal it does. */
static bool _target_may_sign(int kind) { return kind == KIND_ROTATE || kind == KIND_REMOVE; }

/* Is s a good signature of c by an active member (and not by a target that has no say)? */
static bool _sig_ok(const struct change *c, const struct sig *s)
{
    if (!_active(s->fp) ||
        (!_target_may_sign(c->kind) && !memcmp(s->fp, c->target, REPL_FP_LEN)))
        return false;
    const unsigned char *p = s->cert;
    X509 *x = d2i_X509(NULL, &p, s->cert_len);
    uint8_t fp[REPL_FP_LEN], msg[SIGNED_MAX];
    size_t mlen = _signed_bytes(c, msg);
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    bool ok = x && md && repl_cert_fingerprint(x, fp) == 0 && !memcmp(fp, s->fp, REPL_FP_LEN) &&
              EVP_DigestVerifyInit(md, NULL, NULL, NULL, X509_get0_pubkey(x)) == 1 &&
              EVP_DigestVerify(md, s->sig, SIG_LEN, msg, mlen) == 1;
    EVP_MD_CTX_free(md);
    X509_free(x);
    return ok;
}

/* Good signatures of distinct signers: how many (bad ones and duplicates dropped). */
static int _tidy(struct change *c)
{
    uint32_t k = 0;
    for (uint32_t i = 0; i < c->nsigs; i++) {
        bool dup = false;
        for (uint32_t j = 0; j < k; j++)
            dup |= !memcmp(c->sigs[j].fp, c->sigs[i].fp, REPL_FP_LEN);
        if (!dup && _sig_ok(c, &c->sigs[i])) {
            if (k != i)
                c->sigs[k] = c->sigs[i];
            k++;
        }
    }
    c->nsigs = k;
    return (int)k;
}

static bool _signed_by_me(const struct change *c)
{
    for (uint32_t i = 0; i < c->nsigs; i++)
        if (_is_self(c->sigs[i].fp))
            return true;
    return false;
}

/* ---- encoding (a MEMBER frame's blob, and the state file's entries) ---- */

static void _pack_str(msgpack_packer *pk, const char *s)
{
    size_t n = strlen(s);
    msgpack_pack_str(pk, n);
    msgpack_pack_str_body(pk, s, n);
}

/* [kind, change kind, epoch, target, new fp, new cert, signatures] and, an addition, its
 * name and address. */
static void _pack(msgpack_packer *pk, int kind, const struct change *c)
{
    msgpack_pack_array(pk, c->kind == KIND_ADD ? 9 : 7);
    msgpack_pack_uint8(pk, (uint8_t)kind);
    msgpack_pack_uint8(pk, c->kind);
    msgpack_pack_uint64(pk, c->epoch);
    msgpack_pack_bin(pk, REPL_FP_LEN);
    msgpack_pack_bin_body(pk, c->target, REPL_FP_LEN);
    msgpack_pack_bin(pk, REPL_FP_LEN);
    msgpack_pack_bin_body(pk, c->new_fp, REPL_FP_LEN);
    msgpack_pack_bin(pk, c->new_cert_len);
    msgpack_pack_bin_body(pk, c->new_cert, c->new_cert_len);
    msgpack_pack_array(pk, c->nsigs);
    for (uint32_t i = 0; i < c->nsigs; i++) {
        const struct sig *s = &c->sigs[i];
        msgpack_pack_array(pk, 3);
        msgpack_pack_bin(pk, REPL_FP_LEN);
        msgpack_pack_bin_body(pk, s->fp, REPL_FP_LEN);
        msgpack_pack_bin(pk, s->cert_len);
        msgpack_pack_bin_body(pk, s->cert, s->cert_len);
        msgpack_pack_bin(pk, SIG_LEN);
        msgpack_pack_bin_body(pk, s->sig, SIG_LEN);
    }
    if (c->kind == KIND_ADD) {
        _pack_str(pk, c->name);
        _pack_str(pk, c->addr);
    }
}

/* A str of 1..max bytes without NULs into out. */
static bool _read_text(struct mp_cursor *cur, char *out, size_t max)
{
    const uint8_t *p;
    uint32_t len;
    if (!mp_read_bytes(cur, &p, &len) || len == 0 || len > max || memchr(p, 0, len))
        return false;
    memcpy(out, p, len);
    out[len] = '\0';
    return true;
}

static bool _unpack(struct mp_cursor *cur, int *kind, struct change *c)
{
    uint32_t n, top, len, ns;
    uint64_t k, ck;
    const uint8_t *p, *nf, *ncert;
    uint32_t nflen, nclen;
    memset(c, 0, sizeof(*c));
    if (!mp_read_array(cur, &top) || (top != 7 && top != 9) || !mp_read_uint(cur, &k) ||
        (k != CHANGE_PROPOSED && k != CHANGE_APPLIED) || !mp_read_uint(cur, &ck) ||
        ck < KIND_REVOKE || ck > KIND_MAX || !mp_read_uint(cur, &c->epoch) ||
        !mp_read_bytes(cur, &p, &len) || len != REPL_FP_LEN ||
        !mp_read_bytes(cur, &nf, &nflen) || nflen != REPL_FP_LEN ||
        !mp_read_bytes(cur, &ncert, &nclen) || nclen > CERT_MAX ||
        (ck == KIND_ROTATE) != (nclen > 0) || (ck == KIND_ADD) != (top == 9) ||
        !mp_read_array(cur, &ns) || ns > MAX_SIGS)
        return false;
    *kind = (int)k;
    c->kind = (uint8_t)ck;
    memcpy(c->target, p, REPL_FP_LEN);
    memcpy(c->new_fp, nf, REPL_FP_LEN);
    memcpy(c->new_cert, ncert, nclen);
    c->new_cert_len = nclen;
    for (uint32_t i = 0; i < ns; i++) {
        struct sig *s = &c->sigs[i];
        if (!mp_read_array(cur, &n) || n != 3 || !mp_read_bytes(cur, &p, &len) ||
            len != REPL_FP_LEN)
            return false;
        memcpy(s->fp, p, REPL_FP_LEN);
        if (!mp_read_bytes(cur, &p, &len) || len == 0 || len > CERT_MAX)
            return false;
        memcpy(s->cert, p, len);
        s->cert_len = len;
        if (!mp_read_bytes(cur, &p, &len) || len != SIG_LEN)
            return false;
        memcpy(s->sig, p, SIG_LEN);
    }
    c->nsigs = ns;
    return top == 7 || (_read_text(cur, c->name, REPL_NAME_MAX) &&
                        _read_text(cur, c->addr, ADDR_MAX));
}

bool repl_members_parse(const uint8_t *blob, uint32_t len)
{
    struct mp_cursor cur;
    static struct change c;
    int kind;
    mp_cursor_init(&cur, blob, len);
    return _unpack(&cur, &kind, &c) && mp_remaining(&cur) == 0;
}

/* ---- gossip ---- */

static void _send(struct evbuffer *out, int kind, const struct change *c)
{
    msgpack_sbuffer sb;
    msgpack_packer pk;
    msgpack_sbuffer_init(&sb);
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    _pack(&pk, kind, c);
    repl_send_member(out, (const uint8_t *)sb.data, sb.size);
    msgpack_sbuffer_destroy(&sb);
}

/* To every active peer linked now, or (only) to one peer. */
static void _broadcast_to(const struct peer *only, int kind, const struct change *c)
{
    struct evbuffer *outs[2 * REPL_MAX_PEERS];
    int n = repl_link_outputs(only, outs, 2 * REPL_MAX_PEERS);
    for (int i = 0; i < n; i++)
        _send(outs[i], kind, c);
}

static void _broadcast(int kind, const struct change *c) { _broadcast_to(NULL, kind, c); }

void repl_members_link_up(struct evbuffer *out)
{
    for (uint32_t i = 0; i < napplied; i++)
        _send(out, CHANGE_APPLIED, &applied[i]);
    for (uint32_t i = 0; i < npending; i++)
        _send(out, CHANGE_PROPOSED, &pending[i]);
}

/* ---- the state file ---- */

static int _save(void)
{
    msgpack_sbuffer sb;
    msgpack_packer pk;
    msgpack_sbuffer_init(&sb);
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    msgpack_pack_array(&pk, 4);
    msgpack_pack_uint8(&pk, 2); /* the format (1: without the base epoch, 0) */
    msgpack_pack_bin(&pk, REPL_FP_LEN); /* this node's fingerprint at its base epoch */
    msgpack_pack_bin_body(&pk, self_fp0, REPL_FP_LEN);
    msgpack_pack_uint64(&pk, base_epoch);
    msgpack_pack_array(&pk, napplied);
    for (uint32_t i = 0; i < napplied; i++)
        _pack(&pk, CHANGE_APPLIED, &applied[i]);
    char tmp[4300];
    snprintf(tmp, sizeof(tmp), "%s.tmp", state_path);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    int rc = fd >= 0 && write(fd, sb.data, sb.size) == (ssize_t)sb.size && fsync(fd) == 0 ? 0 : -1;
    if (fd >= 0)
        close(fd);
    if (rc == 0 && rename(tmp, state_path) != 0)
        rc = -1;
    msgpack_sbuffer_destroy(&sb);
    if (rc != 0)
        log_error("membership: cannot write %s: %s", state_path, strerror(errno));
    return rc;
}

/* ---- applying ---- */

/* The identity directory, and the new identity a rotation of this node made in it. */
static void _next_dir(char *out, size_t len)
{
    snprintf(out, len, "%s/next", option_registry_str("identity"));
}

/* This node's rotation was applied (or, at start, found applied): its new key and certificate
 * (made in identity/next by repl_members_rotate) take the old ones' place, and the TLS
 * contexts of new connections use them; the links up keep theirs. 0, or -1 (logged). */
static int _take_next_identity(void)
{
    char next[4200], from[4300], to[4300], err[256];
    _next_dir(next, sizeof(next));
    struct repl_identity nid = {0};
    if (repl_identity_load(next, &nid, err, sizeof(err)) != REPL_ID_OK ||
        memcmp(nid.fp, self_fp, REPL_FP_LEN)) {
        log_error("membership: this node's rotated identity is not in %s (%s): the old one "
                  "stays in use; its peers pin the new one", next, err);
        repl_identity_free(&nid);
        return -1;
    }
    const char *dir = option_registry_str("identity");
    /* the key first: a crash between the two renames leaves key.pem and cert.pem not
     * matching, and the start finishes the move from next/ (repl_members_setup) */
    static const char *const files[] = {"key.pem", "cert.pem"};
    for (int i = 0; i < 2; i++) {
        snprintf(from, sizeof(from), "%s/%s", next, files[i]);
        snprintf(to, sizeof(to), "%s/%s", dir, files[i]);
        if (rename(from, to) != 0) {
            log_error("membership: moving %s to %s: %s", from, to, strerror(errno));
            repl_identity_free(&nid);
            return -1;
        }
    }
    rmdir(next);
    if (repl_link_swap_identity(&nid, err, sizeof(err)) != 0) {
        log_error("membership: the rotated identity: %s", err);
        repl_identity_free(&nid);
        return -1;
    }
    log_info("membership: this node's certificate is now %s", repl.id.fp_hex);
    return 0;
}

static bool _loading; /* repl_members_setup replays: this node's identity is sorted out after */

static void _apply_rotation(const struct change *c)
{
    char was[REPL_FP_HEX_SIZE], now_hex[REPL_FP_HEX_SIZE];
    repl_fingerprint_format(c->target, was);
    repl_fingerprint_format(c->new_fp, now_hex);
    if (_is_self(c->target)) {
        memcpy(self_fp, c->new_fp, REPL_FP_LEN);
        if (!_loading)
            _take_next_identity();
        return;
    }
    struct peer *p = _peer_of(c->target);
    if (!p)
        return;
    repl_link_pin(p, c->new_fp, NULL); /* the new one only, from now on */
    log_info("membership: %s's certificate is now %s (was %s; epoch %llu): update its `peer` "
             "line in this node's config", p->name, now_hex, was,
             (unsigned long long)(c->epoch + 1));
}

/* A revocation or a removal: the member is out of the cluster. */
static void _apply_removal(const struct change *c)
{
    bool removed = c->kind == KIND_REMOVE;
    unsigned long long e = (unsigned long long)(c->epoch + 1);
    char hex[REPL_FP_HEX_SIZE];
    repl_fingerprint_format(c->target, hex);
    if (_is_self(c->target)) {
        _self_revoked = true;
        if (removed)
            fence_set("this node was removed from the cluster (membership epoch %llu)", e);
        else
            fence_set("this node was revoked by a majority of the cluster (membership epoch "
                      "%llu)", e);
        return;
    }
    struct peer *p = _peer_of(c->target);
    if (p) {
        _broadcast_to(p, CHANGE_APPLIED, c); /* it learns why, and fences itself */
        __atomic_store_n(&p->removed, removed, __ATOMIC_RELAXED);
        __atomic_store_n(&p->revoked, true, __ATOMIC_RELAXED); /* repl_status reads it */
        repl_link_revoked(p); /* its links close, its fingerprint leaves the pins */
    }
    log_warn("membership: %s (%s) %s by %u members' signatures: its links are closed and "
             "refused from now on (epoch %llu)", p ? p->name : "a node", hex,
             removed ? "removed" : "revoked", c->nsigs, e);
}

/* A re-admission: the member's fence is lifted by a majority, as an operator's `cluster
 * unfence` on it would. */
static void _apply_readmit(const struct change *c)
{
    char who[120];
    snprintf(who, sizeof(who), "a majority of the cluster (re-admitted at membership epoch %llu)",
             (unsigned long long)(c->epoch + 1));
    if (_is_self(c->target)) {
        if (!_loading) /* a fence at start is this start's own finding */
            fence_clear(who);
        return;
    }
    struct peer *p = _peer_of(c->target);
    if (!p)
        return;
    __atomic_store_n(&p->fenced_seen_ms, 0, __ATOMIC_RELAXED); /* no longer evidence */
    log_info("membership: %s re-admitted by %u members' signatures (epoch %llu)", p->name,
             c->nsigs, (unsigned long long)(c->epoch + 1));
}

/* An addition: a new peer, pinned and dialed from now on; or, this node the new member, it
 * joined (repl_members_on_msg took its base epoch from the change). */
static void _apply_add(const struct change *c)
{
    unsigned long long e = (unsigned long long)(c->epoch + 1);
    if (_is_self(c->target)) {
        log_info("membership: this node (%s) joined the cluster at membership epoch %llu",
                 c->name, e);
        return;
    }
    struct peer *p = _peer_of(c->target);
    if (p) { /* at start: its `peer` line was written after the addition */
        for (int i = 0; i < njoining; i++)
            if (!memcmp(joining[i], c->target, REPL_FP_LEN))
                memcpy(joining[i], joining[--njoining], REPL_FP_LEN);
    } else {
        char err[300];
        if (!(p = repl_peer_add(c->name, c->addr, c->target, err, sizeof(err)))) {
            log_error("membership: the cluster added %s (%s), which this node cannot take: "
                      "%s; its membership is epoch %llu all the same", c->name, c->addr, err,
                      e);
            return;
        }
        repl_link_peer_added(p);
    }
    log_info("membership: %s (%s) added by %u members' signatures (epoch %llu)%s", c->name,
             c->addr, c->nsigs, e, _loading ? "" : ": add its `peer` line to this node's config");
}

static void _apply(const struct change *c, bool save)
{
    struct change *na = realloc(applied, (napplied + 1) * sizeof(*applied));
    if (!na) {
        log_error("membership: out of memory for an applied change");
        return;
    }
    applied = na;
    applied[napplied++] = *c;
    npending = 0; /* proposals for the old list: proposed again, if still wanted, for the new */
    pthread_mutex_lock(&intent_lock); /* done: the request is spent */
    struct intent *in = &intents[c->kind];
    if (!memcmp(in->self ? self_fp : in->fp, c->target, REPL_FP_LEN))
        in->until_ms = 0;
    pthread_mutex_unlock(&intent_lock);
    if (c->kind == KIND_ROTATE)
        _apply_rotation(c);
    else if (c->kind == KIND_READMIT)
        _apply_readmit(c);
    else if (c->kind == KIND_ADD)
        _apply_add(c);
    else
        _apply_removal(c);
    /* the new epoch shows once the change is in effect: a status that reads it then reads
     * what it changed (a rotated node's own fingerprint, which an operator copies) */
    __atomic_store_n(&epoch, c->epoch + 1, __ATOMIC_RELAXED);
    if (save)
        _save();
}

/* A rotation's new certificate is the one it names, and its owner signed it. */
static bool _rotation_ok(const struct change *c)
{
    const unsigned char *p = c->new_cert;
    X509 *x = d2i_X509(NULL, &p, c->new_cert_len);
    uint8_t fp[REPL_FP_LEN];
    bool ok = x && repl_cert_fingerprint(x, fp) == 0 && !memcmp(fp, c->new_fp, REPL_FP_LEN) &&
              !_peer_of(c->new_fp) && !_is_self(c->new_fp);
    X509_free(x);
    for (uint32_t i = 0; ok && i < c->nsigs; i++)
        if (!memcmp(c->sigs[i].fp, c->target, REPL_FP_LEN))
            return true; /* _tidy kept only good signatures */
    return false;
}

/* An addition adds a node that never was a member, under a name no other member has, at an
 * address this node can dial. */
static bool _addition_ok(const struct change *c)
{
    struct sockaddr_in sa;
    if (_known(c->target) || !strcmp(c->name, repl.node_name) ||
        repl_parse_addr(c->addr, &sa) != 0)
        return false;
    for (int i = 0; i < repl.npeers; i++) /* a joining peer's own line names it alike */
        if (!strcmp(repl.peers[i].name, c->name) &&
            memcmp(repl.peers[i].fp, c->target, REPL_FP_LEN))
            return false;
    return true;
}

/* A change signed by a majority of the members active at its epoch: apply it. */
static bool _ready(struct change *c)
{
    if (c->epoch != repl_members_epoch())
        return false;
    if (c->kind == KIND_ADD)
        return _addition_ok(c) && _tidy(c) * 2 > _nactive();
    return _active(c->target) && _tidy(c) * 2 > _nactive() &&
           (c->kind != KIND_ROTATE || _rotation_ok(c));
}

/* This node's own addition, as a node that joins sees it: signed by a majority of its
 * configured peers (the members it was told to trust; it was none of them then), at any
 * epoch from its own on. */
static bool _ready_to_join(struct change *c)
{
    return c->kind == KIND_ADD && _is_self(c->target) && c->epoch >= repl_members_epoch() &&
           !_self_revoked && _tidy(c) * 2 > _nactive() - 1;
}

/* ---- signing: only on evidence of its own ---- */

/* An operator asked this node for c (the same kind, the same member) in the last 10 min. */
static bool _asked(const struct change *c)
{
    uint64_t now = clock_wall_ms();
    pthread_mutex_lock(&intent_lock);
    const struct intent *in = &intents[c->kind];
    bool asked = in->until_ms > now &&
                 !memcmp(in->self ? self_fp : in->fp, c->target, REPL_FP_LEN) &&
                 (c->kind != KIND_ADD || (!strcmp(in->name, c->name) &&
                                          !strcmp(in->addr, c->addr)));
    pthread_mutex_unlock(&intent_lock);
    return asked;
}

/* The member told this node it fenced itself, in the last minute. */
static bool _seen_fenced(const uint8_t *fp)
{
    struct peer *p = _peer_of(fp);
    uint64_t seen = p ? __atomic_load_n(&p->fenced_seen_ms, __ATOMIC_RELAXED) : 0;
    return seen && clock_wall_ms() - seen < FENCED_EVIDENCE_MS;
}

/* Has this node evidence of its own for c? A rotation: its owner asked (signed it). A
 * revocation: an operator asked here, or the member fenced itself. A re-admission: an
 * operator asked here and the member is fenced (lifting a fence is the risky direction: the
 * fence alone is no reason). A removal or an addition: an operator asked here (an addition:
 * for the same name and address too). */
static bool _evidence(const struct change *c)
{
    switch (c->kind) {
    case KIND_ROTATE:
        return _rotation_ok(c);
    case KIND_REVOKE:
        return _asked(c) || _seen_fenced(c->target);
    case KIND_READMIT:
        return _asked(c) && _seen_fenced(c->target);
    default:
        return _asked(c);
    }
}

/* The proposal of this kind for target at this epoch (made when make; NULL when there is
 * none or no room). A rotation's certificate and an addition's name and address are the
 * caller's to fill in. */
static struct change *_pending(uint8_t kind, const uint8_t *target, bool make)
{
    for (uint32_t i = 0; i < npending; i++)
        if (pending[i].kind == kind && !memcmp(pending[i].target, target, REPL_FP_LEN))
            return &pending[i];
    if (!make || npending == sizeof(pending) / sizeof(pending[0]))
        return NULL;
    struct change *c = &pending[npending++];
    memset(c, 0, sizeof(*c));
    c->kind = kind;
    c->epoch = repl_members_epoch();
    memcpy(c->target, target, REPL_FP_LEN);
    return c;
}

/* Sign c if this node may and has evidence. True when it signed. */
static bool _maybe_sign(struct change *c)
{
    if (fence_active() || _self_revoked || _signed_by_me(c) ||
        (_is_self(c->target) && !_target_may_sign(c->kind)) || !_evidence(c))
        return false;
    return _sign(c);
}

static void _take_rotation_request(void);

/* This node was added (c: its addition, checked by _ready_to_join): it takes the cluster's
 * epoch from there. Changes it applied before are its peers' history, which its `peer`
 * lines already reflect (an operator wrote them from the cluster as it is). */
static void _join(const struct change *c)
{
    free(applied);
    applied = NULL;
    napplied = 0;
    base_epoch = c->epoch;
    __atomic_store_n(&epoch, c->epoch, __ATOMIC_RELAXED);
    memcpy(self_fp0, self_fp, REPL_FP_LEN);
    _apply(c, true);
    _broadcast(CHANGE_APPLIED, c);
}

void repl_members_step(void)
{
    /* the operators' requests: this node proposes them (or joins the proposals under way) */
    uint64_t now = clock_wall_ms();
    struct intent want[KIND_MAX + 1];
    pthread_mutex_lock(&intent_lock);
    memcpy(want, intents, sizeof(want));
    pthread_mutex_unlock(&intent_lock);
    for (uint8_t k = 1; k <= KIND_MAX; k++) {
        const uint8_t *fp = want[k].self ? self_fp : want[k].fp;
        if (want[k].until_ms <= now || (k == KIND_ADD ? _known(fp) : !_active(fp)))
            continue;
        struct change *c = _pending(k, fp, true);
        if (c && k == KIND_ADD && !c->name[0]) {
            memcpy(c->name, want[k].name, sizeof(c->name));
            memcpy(c->addr, want[k].addr, sizeof(c->addr));
        }
    }
    _take_rotation_request();
    for (uint32_t i = 0; i < npending; i++) {
        struct change *c = &pending[i];
        bool signed_now = _maybe_sign(c);
        if (_ready(c)) {
            struct change done = *c;
            _apply(&done, true); /* drops every proposal: they named the old list */
            _broadcast(CHANGE_APPLIED, &done);
            return;
        }
        if (signed_now)
            _broadcast(CHANGE_PROPOSED, c);
    }
}

void repl_members_on_msg(const uint8_t *blob, uint32_t len)
{
    struct mp_cursor cur;
    mp_cursor_init(&cur, blob, len);
    int kind;
    static struct change c; /* large: not on the stack */
    if (!_unpack(&cur, &kind, &c) || mp_remaining(&cur) != 0) {
        log_warn("membership: a malformed change from a peer is ignored");
        return;
    }
    if (kind == CHANGE_APPLIED) {
        if (c.epoch < repl_members_epoch())
            return; /* had it */
        if (_ready(&c)) {
            _apply(&c, true);
            _broadcast(CHANGE_APPLIED, &c);
        } else if (_ready_to_join(&c)) {
            _join(&c);
        }
        return;
    }
    bool carried = c.kind == KIND_ROTATE || c.kind == KIND_ADD; /* with what the change adds */
    if (c.epoch != repl_members_epoch() || (c.kind == KIND_ADD ? _known(c.target)
                                                                : !_active(c.target)))
        return;
    struct change *mine = _pending(c.kind, c.target, !carried);
    if (!mine && carried && npending < sizeof(pending) / sizeof(pending[0])) {
        mine = &pending[npending++];
        *mine = c;
        mine->nsigs = 0;
    }
    if (!mine)
        return;
    if ((c.kind == KIND_ROTATE && memcmp(mine->new_fp, c.new_fp, REPL_FP_LEN)) ||
        (c.kind == KIND_ADD && (strcmp(mine->name, c.name) || strcmp(mine->addr, c.addr))))
        return; /* another rotation or addition of the same member: the first one stands */
    /* take the signatures it has that ours lacks */
    for (uint32_t i = 0; i < c.nsigs && mine->nsigs < MAX_SIGS; i++) {
        bool have = false;
        for (uint32_t j = 0; j < mine->nsigs; j++)
            have |= !memcmp(mine->sigs[j].fp, c.sigs[i].fp, REPL_FP_LEN);
        if (!have)
            mine->sigs[mine->nsigs++] = c.sigs[i];
    }
    _tidy(mine);
    if (mine->kind == KIND_ROTATE && _rotation_ok(mine)) {
        struct peer *p = _peer_of(mine->target);
        if (p) /* its owner asked: accept the new certificate besides the old one already */
            repl_link_pin(p, NULL, mine->new_fp);
    }
    repl_members_step();
}

/* ---- the operator ---- */

/* An operator asked this node to revoke, re-admit or remove the member named name (a
 * removal may name this node itself). */
static int _ask(uint8_t kind, const char *name, char *msg, size_t mlen)
{
    static const char *const verbs[KIND_MAX + 1] = {
        [KIND_REVOKE] = "revocation", [KIND_READMIT] = "re-admission", [KIND_REMOVE] = "removal"};
    uint8_t fp[REPL_FP_LEN];
    bool self = kind == KIND_REMOVE && !strcmp(name, repl.node_name), found = false;
    uint64_t fenced_seen = 0;
    pthread_mutex_lock(&repl.status_lock); /* a rotation changes a peer's fp under it */
    for (int i = 0; i < repl.npeers && !found; i++)
        if ((found = !strcmp(repl.peers[i].name, name))) {
            memcpy(fp, repl.peers[i].fp, REPL_FP_LEN);
            fenced_seen = __atomic_load_n(&repl.peers[i].fenced_seen_ms, __ATOMIC_RELAXED);
        }
    pthread_mutex_unlock(&repl.status_lock);
    if (!found && !self) {
        snprintf(msg, mlen, "no peer named '%s'%s", name,
                 kind == KIND_REMOVE ? "" : " (this node cannot name itself)");
        return -1;
    }
    if (kind == KIND_READMIT &&
        (!fenced_seen || clock_wall_ms() - fenced_seen >= FENCED_EVIDENCE_MS)) {
        snprintf(msg, mlen, "%s has not said it is fenced in the last minute: nothing to "
                 "re-admit (`cluster status` shows each peer's last error)", name);
        return -1;
    }
    pthread_mutex_lock(&intent_lock);
    if (found)
        memcpy(intents[kind].fp, fp, REPL_FP_LEN);
    intents[kind].self = self;
    intents[kind].until_ms = clock_wall_ms() + INTENT_MS;
    pthread_mutex_unlock(&intent_lock);
    __atomic_store_n(&asked_now, true, __ATOMIC_RELEASE);
    repl_link_notify();
    static const char *const needs[KIND_MAX + 1] = {
        [KIND_REVOKE] = "an operator's request there too, or %s fenced itself",
        [KIND_READMIT] = "an operator's request there too, while %s is fenced",
        [KIND_REMOVE] = "an operator's request there too (%s itself may sign its removal)"};
    char need[200];
    snprintf(need, sizeof(need), needs[kind], name);
    snprintf(msg, mlen, "%s of %s proposed and signed here; it is applied once a majority of "
             "the members signed it (on evidence of their own: %s)", verbs[kind], name, need);
    return 0;
}

int repl_members_revoke(const char *name, char *msg, size_t mlen)
{
    return _ask(KIND_REVOKE, name, msg, mlen);
}

int repl_members_readmit(const char *name, char *msg, size_t mlen)
{
    return _ask(KIND_READMIT, name, msg, mlen);
}

int repl_members_remove(const char *name, char *msg, size_t mlen)
{
    return _ask(KIND_REMOVE, name, msg, mlen);
}

int repl_members_add(const char *name, const char *addr, const char *fp_hex, char *msg,
                     size_t mlen)
{
    uint8_t fp[REPL_FP_LEN];
    struct sockaddr_in sa;
    if (!*name || strlen(name) > REPL_NAME_MAX || strchr(name, '.') || strchr(name, ' ')) {
        snprintf(msg, mlen, "a member's name is 1..%d characters without '.' or spaces",
                 REPL_NAME_MAX);
        return -1;
    }
    if (strlen(addr) > ADDR_MAX || repl_parse_addr(addr, &sa) != 0) {
        snprintf(msg, mlen, "'%s' is not an IPv4 HOST:PORT", addr);
        return -1;
    }
    if (repl_fingerprint_parse(fp_hex, fp) != 0) {
        snprintf(msg, mlen, "'%s' is not a SHA-256 fingerprint (64 hex characters, as "
                 "cacheserverd --gen-identity prints it)", fp_hex);
        return -1;
    }
    const char *clash = !strcmp(name, repl.node_name) ? "this node's name" : NULL;
    pthread_mutex_lock(&repl.status_lock); /* peers and identity change under it */
    if (!clash && repl.npeers == REPL_MAX_PEERS)
        clash = "the limit of peers (32) was reached";
    for (int i = 0; i < repl.npeers && !clash; i++)
        if (!strcmp(repl.peers[i].name, name) || !memcmp(repl.peers[i].fp, fp, REPL_FP_LEN))
            clash = "a peer's name or fingerprint";
    if (!clash && !memcmp(fp, repl.id.fp, REPL_FP_LEN))
        clash = "this node's fingerprint";
    pthread_mutex_unlock(&repl.status_lock);
    if (clash) {
        snprintf(msg, mlen, "cannot add %s: %s", name, clash);
        return -1;
    }
    pthread_mutex_lock(&intent_lock);
    struct intent *in = &intents[KIND_ADD];
    memcpy(in->fp, fp, REPL_FP_LEN);
    in->self = false;
    snprintf(in->name, sizeof(in->name), "%s", name);
    snprintf(in->addr, sizeof(in->addr), "%s", addr);
    in->until_ms = clock_wall_ms() + INTENT_MS;
    pthread_mutex_unlock(&intent_lock);
    __atomic_store_n(&asked_now, true, __ATOMIC_RELEASE);
    repl_link_notify();
    snprintf(msg, mlen, "addition of %s (%s) proposed and signed here; it is applied once a "
             "majority of the members signed it (each on an operator's request of its own, "
             "for the same name, address and fingerprint); %s's own `peer` lines name the "
             "members", name, addr, name);
    return 0;
}

static pthread_mutex_t rot_lock = PTHREAD_MUTEX_INITIALIZER;
static bool rot_asked; /* under rot_lock */

int repl_members_rotate(char *msg, size_t mlen)
{
    char next[4200], fp[REPL_FP_HEX_SIZE], err[256], key[4300], cn[REPL_CN_MAX * 4 + 1];
    _next_dir(next, sizeof(next));
    snprintf(key, sizeof(key), "%s/key.pem", next);
    pthread_mutex_lock(&repl.status_lock);
    snprintf(cn, sizeof(cn), "%s", repl.id.cn);
    pthread_mutex_unlock(&repl.status_lock);
    /* one made before and not taken yet (a rotation still under way) is proposed again */
    if (access(key, F_OK) != 0 &&
        repl_identity_generate(next, cn, fp, sizeof(fp), err, sizeof(err)) != REPL_ID_OK) {
        snprintf(msg, mlen, "making the new identity in %s: %s", next, err);
        return -1;
    }
    pthread_mutex_lock(&rot_lock);
    rot_asked = true;
    pthread_mutex_unlock(&rot_lock);
    __atomic_store_n(&asked_now, true, __ATOMIC_RELEASE);
    repl_link_notify();
    snprintf(msg, mlen, "new certificate made in %s and its rotation proposed: peers accept it "
             "besides the old one now, and only it once a majority signed (`cluster status "
             "--all` says when every node has it)", next);
    return 0;
}

/* Link thread: an operator asked for a rotation of this node's certificate. */
static void _take_rotation_request(void)
{
    pthread_mutex_lock(&rot_lock);
    bool asked = rot_asked;
    rot_asked = false;
    pthread_mutex_unlock(&rot_lock);
    if (!asked || npending == sizeof(pending) / sizeof(pending[0]))
        return;
    char next[4200], err[256];
    _next_dir(next, sizeof(next));
    struct repl_identity nid = {0};
    unsigned char *der = NULL;
    int dlen = -1;
    if (repl_identity_load(next, &nid, err, sizeof(err)) == REPL_ID_OK)
        dlen = i2d_X509(nid.cert, &der);
    if (dlen <= 0 || dlen > CERT_MAX) {
        log_error("membership: the new identity in %s: %s", next, err);
        repl_identity_free(&nid);
        OPENSSL_free(der);
        return;
    }
    struct change *c = _pending(KIND_ROTATE, self_fp, false);
    if (!c) {
        c = &pending[npending++];
        memset(c, 0, sizeof(*c));
        c->kind = KIND_ROTATE;
        c->epoch = repl_members_epoch();
        memcpy(c->target, self_fp, REPL_FP_LEN);
    }
    memcpy(c->new_fp, nid.fp, REPL_FP_LEN);
    memcpy(c->new_cert, der, (size_t)dlen);
    c->new_cert_len = (uint32_t)dlen;
    OPENSSL_free(der);
    repl_identity_free(&nid);
    if (!_signed_by_me(c))
        _sign(c); /* with the current key: this node asks for it */
    _broadcast(CHANGE_PROPOSED, c);
}

/* ---- start ---- */

int repl_members_setup(char *err, size_t errlen)
{
    snprintf(state_path, sizeof(state_path), "%s/membership.state",
             option_registry_str("data_dir"));
    memcpy(self_fp, repl.id.fp, REPL_FP_LEN);
    memcpy(self_fp0, repl.id.fp, REPL_FP_LEN);
    FILE *f = fopen(state_path, "rb");
    if (!f)
        return 0; /* epoch 0: as configured */
    static uint8_t buf[1 << 20];
    size_t n = fread(buf, 1, sizeof(buf), f);
    fclose(f);
    struct mp_cursor cur;
    uint32_t k, nc, fplen;
    uint64_t fmt, base = 0;
    const uint8_t *fp0;
    mp_cursor_init(&cur, buf, n);
    if (!mp_read_array(&cur, &k) || !mp_read_uint(&cur, &fmt) ||
        !((fmt == 1 && k == 3) || (fmt == 2 && k == 4)) ||
        !mp_read_bytes(&cur, &fp0, &fplen) || fplen != REPL_FP_LEN ||
        (fmt == 2 && !mp_read_uint(&cur, &base)) || !mp_read_array(&cur, &nc)) {
        snprintf(err, errlen, "%s is not a membership state this version reads", state_path);
        return -1;
    }
    memcpy(self_fp0, fp0, REPL_FP_LEN); /* the changes name this node as it was then */
    memcpy(self_fp, fp0, REPL_FP_LEN);
    /* configured peers that a change adds are no members until it is replayed */
    static struct change c;
    struct mp_cursor scan = cur;
    for (uint32_t i = 0; i < nc; i++) {
        int kind;
        if (!_unpack(&scan, &kind, &c))
            break; /* the replay says so */
        if (c.kind == KIND_ADD && _peer_of(c.target) && njoining < REPL_MAX_PEERS)
            memcpy(joining[njoining++], c.target, REPL_FP_LEN);
    }
    base_epoch = base;
    __atomic_store_n(&epoch, base, __ATOMIC_RELAXED);
    _loading = true;
    for (uint32_t i = 0; i < nc; i++) {
        int kind;
        /* a node that joined: its own addition first, checked as when it joined */
        if (!_unpack(&cur, &kind, &c) || kind != CHANGE_APPLIED ||
            !(base && i == 0 ? _ready_to_join(&c) && c.epoch == base : _ready(&c))) {
            _loading = false;
            snprintf(err, errlen, "%s: change %u does not check (signatures, epoch): refusing "
                     "to start on a membership it cannot trust", state_path, i + 1);
            return -1;
        }
        _apply(&c, false);
    }
    _loading = false;
    njoining = 0; /* added since, or never: a `peer` line no change added is a member */
    /* a rotation of this node applied, its new identity not moved in yet (a crash came
     * between): finish it now */
    if (memcmp(self_fp, repl.id.fp, REPL_FP_LEN) && _take_next_identity() != 0) {
        snprintf(err, errlen, "the membership names this node by a certificate its identity "
                 "directory does not hold (see the log)");
        return -1;
    }
    log_info("membership: epoch %llu (%u changes from %s)",
             (unsigned long long)repl_members_epoch(), nc, state_path);
    return 0;
}

void repl_members_teardown(void)
{
    free(applied);
    applied = NULL;
    napplied = 0;
    npending = 0;
    base_epoch = 0;
    njoining = 0;
    __atomic_store_n(&epoch, 0, __ATOMIC_RELAXED);
}
