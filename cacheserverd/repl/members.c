/* Membership and revocation (docs/integrity.md, "Membership and revocation"), on the link
 * thread but for the operator's request (any thread, under lock).
 *
 * The members are this node and its configured peers; the list has an epoch, 0 as
 * configured. A change (today: revoke one member) names the epoch it applies to and the
 * member, and carries Ed25519 signatures by members' identity keys, each with the signer's
 * certificate so any node checks it against the fingerprint it pins. A change is applied
 * when a majority of the members active at its epoch signed it; the revoked member's own
 * signature counts for nothing. A node signs only on evidence of its own: an operator asked
 * for the same revocation here (`cache-cli cluster revoke NODE`), or the member told this
 * node it fenced itself (its ERROR "fenced: ..."). Proposals, signatures and applied changes
 * travel as MEMBER frames on every link; applied changes are kept in the data directory
 * (membership.state) and replayed, checked again, at start. A revoked peer's links close and
 * its fingerprint leaves the pinned set, so its handshakes fail; a node that learns it was
 * revoked fences itself, then and after every restart. */
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

struct sig {
    uint8_t fp[REPL_FP_LEN];
    uint8_t cert[CERT_MAX];
    uint32_t cert_len;
    uint8_t sig[SIG_LEN];
};

/* A revocation: of `target`, at `epoch` (the list it changes), with its signatures. */
struct change {
    uint64_t epoch;
    uint8_t target[REPL_FP_LEN];
    uint32_t nsigs;
    struct sig sigs[MAX_SIGS];
};

static uint64_t epoch;                   /* link thread (atomic stores: status reads it) */
static struct change *applied;           /* every change applied, in order */
static uint32_t napplied;
/* Proposals being signed: at most one per member (a second operator's request for another
 * revocation must not wait behind the first, nor a bad node's proposal block a good one). */
static struct change pending[REPL_MAX_PEERS + 1];
static uint32_t npending;
static char state_path[4200];

/* The operator's request (CLUSTER_REVOKE, a worker thread): under intent_lock. */
static pthread_mutex_t intent_lock = PTHREAD_MUTEX_INITIALIZER;
static uint8_t intent_fp[REPL_FP_LEN];
static uint64_t intent_until_ms;

uint64_t repl_members_epoch(void) { return __atomic_load_n(&epoch, __ATOMIC_RELAXED); }

/* ---- who is who ---- */

static bool _is_self(const uint8_t *fp) { return !memcmp(fp, repl.id.fp, REPL_FP_LEN); }

static struct peer *_peer_of(const uint8_t *fp)
{
    for (int i = 0; i < repl.npeers; i++)
        if (!memcmp(repl.peers[i].fp, fp, REPL_FP_LEN))
            return &repl.peers[i];
    return NULL;
}

static bool _self_revoked;

/* A member, active now (not revoked)? */
static bool _active(const uint8_t *fp)
{
    if (_is_self(fp))
        return !_self_revoked;
    struct peer *p = _peer_of(fp);
    return p && !p->revoked;
}

static int _nactive(void)
{
    int n = !_self_revoked;
    for (int i = 0; i < repl.npeers; i++)
        n += !repl.peers[i].revoked;
    return n;
}

/* ---- signatures ---- */

/* What a signature covers: a domain, the epoch and the revoked member's fingerprint. */
static size_t _signed_bytes(const struct change *c, uint8_t *out)
{
    static const char dom[] = "cacheserverd membership v1: revoke";
    memcpy(out, dom, sizeof(dom));
    size_t o = sizeof(dom);
    for (int i = 0; i < 8; i++)
        out[o++] = (uint8_t)(c->epoch >> (56 - 8 * i));
    memcpy(out + o, c->target, REPL_FP_LEN);
    return o + REPL_FP_LEN;
}

static bool _sign(struct change *c)
{
    if (c->nsigs >= MAX_SIGS)
        return false;
    struct sig *s = &c->sigs[c->nsigs];
    uint8_t msg[128];
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

/* Is s a good signature of c by an active member other than the one it revokes? */
static bool _sig_ok(const struct change *c, const struct sig *s)
{
    if (!_active(s->fp) || !memcmp(s->fp, c->target, REPL_FP_LEN))
        return false;
    const unsigned char *p = s->cert;
    X509 *x = d2i_X509(NULL, &p, s->cert_len);
    uint8_t fp[REPL_FP_LEN], msg[128];
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

static void _pack(msgpack_packer *pk, int kind, const struct change *c)
{
    msgpack_pack_array(pk, 4);
    msgpack_pack_uint8(pk, (uint8_t)kind);
    msgpack_pack_uint64(pk, c->epoch);
    msgpack_pack_bin(pk, REPL_FP_LEN);
    msgpack_pack_bin_body(pk, c->target, REPL_FP_LEN);
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
}

static bool _unpack(struct mp_cursor *cur, int *kind, struct change *c)
{
    uint32_t n, len, ns;
    uint64_t k;
    const uint8_t *p;
    memset(c, 0, sizeof(*c));
    if (!mp_read_array(cur, &n) || n != 4 || !mp_read_uint(cur, &k) ||
        (k != CHANGE_PROPOSED && k != CHANGE_APPLIED) || !mp_read_uint(cur, &c->epoch) ||
        !mp_read_bytes(cur, &p, &len) || len != REPL_FP_LEN || !mp_read_array(cur, &ns) ||
        ns > MAX_SIGS)
        return false;
    *kind = (int)k;
    memcpy(c->target, p, REPL_FP_LEN);
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
    return true;
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
    msgpack_pack_array(&pk, 2);
    msgpack_pack_uint8(&pk, 1); /* the format */
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

static void _apply(const struct change *c, bool save)
{
    struct change *na = realloc(applied, (napplied + 1) * sizeof(*applied));
    if (!na) {
        log_error("membership: out of memory for an applied change");
        return;
    }
    applied = na;
    applied[napplied++] = *c;
    __atomic_store_n(&epoch, c->epoch + 1, __ATOMIC_RELAXED);
    npending = 0; /* proposals for the old list: proposed again, if still wanted, for the new */
    char hex[REPL_FP_HEX_SIZE];
    repl_fingerprint_format(c->target, hex);
    if (_is_self(c->target)) {
        _self_revoked = true;
        fence_set("this node was revoked by a majority of the cluster (membership epoch %llu)",
                  (unsigned long long)(c->epoch + 1));
    } else {
        struct peer *p = _peer_of(c->target);
        if (p) {
            _broadcast_to(p, CHANGE_APPLIED, c); /* it learns why, and fences itself */
            __atomic_store_n(&p->revoked, true, __ATOMIC_RELAXED); /* repl_status reads it */
            repl_link_revoked(p); /* its links close, its fingerprint leaves the pins */
        }
        log_warn("membership: %s (%s) revoked by %u members' signatures: its links are closed "
                 "and refused from now on (epoch %llu)", p ? p->name : "a node", hex, c->nsigs,
                 (unsigned long long)(c->epoch + 1));
    }
    if (save)
        _save();
}

/* A change signed by a majority of the members active at its epoch: apply it. */
static bool _ready(struct change *c)
{
    return c->epoch == repl_members_epoch() && _active(c->target) &&
           _tidy(c) * 2 > _nactive();
}

/* ---- signing: only on evidence of its own ---- */

static bool _evidence(const uint8_t *target)
{
    uint64_t now = clock_wall_ms();
    pthread_mutex_lock(&intent_lock);
    bool asked = intent_until_ms > now && !memcmp(intent_fp, target, REPL_FP_LEN);
    pthread_mutex_unlock(&intent_lock);
    if (asked)
        return true;
    struct peer *p = _peer_of(target);
    uint64_t seen = p ? __atomic_load_n(&p->fenced_seen_ms, __ATOMIC_RELAXED) : 0;
    return seen && now - seen < FENCED_EVIDENCE_MS;
}

/* The proposal to revoke target at this epoch (made when make; NULL when there is none). */
static struct change *_pending(const uint8_t *target, bool make)
{
    for (uint32_t i = 0; i < npending; i++)
        if (!memcmp(pending[i].target, target, REPL_FP_LEN))
            return &pending[i];
    if (!make || npending == sizeof(pending) / sizeof(pending[0]))
        return NULL;
    struct change *c = &pending[npending++];
    memset(c, 0, sizeof(*c));
    c->epoch = repl_members_epoch();
    memcpy(c->target, target, REPL_FP_LEN);
    return c;
}

/* Sign c if this node may and has evidence. True when it signed. */
static bool _maybe_sign(struct change *c)
{
    if (fence_active() || _self_revoked || _is_self(c->target) || _signed_by_me(c) ||
        !_evidence(c->target))
        return false;
    return _sign(c);
}

void repl_members_step(void)
{
    /* the operator's request: this node proposes it (or joins the proposal under way) */
    uint64_t now = clock_wall_ms();
    pthread_mutex_lock(&intent_lock);
    bool asked = intent_until_ms > now;
    uint8_t target[REPL_FP_LEN];
    memcpy(target, intent_fp, REPL_FP_LEN);
    pthread_mutex_unlock(&intent_lock);
    if (asked && _active(target))
        _pending(target, true);
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
        }
        return;
    }
    if (c.epoch != repl_members_epoch() || !_active(c.target))
        return;
    struct change *mine = _pending(c.target, true);
    if (!mine)
        return;
    /* take the signatures it has that ours lacks */
    for (uint32_t i = 0; i < c.nsigs && mine->nsigs < MAX_SIGS; i++) {
        bool have = false;
        for (uint32_t j = 0; j < mine->nsigs; j++)
            have |= !memcmp(mine->sigs[j].fp, c.sigs[i].fp, REPL_FP_LEN);
        if (!have)
            mine->sigs[mine->nsigs++] = c.sigs[i];
    }
    _tidy(mine);
    repl_members_step();
}

/* ---- the operator ---- */

int repl_members_revoke(const char *name, char *msg, size_t mlen)
{
    const uint8_t *fp = NULL;
    for (int i = 0; i < repl.npeers; i++)
        if (!strcmp(repl.peers[i].name, name))
            fp = repl.peers[i].fp;
    if (!fp) {
        snprintf(msg, mlen, "no peer named '%s' (this node cannot revoke itself)", name);
        return -1;
    }
    pthread_mutex_lock(&intent_lock);
    memcpy(intent_fp, fp, REPL_FP_LEN);
    intent_until_ms = clock_wall_ms() + INTENT_MS;
    pthread_mutex_unlock(&intent_lock);
    repl_link_notify();
    snprintf(msg, mlen, "revocation of %s proposed and signed here; it is applied once a "
             "majority of the members signed it (on evidence of their own: an operator's "
             "request there too, or %s fenced itself)", name, name);
    return 0;
}

/* ---- start ---- */

int repl_members_setup(char *err, size_t errlen)
{
    snprintf(state_path, sizeof(state_path), "%s/membership.state",
             option_registry_str("data_dir"));
    FILE *f = fopen(state_path, "rb");
    if (!f)
        return 0; /* epoch 0: as configured */
    static uint8_t buf[1 << 20];
    size_t n = fread(buf, 1, sizeof(buf), f);
    fclose(f);
    struct mp_cursor cur;
    uint32_t k, nc;
    uint64_t fmt;
    mp_cursor_init(&cur, buf, n);
    if (!mp_read_array(&cur, &k) || k != 2 || !mp_read_uint(&cur, &fmt) || fmt != 1 ||
        !mp_read_array(&cur, &nc)) {
        snprintf(err, errlen, "%s is not a membership state this version reads", state_path);
        return -1;
    }
    static struct change c;
    for (uint32_t i = 0; i < nc; i++) {
        int kind;
        if (!_unpack(&cur, &kind, &c) || kind != CHANGE_APPLIED || !_ready(&c)) {
            snprintf(err, errlen, "%s: change %u does not check (signatures, epoch): refusing "
                     "to start on a membership it cannot trust", state_path, i + 1);
            return -1;
        }
        _apply(&c, false);
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
    __atomic_store_n(&epoch, 0, __ATOMIC_RELAXED);
}
