/* The link thread: one libevent loop that listens for peers, dials every peer, and runs the
 * exchange of wire.h over TLS 1.3 (bufferevent_openssl). Each node dials each peer and sends
 * its own changes on that connection (the outbound link); what a peer sends arrives on the
 * connection the peer dialed (the inbound link). So a pair of nodes has two connections, one
 * per direction, and each side's position in the other's backlog is kept by the receiver.
 *
 * Flow control instead of buffer limits: the sender fills a link's output up to FILL bytes
 * and refills when it drains below FILL / 4; a peer that stops reading stalls its own link
 * (and is dropped after WRITE_TIMEOUT_S), never the others, never a client.
 * Liveness: both sides send something every second (PING, ACK); a link silent for
 * READ_TIMEOUT_S is closed and dialed again. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>
#include <event2/listener.h>
#include <event2/thread.h>
#include <openssl/err.h>

#include "clock.h"
#include "keyset.h"
#include "fence.h"
#include "log.h"
#include "repl-internal.h"
#include "repl.h"
#include "store.h"
#include "tiering.h"

#define FILL (1u << 20)
#define TICK_MS 100
#define READ_TIMEOUT_S 5
#define WRITE_TIMEOUT_S 10
#define BACKOFF_MIN_MS 100
#define BACKOFF_MAX_MS 2000
#define HEARING_MS 3000 /* a fenced node reads a refused link this long at most */

#define REPL_STATS(ACTION)                                                                   \
    ACTION(repl_peers_up, STAT_GAUGE, "peers whose links both ways are up")                 \
    ACTION(repl_refused, STAT_COUNTER,                                                       \
           "connections to the peer port refused: not a peer, wrong certificate, not TLS")  \
    ACTION(repl_protocol_errors, STAT_COUNTER, "peer links closed for a malformed message") \
    ACTION(repl_backlog_bytes, STAT_GAUGE, "bytes of this node's changes in the backlog")    \
    ACTION(repl_backlog_records, STAT_COUNTER, "this node's changes put in the backlog")    \
    ACTION(repl_backlog_superseded, STAT_COUNTER,                                            \
           "backlog records not sent: a later change of the same key follows")             \
    ACTION(repl_backlog_too_large, STAT_COUNTER,                                             \
           "changes too large for the backlog, sent to peers as deletes")

STAT_STRUCT(repl, REPL_STATS);
static struct repl_stats st;
static struct stat_desc st_desc[] = STAT_DESCRIBE(REPL_STATS);

struct conn {
    struct conn *prev, *next; /* every link, for teardown */
    struct bufferevent *bev;
    struct peer *peer; /* NULL for an inbound link until its certificate named the peer */
    bool outbound;
    bool closing; /* an ERROR is on its way out: freed once the output has drained */
    /* A fenced node's inbound link, closing: it reads on until the peer closes (or
     * HEARING_MS), taking only MEMBER frames, so a change that re-admits this node reaches
     * it (members.c); freed then, not when its output drained. */
    bool hearing;
    uint64_t hearing_until_ms;
    char from[136];
};

static struct conn *conns;
static struct event_base *base;
static struct evconnlistener *listener;
static struct event *notify_ev, *tick_ev;
static pthread_t thread;
static bool running; /* atomic: read by repl_link_notify on any thread, and by the link
                      * thread while repl_link_stop clears it on the main thread */
static int notified; /* atomic: notify_ev is active */

/* Sources refused and already logged (logged once each). */
#define REFUSED_LOGGED 64
static struct in_addr refused_logged[REFUSED_LOGGED];
static unsigned nrefused_logged;

static uint64_t _now_ms(void) { return clock_mono_us() / 1000; }

static void _conn_free(struct conn *c);

struct evbuffer *repl_conn_output(struct conn *c) { return bufferevent_get_output(c->bev); }
static void _schedule_dial(struct peer *p);
static void _fill(struct peer *p);

/* ---- small helpers ---- */

/* A peer's ostate and node_id change on this thread only, with atomic stores: repl_status
 * (CLUSTER_STATUS, on a worker) reads them without a lock. Relaxed: each is shown as it is,
 * nothing else is read through them. */
static void _set_ostate(struct peer *p, enum out_state s)
{
    __atomic_store_n(&p->ostate, s, __ATOMIC_RELAXED);
}

/* Small records must not wait for Nagle's algorithm (and the peer's delayed ACK). */
static void _nodelay(evutil_socket_t fd)
{
    int one = 1;
    if (fd >= 0)
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
}

static void _set_error(struct peer *p, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void _set_error(struct peer *p, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    pthread_mutex_lock(&repl.status_lock);
    vsnprintf(p->last_error, sizeof(p->last_error), fmt, ap);
    pthread_mutex_unlock(&repl.status_lock);
    va_end(ap);
}

/* Why a bufferevent failed, in words: OpenSSL's reason, else errno's. */
static void _bev_reason(struct bufferevent *bev, short what, char *buf, size_t len)
{
    int sock_err = EVUTIL_SOCKET_ERROR();
    unsigned long e = bufferevent_get_openssl_error(bev);
    if (e && ERR_GET_LIB(e) == 0 && sock_err) {
        snprintf(buf, len, "%s", strerror(sock_err)); /* a system call failed under TLS */
        while (bufferevent_get_openssl_error(bev))
            ;
    } else if (e) {
        ERR_error_string_n(e, buf, len);
        while (bufferevent_get_openssl_error(bev))
            ;
    } else if (what & BEV_EVENT_TIMEOUT) {
        snprintf(buf, len, "timed out (%s)", what & BEV_EVENT_READING ? "silent" : "not reading");
    } else if (what & BEV_EVENT_EOF) {
        snprintf(buf, len, "closed by the other side");
    } else {
        snprintf(buf, len, "%s", errno ? strerror(errno) : "connection error");
    }
}

static void _update_up_gauge(void)
{
    uint64_t up = 0;
    for (int i = 0; i < repl.npeers; i++)
        up += repl.peers[i].out && repl.peers[i].ostate >= OUT_FULL && repl.peers[i].in;
    __atomic_store_n(&st.repl_peers_up, up, __ATOMIC_RELAXED);
}

void repl_protocol_error(struct conn *c, const char *why)
{
    stat_incr(&st.repl_protocol_errors);
    if (c->peer) {
        _set_error(c->peer, "protocol error: %s", why);
        log_warn("replication: peer %s: protocol error (%s): link closed", c->peer->name, why);
    }
    repl_send_error(bufferevent_get_output(c->bev), 1, why);
    bufferevent_flush(c->bev, EV_WRITE, BEV_FLUSH);
    _conn_free(c);
}

/* Send ERROR code/msg on c and close it once that is out (_write_cb frees it: freeing now
 * would drop the ERROR unsent); nothing more is read or applied from it meanwhile. */
static void _close_with_error(struct conn *c, unsigned code, const char *msg)
{
    repl_send_error(bufferevent_get_output(c->bev), code, msg);
    c->closing = true;
    bufferevent_disable(c->bev, EV_READ);
    bufferevent_setwatermark(c->bev, EV_WRITE, 0, 0);
    bufferevent_enable(c->bev, EV_WRITE);
}

/* This node is fenced (util/fence.h): close c, telling the peer why (its `cluster status`
 * shows it as the link's last error). An inbound link hears the peer out first: its dialer
 * sends the membership's changes right after its HELLO (a re-admission among them), then
 * reads the ERROR and closes; reading all it sent also spares it a reset. */
static void _close_fenced(struct conn *c)
{
    char why[200], msg[256];
    fence_reason(why, sizeof(why));
    snprintf(msg, sizeof(msg), "fenced: %s", why);
    _close_with_error(c, 2, msg);
    if (!c->outbound) {
        c->hearing = true;
        c->hearing_until_ms = _now_ms() + HEARING_MS;
        bufferevent_enable(c->bev, EV_READ);
    }
}

/* Every tick: a link heard out for longer than HEARING_MS goes. */
static void _end_hearings(void)
{
    uint64_t now = _now_ms();
    for (struct conn *c = conns, *next; c; c = next) {
        next = c->next;
        if (c->hearing && now > c->hearing_until_ms)
            _conn_free(c);
    }
}

/* Every tick: a node that fenced itself neither sends its changes nor applies its peers'
 * (and refuses their HELLOs meanwhile; _dial dials nobody): its links close. */
static void _fence_links(void)
{
    if (!fence_active())
        return;
    for (struct conn *c = conns, *next; c; c = next) {
        next = c->next;
        struct peer *p = c->peer;
        /* established links only: one still in its handshake is refused at its HELLO,
         * where the peer has sent all it will before the answer, so it reads the ERROR
         * (an established one may lose it to the reset its unread changes cause) */
        if (p && !c->closing && (p->in == c || (p->out == c && p->ostate >= OUT_FULL)))
            _close_fenced(c);
    }
}

/* An ACK answering this node's PING sent at sent_ms (our clock) says the peer's clock read
 * peer_ms (unix ms, as its stamps see it) in between: its offset from ours, for the health
 * monitor (repl_clock_offsets), is peer_ms minus the round trip's midpoint, give or take half
 * the round trip. What is kept is the offset it is at least (0 when the round trip allows
 * none): a slow round trip (a loaded host, a starved process) makes a sample vaguer, never a
 * clock look wrong (Cristian's bound, as CockroachDB's clock monitor takes it). */
static void _clock_sample(struct peer *p, uint64_t peer_ms, uint64_t sent_ms)
{
    uint64_t now = store_hlc_wall_ms();
    if (now < sent_ms)
        return; /* our clock stepped back meanwhile: no bound */
    int64_t half = (int64_t)((now - sent_ms) / 2) + 1; /* +1: the clocks' ms granularity */
    int64_t off = (int64_t)peer_ms - (int64_t)(sent_ms + (now - sent_ms) / 2);
    int64_t least = off > half ? off - half : off < -half ? off + half : 0;
    __atomic_store_n(&p->clock_offset_ms, least, __ATOMIC_RELAXED);
    __atomic_store_n(&p->clock_seen_ms, _now_ms(), __ATOMIC_RELAXED);
}

int repl_link_outputs(const struct peer *only, struct evbuffer **outs, int max)
{
    int n = 0;
    for (struct conn *c = conns; c && n < max; c = c->next) {
        struct peer *p = c->peer;
        if (p && !c->closing && (only ? p == only : !p->revoked) &&
            (p->in == c || (p->out == c && p->ostate >= OUT_FULL)))
            outs[n++] = bufferevent_get_output(c->bev);
    }
    return n;
}

void repl_link_pin(struct peer *p, const uint8_t *fp, const uint8_t *next)
{
    if (fp) {
        pthread_mutex_lock(&repl.status_lock); /* repl_status reads fp_hex */
        memcpy(p->fp, fp, REPL_FP_LEN);
        repl_fingerprint_format(fp, p->fp_hex);
        pthread_mutex_unlock(&repl.status_lock);
        memcpy(repl.pins[p->idx], fp, REPL_FP_LEN);
    }
    if (next)
        memcpy(repl.pins[REPL_MAX_PEERS + p->idx], next, REPL_FP_LEN);
    else
        memset(repl.pins[REPL_MAX_PEERS + p->idx], 0, REPL_FP_LEN);
}

int repl_link_swap_identity(struct repl_identity *nid, char *err, size_t errlen)
{
    SSL_CTX *cc = repl_tls_ctx_new(nid, false, err, errlen);
    SSL_CTX *sc = cc ? repl_tls_ctx_new(nid, true, err, errlen) : NULL;
    if (!sc) {
        if (cc)
            SSL_CTX_free(cc);
        return -1;
    }
    /* connections made before keep theirs (an SSL holds its context) */
    SSL_CTX_free(repl.client_ctx);
    SSL_CTX_free(repl.server_ctx);
    repl.client_ctx = cc;
    repl.server_ctx = sc;
    pthread_mutex_lock(&repl.status_lock); /* repl_status reads fp_hex and not_after */
    struct repl_identity old = repl.id;
    repl.id = *nid;
    pthread_mutex_unlock(&repl.status_lock);
    repl_identity_free(&old);
    memset(nid, 0, sizeof(*nid));
    return 0;
}

void repl_link_revoked(struct peer *p)
{
    const char *why = __atomic_load_n(&p->removed, __ATOMIC_RELAXED)
                          ? "removed: the cluster removed this node"
                          : "revoked: a majority of the cluster revoked this node";
    memset(repl.pins[p->idx], 0, REPL_FP_LEN); /* no certificate has this fingerprint */
    memset(repl.pins[REPL_MAX_PEERS + p->idx], 0, REPL_FP_LEN);
    for (struct conn *c = conns, *next; c; c = next) {
        next = c->next;
        if (c->peer == p && !c->closing)
            _close_with_error(c, 3, why);
    }
    if (p->retry)
        evtimer_del(p->retry);
}

int repl_clock_offsets(int64_t *out, int max)
{
    int n = 0;
    uint64_t now = _now_ms();
    pthread_mutex_lock(&repl.status_lock); /* a membership change may add a peer */
    for (int i = 0; i < repl.npeers && n < max; i++) {
        struct peer *p = &repl.peers[i];
        uint64_t seen = __atomic_load_n(&p->clock_seen_ms, __ATOMIC_RELAXED);
        if (seen && now - seen < 5000)
            out[n++] = __atomic_load_n(&p->clock_offset_ms, __ATOMIC_RELAXED);
    }
    pthread_mutex_unlock(&repl.status_lock);
    return n;
}

/* The peer sent ERROR: it closes the link; so does this side. Returns -1 (c is gone). */
static int _peer_error(struct conn *c, const struct repl_msg *m)
{
    _set_error(c->peer, "peer said: %.*s", (int)m->tlen, (const char *)m->text);
    log_warn("replication: peer %s closed the %s link: %.*s", c->peer->name,
             c->outbound ? "outbound" : "inbound", (int)m->tlen, (const char *)m->text);
    if (m->tlen >= 7 && !memcmp(m->text, "fenced:", 7)) {
        __atomic_store_n(&c->peer->fenced_seen_ms, clock_wall_ms(), __ATOMIC_RELAXED);
        c->peer->backoff_ms = 1000;
    } /* it refuses until an operator unfences it: dial it
                                     * every second or two, not every few ms */
    _conn_free(c);
    return -1;
}

/* ---- applying a peer's change ---- */

/* A peer's APPEND: in an ITEM (item), the whole stream. */
static enum store_status _apply_append(const struct store_key *k, const struct repl_change *ch,
                                       bool item)
{
    struct store_remote_append ra = {
        .a = {.epoch = ch->s_epoch, .eorigin = ch->s_eorigin, .offset = ch->s_offset,
              .data = ch->value, .len = ch->vlen, .prev = ch->s_prev,
              .prev_origin = ch->s_prev_origin},
        .stamp = ch->stamp, .origin = ch->origin, .expire_ms = ch->expire_ms, .whole = item};
    return store_apply_append(k, &ra);
}

int repl_apply(struct peer *p, const struct repl_change *ch, bool item, uint64_t *hash)
{
    *hash = 0;
    uint64_t wall = clock_wall_ms();
    if ((ch->stamp >> 16) > wall + repl.max_offset_ms) {
        stat_incr(&p->st.clock_rejected);
        static uint64_t logged_ms;
        uint64_t now = _now_ms();
        if (now - logged_ms >= 10000 || !logged_ms) {
            logged_ms = now;
            log_warn("replication: peer %s: a change stamped %llu ms ahead of this clock is "
                     "refused (max-clock-offset %llu ms); check the clocks", p->name,
                     (unsigned long long)((ch->stamp >> 16) - wall),
                     (unsigned long long)repl.max_offset_ms);
        }
        _set_error(p, "changes stamped beyond max-clock-offset refused");
        return STORE_NOT_STORED;
    }
    uint16_t ns = 0;
    if (!(ch->op == REPL_OP_FLUSH && ch->all) &&
        store_ns_id(ch->ns, ch->nslen, &ns) != STORE_OK) {
        stat_incr(&p->st.dropped_nomem);
        return STORE_ELIMIT;
    }
    if (ch->op == REPL_OP_FLUSH) {
        store_flush_remote(ch->all ? -1 : ns, ch->origin, ch->stamp);
        stat_incr(&p->st.applied);
        return STORE_OK;
    }
    if ((ch->op == REPL_OP_SET || ch->op == REPL_OP_COUNTER || ch->op == REPL_OP_APPEND) &&
        store_value_crc(ch->key, ch->klen, ch->value, ch->vlen, ch->ctr, ch->ctr_len,
                        ch->type) != ch->crc) {
        /* changed on its way (the peer's memory, its backlog, the link): never applied. Not
         * this node's corruption: counted for the peer, not in corrupt_values, so it does
         * not fence this node (docs/integrity.md) */
        stat_incr(&p->st.corrupt);
        static uint64_t logged_ms;
        uint64_t now = _now_ms();
        if (now - logged_ms >= 10000 || !logged_ms) {
            logged_ms = now;
            log_warn("replication: peer %s: a change whose value does not match the checksum "
                     "it came with is refused (E_CORRUPT; repl.%s.corrupt)", p->name, p->name);
        }
        return STORE_NOT_STORED;
    }
    struct store_key k;
    store_key_init(&k, ns, ch->key, ch->klen);
    *hash = k.hash;
    struct store_value v = {ch->type, ch->value, ch->vlen};
    struct store_remote r = {.stamp = ch->stamp, .origin = ch->origin, .expire_ms = ch->expire_ms,
                             .v = &v};
    r.op = ch->op == REPL_OP_SET || ch->op == REPL_OP_COUNTER ? MUT_SET
           : ch->op == REPL_OP_DEL                            ? MUT_DEL
                                                              : MUT_TOUCH;
    if (ch->op == REPL_OP_COUNTER) {
        r.ctr = ch->ctr;
        r.ctr_len = ch->ctr_len;
    }
    int rc;
    if (item && ch->op == REPL_OP_APPEND && ch->s_prev && ch->vlen < ch->s_prev) {
        if ((rc = repl_stream_part(p, &k, ch)) < 0)
            return STORE_OK; /* more parts to come: counted once it is complete */
    } else {
        rc = ch->op == REPL_OP_APPEND ? _apply_append(&k, ch, item) : tiering_apply_remote(&k, &r);
    }
    if (rc == STORE_NOT_FOUND && ch->op == REPL_OP_APPEND) {
        stat_incr(&p->st.stream_lost);
        return rc;
    }
    switch (rc) {
    case STORE_OK:
        stat_incr(&p->st.applied);
        break;
    case STORE_NOT_STORED:
    case STORE_NOT_FOUND:
        stat_incr(&p->st.dropped_older);
        break;
    default:
        stat_incr(&p->st.dropped_nomem);
        break;
    }
    return rc;
}

/* ---- messages on an inbound link: a peer's changes ---- */

static void _send_ack(struct peer *p)
{
    if (!p->in)
        return;
    repl_send_ping(bufferevent_get_output(p->in->bev), REPL_ACK, p->rx_offset, p->rx_seq,
                   store_hlc_wall_ms(), p->ping_echo_ms);
    p->ping_echo_ms = 0; /* echoed once: a later ACK would stretch the round trip */
    p->unacked = 0;
}

static int _on_inbound(struct conn *c, const struct repl_msg *m)
{
    struct peer *p = c->peer;
    uint64_t hash;
    switch (m->type) {
    case REPL_HELLO:
        if (fence_active()) {
            _close_fenced(c); /* and hears out what follows the HELLO */
            return 0;
        }
        if (m->u[0] != REPL_PROTO_VERSION) {
            repl_protocol_error(c, "unsupported protocol version");
            return -1;
        }
        if (m->u[1] == 0 || m->u[1] == repl.node_id) {
            repl_protocol_error(c, "the peer's node-id is 0 or this node's own");
            return -1;
        }
        __atomic_store_n(&p->node_id, (uint16_t)m->u[1], __ATOMIC_RELAXED);
        if (!p->have_pos || p->rx_backlog_id != m->u[2]) {
            p->have_pos = false;
            p->rx_backlog_id = m->u[2];
        }
        repl_send_welcome(bufferevent_get_output(c->bev), repl.node_id, repl.node_name,
                          p->have_pos, p->rx_backlog_id, p->rx_offset, p->rx_seq);
        repl_members_link_up(bufferevent_get_output(c->bev));
        return 0;
    case REPL_START:
        if (m->u[0]) {
            p->rx_full = true;
            p->have_pos = false;
            repl_sweep_cancel(p);
            repl_stream_part_cancel(p);
            p->sync_stamp = m->u[3];
            /* this node's writes from now on are newer than what the sync brings; a peer
             * whose clock is too far ahead moves nothing and gets no authority here */
            if ((m->u[3] >> 16) <= clock_wall_ms() + repl.max_offset_ms) {
                store_clock_floor(m->u[3]);
                p->synced = keyset_new();
                p->gone_s = calloc(REPL_GONE_SLICES, sizeof(*p->gone_s));
                p->gone_o = calloc(REPL_GONE_SLICES, sizeof(*p->gone_o));
                if (!p->synced || !p->gone_s || !p->gone_o)
                    repl_sweep_cancel(p);
            }
        } else if (!p->have_pos || m->u[1] != p->rx_offset) {
            repl_protocol_error(c, "resumed from another position than this node asked");
            return -1;
        }
        return 0;
    case REPL_REC:
        if (p->rx_full || !p->have_pos) {
            repl_protocol_error(c, "a change before the sync started");
            return -1;
        }
        repl_apply(p, &m->c, false, &hash);
        if (p->synced && hash && !keyset_add(p->synced, hash))
            repl_sweep_cancel(p); /* out of memory: no sweep rather than a wrong one */
        p->rx_offset = m->u[0];
        p->rx_seq = m->u[1];
        if (++p->unacked >= 1024)
            _send_ack(p);
        return 0;
    case REPL_ITEM:
        if (!p->rx_full) {
            repl_protocol_error(c, "a full-sync item outside a full sync");
            return -1;
        }
        repl_apply(p, &m->c, true, &hash);
        if (p->synced && hash && !keyset_add(p->synced, hash))
            repl_sweep_cancel(p);
        return 0;
    case REPL_GONE:
        if (!p->rx_full) {
            repl_protocol_error(c, "GONE outside a full sync");
            return -1;
        }
        if (p->gone_s)
            repl_marks_decode(m, p->gone_s + m->u[0], p->gone_o + m->u[0], m->u[1]);
        return 0;
    case REPL_SYNCED:
        if (!p->rx_full) {
            repl_protocol_error(c, "SYNCED outside a full sync");
            return -1;
        }
        p->rx_full = false;
        repl_stream_part_cancel(p); /* a copy in parts the sender did not finish */
        p->have_pos = true;
        p->rx_offset = m->u[0];
        p->rx_seq = m->u[1];
        _send_ack(p);
        log_info("replication: peer %s: full sync received", p->name);
        if (p->synced)
            repl_sweep_begin(p);
        return 0;
    case REPL_PING: /* answered at once, so the sender's round trip is only the network's */
        p->ping_echo_ms = m->u[2];
        _send_ack(p);
        return 0;
    case REPL_MEMBER:
        repl_members_on_msg(m->blob, m->blen);
        return 0;
    case REPL_VIEW:
        pthread_mutex_lock(&repl.status_lock);
        p->view_ms = _now_ms();
        memcpy(p->view_fp, m->fp, REPL_FP_LEN);
        p->view_epoch = m->u[0];
        p->nview = m->nview;
        for (uint32_t i = 0; i < m->nview; i++) {
            snprintf(p->view[i].name, sizeof(p->view[i].name), "%.*s", (int)m->view[i].nlen,
                     (const char *)m->view[i].name);
            memcpy(p->view[i].fp, m->view[i].fp, REPL_FP_LEN);
            p->view[i].out_up = m->view[i].out_up;
            p->view[i].in_up = m->view[i].in_up;
        }
        pthread_mutex_unlock(&repl.status_lock);
        return 0;
    case REPL_AE:
    case REPL_AE_ITEM:
        if (p->rx_full || !p->have_pos) {
            repl_protocol_error(c, "anti-entropy before the link is in sync");
            return -1;
        }
        return repl_ae_on_inbound(p, m);
    case REPL_ERROR:
        return _peer_error(c, m);
    default:
        repl_protocol_error(c, "a message a receiver does not take");
        return -1;
    }
}

/* ---- messages on an outbound link: the peer's answers ---- */

static void _start_full(struct peer *p)
{
    p->fs_end = backlog_head(repl.backlog);
    p->acked = (struct backlog_pos){0, 0}; /* what it had is not known to be there any more */
    _set_ostate(p, OUT_FULL);
    stat_incr(&p->st.full_syncs);
    repl_send_start(bufferevent_get_output(p->out->bev), true, p->fs_end.offset, p->fs_end.seq,
                    store_clock_now());
    repl_full_begin(p, bufferevent_get_output(p->out->bev));
    log_info("replication: peer %s: sending a full sync", p->name);
}

static int _on_outbound(struct conn *c, const struct repl_msg *m)
{
    struct peer *p = c->peer;
    switch (m->type) {
    case REPL_WELCOME:
        if (p->ostate != OUT_HELLO) {
            repl_protocol_error(c, "WELCOME twice");
            return -1;
        }
        if (m->u[0] == 0 || m->u[0] == repl.node_id) {
            repl_protocol_error(c, "the peer's node-id is 0 or this node's own");
            return -1;
        }
        __atomic_store_n(&p->node_id, (uint16_t)m->u[0], __ATOMIC_RELAXED);
        if (m->u[1] && m->u[2] == backlog_id(repl.backlog) && backlog_has(repl.backlog, m->u[3])) {
            p->send = (struct backlog_pos){m->u[3], m->seq};
            p->acked = p->send;
            _set_ostate(p, OUT_STREAM);
            stat_incr(&p->st.partial_resyncs);
            repl_send_start(bufferevent_get_output(c->bev), false, p->send.offset, p->send.seq,
                            0);
        } else {
            _start_full(p);
        }
        pthread_mutex_lock(&repl.status_lock);
        p->last_error[0] = '\0'; /* up again: what went wrong before is history */
        pthread_mutex_unlock(&repl.status_lock);
        _update_up_gauge();
        _fill(p);
        return 0;
    case REPL_MEMBER:
        repl_members_on_msg(m->blob, m->blen);
        return 0;
    case REPL_ACK:
        if (m->u[3])
            _clock_sample(p, m->u[2], m->u[3]);
        if (m->u[0] >= p->acked.offset) {
            p->acked.offset = m->u[0];
            p->acked.seq = m->u[1];
            repl_wait_acked();
        }
        return 0;
    case REPL_PING:
        return 0;
    case REPL_AE:
        if (p->ostate != OUT_STREAM) {
            repl_protocol_error(c, "anti-entropy before the link is in sync");
            return -1;
        }
        return repl_ae_on_outbound(p, m);
    case REPL_ERROR:
        return _peer_error(c, m);
    default:
        repl_protocol_error(c, "a message a sender does not take");
        return -1;
    }
}

/* ---- sending ---- */

static void _fill(struct peer *p)
{
    if (!p->out || p->out->closing || (p->ostate != OUT_FULL && p->ostate != OUT_STREAM))
        return;
    struct evbuffer *out = bufferevent_get_output(p->out->bev);
    while (p->ostate == OUT_FULL && !repl_full_waits(p) && evbuffer_get_length(out) < FILL) {
        if (!repl_full_step(p, out)) {
            repl_send_synced(out, p->fs_end.offset, p->fs_end.seq);
            p->send = p->fs_end;
            _set_ostate(p, OUT_STREAM);
        }
    }
    if (p->ostate != OUT_STREAM)
        return;
    uint64_t before = p->send.seq;
    int rc = backlog_read(repl.backlog, &p->send, out, FILL);
    if (rc < 0) {
        /* it fell out of the ring while connected: start over with a full sync */
        log_warn("replication: peer %s fell behind the backlog (repl-backlog-size): full sync",
                 p->name);
        _start_full(p);
        _fill(p);
        return;
    }
    stat_add(&p->st.sent, p->send.seq - before);
    repl_ae_fill(p);
}

static void _read_cb(struct bufferevent *bev, void *arg);

/* A link paused for the disk writer (repl_stream_part) reads again: what arrived meanwhile
 * first. */
static void _resume_reading(struct peer *p)
{
    if (!p->in)
        return;
    bufferevent_enable(p->in->bev, EV_READ);
    _read_cb(p->in->bev, p->in);
}

static void _notify_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd, (void)what, (void)arg;
    if (!__atomic_load_n(&running, __ATOMIC_ACQUIRE)) { /* repl_link_stop */
        event_base_loopbreak(base);
        return;
    }
    __atomic_store_n(&notified, 0, __ATOMIC_RELEASE);
    for (int i = 0; i < repl.npeers; i++) {
        _fill(&repl.peers[i]);
        repl_sweep_poke(&repl.peers[i]);
        repl_stream_part_poke(&repl.peers[i], _resume_reading);
    }
    if (repl_members_asked())
        repl_members_step(); /* an operator's revoke or rotate-cert: now, not at the tick */
}

void repl_link_notify(void)
{
    if (__atomic_load_n(&running, __ATOMIC_ACQUIRE) &&
        !__atomic_exchange_n(&notified, 1, __ATOMIC_ACQ_REL))
        event_active(notify_ev, EV_READ, 0);
}

/* ---- connections ---- */

static void _read_cb(struct bufferevent *bev, void *arg)
{
    struct conn *c = arg;
    struct evbuffer *in = bufferevent_get_input(bev);
    for (;;) {
        if (!c->outbound && c->peer && c->peer->rx_paused && !c->hearing) {
            bufferevent_disable(bev, EV_READ); /* _resume_reading goes on */
            break;
        }
        uint8_t hdr[4];
        if (evbuffer_copyout(in, hdr, 4) < 4)
            break;
        uint32_t len = repl_frame_len(hdr);
        if (len > REPL_MAX_FRAME) {
            repl_protocol_error(c, "frame too large");
            return;
        }
        if (evbuffer_get_length(in) < 4 + (size_t)len)
            break;
        const uint8_t *frame = evbuffer_pullup(in, 4 + (ssize_t)len);
        struct repl_msg m;
        const char *why = NULL;
        if (!frame || repl_decode(frame + 4, len, &m, &why) != 0) {
            repl_protocol_error(c, why ? why : "out of memory");
            return;
        }
        int rc = 0;
        if (!c->hearing)
            rc = c->outbound ? _on_outbound(c, &m) : _on_inbound(c, &m);
        else if (m.type == REPL_MEMBER) /* nothing else is applied */
            repl_members_on_msg(m.blob, m.blen);
        if (rc != 0)
            return; /* c is gone */
        evbuffer_drain(in, 4 + (size_t)len);
    }
    /* everything that arrived is applied: say so now, not at the next tick, so a writer's
     * WAIT returns after one round trip (one ACK per read, however many changes it held) */
    if (!c->outbound && !c->hearing && c->peer && c->peer->in == c && c->peer->unacked)
        _send_ack(c->peer);
}

static void _write_cb(struct bufferevent *bev, void *arg)
{
    struct conn *c = arg;
    if (c->closing) {
        if (evbuffer_get_length(bufferevent_get_output(bev)) == 0 && !c->hearing)
            _conn_free(c);
        return;
    }
    if (c->outbound && c->peer)
        _fill(c->peer);
}

static void _conn_free(struct conn *c)
{
    struct peer *p = c->peer;
    if (p && p->out == c) {
        if (p->ostate != OUT_CONNECTING)
            stat_incr(&p->st.disconnects);
        p->out = NULL;
        _set_ostate(p, OUT_IDLE);
        repl_full_cancel(p);
        repl_ae_link_down(p, true);
        __atomic_store_n(&p->st.out_up, 0, __ATOMIC_RELAXED);
        if (__atomic_load_n(&running, __ATOMIC_ACQUIRE))
            _schedule_dial(p);
    } else if (p && p->in == c) {
        p->in = NULL;
        repl_ae_link_down(p, false);
        if (p->rx_full)
            repl_sweep_cancel(p); /* the sync did not complete: its key set says nothing */
        p->rx_full = false;
        repl_stream_part_cancel(p);
        p->rx_paused = false;
        if (!p->have_pos)
            p->rx_backlog_id = 0;
        __atomic_store_n(&p->st.in_up, 0, __ATOMIC_RELAXED);
        stat_incr(&p->st.disconnects);
    }
    if (c->prev)
        c->prev->next = c->next;
    else
        conns = c->next;
    if (c->next)
        c->next->prev = c->prev;
    bufferevent_free(c->bev);
    free(c);
    _update_up_gauge();
}

static void _refused(struct conn *c, const char *why)
{
    stat_incr(&st.repl_refused);
    struct sockaddr_in a;
    inet_pton(AF_INET, c->from, &a.sin_addr);
    for (unsigned i = 0; i < nrefused_logged; i++)
        if (refused_logged[i].s_addr == a.sin_addr.s_addr)
            return;
    if (nrefused_logged < REFUSED_LOGGED)
        refused_logged[nrefused_logged++] = a.sin_addr;
    log_warn("replication: refused a connection from %s: %s (logged once per source; "
             "counted in repl_refused)", c->from, why);
}

static void _event_cb(struct bufferevent *bev, short what, void *arg)
{
    struct conn *c = arg;
    char why[256];
    if (c->hearing) { /* the peer closed (it read the ERROR): nothing to report */
        _conn_free(c);
        return;
    }
    if (what & BEV_EVENT_CONNECTED) {
        SSL *ssl = bufferevent_openssl_get_ssl(bev);
        uint8_t fp[REPL_FP_LEN];
        if (!c->outbound) {
            struct peer *p = NULL;
            if (repl_tls_peer_fingerprint(ssl, fp) == 0)
                for (int i = 0; i < repl.npeers && !p; i++)
                    if (!memcmp(repl.peers[i].fp, fp, REPL_FP_LEN))
                        p = &repl.peers[i];
            if (!p) {
                _refused(c, "not a peer");
                _conn_free(c);
                return;
            }
            if (p->in)
                _conn_free(p->in); /* a newer link replaces the old one */
            c->peer = p;
            p->in = c;
            p->unacked = 0;
            __atomic_store_n(&p->st.in_up, 1, __ATOMIC_RELAXED);
        } else {
            _nodelay(bufferevent_getfd(bev));
            _set_ostate(c->peer, OUT_HELLO);
            c->peer->backoff_ms = 0;
            if (c->peer->down_logged)
                log_info("replication: peer %s: connected", c->peer->name);
            c->peer->down_logged = false;
            repl_send_hello(bufferevent_get_output(bev), repl.node_id, repl.node_name,
                            backlog_id(repl.backlog));
            /* the membership's changes right behind it: a fenced peer refuses the HELLO but
             * hears them (_close_fenced), so a majority's re-admission reaches it */
            repl_members_link_up(bufferevent_get_output(bev));
            __atomic_store_n(&c->peer->st.out_up, 1, __ATOMIC_RELAXED);
        }
        int64_t exp = repl_tls_peer_expiry(ssl);
        __atomic_store_n(&c->peer->st.cert_expiry, exp > 0 ? (uint64_t)exp : 0, __ATOMIC_RELAXED);
        stat_incr(&c->peer->st.connects);
        _update_up_gauge();
        return;
    }
    _bev_reason(bev, what, why, sizeof(why));
    if (!c->peer) {
        _refused(c, why);
    } else {
        _set_error(c->peer, "%s link: %s", c->outbound ? "outbound" : "inbound", why);
        if (c->outbound && c->peer->ostate == OUT_CONNECTING) {
            if (!c->peer->down_logged)
                log_warn("replication: peer %s (%s): cannot connect: %s (retrying)",
                         c->peer->name, c->peer->addr_text, why);
            c->peer->down_logged = true;
        } else {
            log_info("replication: peer %s: %s link lost: %s", c->peer->name,
                     c->outbound ? "outbound" : "inbound", why);
        }
    }
    _conn_free(c);
}

static struct conn *_conn_new(evutil_socket_t fd, SSL *ssl, bool outbound)
{
    struct conn *c = calloc(1, sizeof(*c));
    if (!c) {
        SSL_free(ssl);
        if (fd >= 0)
            evutil_closesocket(fd);
        return NULL;
    }
    c->outbound = outbound;
    c->bev = bufferevent_openssl_socket_new(
        base, fd, ssl, outbound ? BUFFEREVENT_SSL_CONNECTING : BUFFEREVENT_SSL_ACCEPTING,
        BEV_OPT_CLOSE_ON_FREE | BEV_OPT_DEFER_CALLBACKS);
    if (!c->bev) {
        SSL_free(ssl);
        if (fd >= 0)
            evutil_closesocket(fd);
        free(c);
        return NULL;
    }
    bufferevent_openssl_set_allow_dirty_shutdown(c->bev, 1);
    bufferevent_setcb(c->bev, _read_cb, _write_cb, _event_cb, c);
    bufferevent_setwatermark(c->bev, EV_WRITE, FILL / 4, 0);
    struct timeval rt = {READ_TIMEOUT_S, 0}, wt = {WRITE_TIMEOUT_S, 0};
    bufferevent_set_timeouts(c->bev, &rt, &wt);
    bufferevent_enable(c->bev, EV_READ | EV_WRITE);
    c->next = conns;
    if (conns)
        conns->prev = c;
    conns = c;
    return c;
}

static void _accept_cb(struct evconnlistener *l, evutil_socket_t fd, struct sockaddr *sa,
                       int salen, void *arg)
{
    (void)l, (void)salen, (void)arg;
    SSL *ssl = SSL_new(repl.server_ctx);
    if (!ssl || repl_tls_pin(ssl, (const uint8_t(*)[REPL_FP_LEN])repl.pins,
                             2 * REPL_MAX_PEERS) != 0) {
        SSL_free(ssl);
        evutil_closesocket(fd);
        return;
    }
    _nodelay(fd);
    struct conn *c = _conn_new(fd, ssl, false);
    if (c && sa->sa_family == AF_INET)
        inet_ntop(AF_INET, &((struct sockaddr_in *)sa)->sin_addr, c->from, sizeof(c->from));
}

static void _dial(evutil_socket_t fd, short what, void *arg)
{
    (void)fd, (void)what;
    struct peer *p = arg;
    if (p->out || !__atomic_load_n(&running, __ATOMIC_ACQUIRE))
        return;
    if (p->revoked)
        return; /* revoked by the cluster (members.c): never again */
    if (fence_active()) { /* a fenced node sends nothing: try again later */
        _schedule_dial(p);
        return;
    }
    SSL *ssl = SSL_new(repl.client_ctx);
    uint8_t pins[2][REPL_FP_LEN]; /* its fingerprint, and the one it is rotating to */
    memcpy(pins[0], repl.pins[p->idx], REPL_FP_LEN);
    memcpy(pins[1], repl.pins[REPL_MAX_PEERS + p->idx], REPL_FP_LEN);
    if (!ssl || repl_tls_pin(ssl, (const uint8_t(*)[REPL_FP_LEN])pins, 2) != 0) {
        SSL_free(ssl);
        _schedule_dial(p);
        return;
    }
    struct conn *c = _conn_new(-1, ssl, true);
    if (!c) {
        _schedule_dial(p);
        return;
    }
    c->peer = p;
    p->out = c;
    _set_ostate(p, OUT_CONNECTING);
    snprintf(c->from, sizeof(c->from), "%s", p->addr_text);
    if (bufferevent_socket_connect(c->bev, (struct sockaddr *)&p->addr, sizeof(p->addr)) != 0) {
        _set_error(p, "connect: %s", strerror(errno));
        _conn_free(c); /* schedules the next try */
    }
}

/* A peer's timers (dial, sweep, anti-entropy); its first dial at once. 0, or -1. */
static int _peer_events(struct peer *p)
{
    p->retry = evtimer_new(base, _dial, p);
    p->sweep = event_new(base, -1, 0, repl_sweep_cb, p);
    if (!p->retry || !p->sweep || repl_ae_setup(base, p) != 0)
        return -1;
    struct timeval now = {0, 0};
    evtimer_add(p->retry, &now);
    return 0;
}

void repl_link_peer_added(struct peer *p)
{
    memcpy(repl.pins[p->idx], p->fp, REPL_FP_LEN);
    if (base && _peer_events(p) != 0) /* base: the link thread runs (not at start) */
        log_error("replication: peer %s: out of memory for its events: it is not dialed",
                  p->name);
}

static void _schedule_dial(struct peer *p)
{
    p->backoff_ms = p->backoff_ms ? p->backoff_ms * 2 : BACKOFF_MIN_MS;
    if (p->backoff_ms > BACKOFF_MAX_MS)
        p->backoff_ms = BACKOFF_MAX_MS;
    unsigned ms = p->backoff_ms / 2 + (unsigned)(random() % (p->backoff_ms / 2 + 1));
    struct timeval tv = {ms / 1000, (ms % 1000) * 1000};
    evtimer_add(p->retry, &tv);
}

/* How this node sees its peers, for theirs to show (cache-cli cluster status --all). */
static void _send_view(struct evbuffer *out)
{
    struct repl_view_entry v[REPL_VIEW_MAX];
    for (int i = 0; i < repl.npeers; i++) {
        const struct peer *q = &repl.peers[i];
        v[i] = (struct repl_view_entry){.name = (const uint8_t *)q->name,
                                        .nlen = (uint32_t)strlen(q->name), .fp = q->fp,
                                        .out_up = q->out && q->ostate >= OUT_FULL,
                                        .in_up = q->in != NULL};
    }
    repl_send_view(out, repl.id.fp, repl_members_epoch(), v, (uint32_t)repl.npeers);
}

/* Every TICK_MS: acknowledgments, pings, views, gauges. */
static void _tick_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd, (void)what, (void)arg;
    static unsigned ticks;
    bool second = ++ticks % (1000 / TICK_MS) == 0;
    struct backlog_pos head = backlog_head(repl.backlog);
    uint64_t wall = store_hlc_wall_ms(); /* our clock, for the peers' clock check */
    _fence_links();
    _end_hearings();
    if (second)
        repl_members_step(); /* evidence may have come (a peer fenced itself) */
    for (int i = 0; i < repl.npeers; i++) {
        struct peer *p = &repl.peers[i];
        if (p->in && !p->in->closing && (p->unacked || second))
            _send_ack(p);
        if (p->out && !p->out->closing && second && p->ostate >= OUT_FULL) {
            struct evbuffer *out = bufferevent_get_output(p->out->bev);
            repl_send_ping(out, REPL_PING, head.offset, head.seq, wall, 0);
            _send_view(out);
        }
        uint64_t lag_rec = head.seq - p->acked.seq;
        uint64_t first = lag_rec ? backlog_first_time(repl.backlog, p->acked.offset) : 0;
        __atomic_store_n(&p->st.lag_records, lag_rec, __ATOMIC_RELAXED);
        __atomic_store_n(&p->st.lag_bytes, head.offset - p->acked.offset, __ATOMIC_RELAXED);
        __atomic_store_n(&p->st.lag_ms, first && wall > first ? wall - first : 0,
                         __ATOMIC_RELAXED);
    }
    struct backlog_stats bs;
    backlog_stats(repl.backlog, &bs);
    __atomic_store_n(&st.repl_backlog_bytes, bs.bytes, __ATOMIC_RELAXED);
    __atomic_store_n(&st.repl_backlog_records, bs.records, __ATOMIC_RELAXED);
    __atomic_store_n(&st.repl_backlog_superseded, bs.superseded, __ATOMIC_RELAXED);
    __atomic_store_n(&st.repl_backlog_too_large, bs.too_large, __ATOMIC_RELAXED);
}

static void *_thread_main(void *arg)
{
    (void)arg;
    pthread_setname_np(pthread_self(), "csd-repl");
    event_base_dispatch(base);
    return NULL;
}

int repl_link_start(char *err, size_t errlen)
{
    stats_register(st_desc, STAT_COUNT(st_desc), &st);
    if (evthread_use_pthreads() != 0 || !(base = event_base_new())) {
        snprintf(err, errlen, "cannot make the link thread's event loop");
        return -1;
    }
    listener = evconnlistener_new_bind(base, _accept_cb, NULL,
                                       LEV_OPT_CLOSE_ON_FREE | LEV_OPT_REUSEABLE |
                                           LEV_OPT_CLOSE_ON_EXEC,
                                       64, (struct sockaddr *)&repl.listen_addr,
                                       sizeof(repl.listen_addr));
    if (!listener) {
        char a[64];
        inet_ntop(AF_INET, &repl.listen_addr.sin_addr, a, sizeof(a));
        snprintf(err, errlen, "cannot listen on %s:%u for peers: %s", a,
                 ntohs(repl.listen_addr.sin_port), strerror(errno));
        event_base_free(base);
        base = NULL;
        return -1;
    }
    if (repl_wait_setup(base) != 0) {
        snprintf(err, errlen, "out of memory for the link thread's events");
        return -1;
    }
    notify_ev = event_new(base, -1, EV_PERSIST | EV_READ, _notify_cb, NULL);
    tick_ev = event_new(base, -1, EV_PERSIST, _tick_cb, NULL);
    struct timeval tick = {0, TICK_MS * 1000};
    event_add(tick_ev, &tick);
    __atomic_store_n(&running, true, __ATOMIC_RELEASE);
    for (int i = 0; i < repl.npeers; i++)
        if (_peer_events(&repl.peers[i]) != 0) {
            snprintf(err, errlen, "out of memory for anti-entropy");
            return -1;
        }
    if (pthread_create(&thread, NULL, _thread_main, NULL) != 0) {
        running = false;
        snprintf(err, errlen, "cannot start the link thread");
        return -1;
    }
    return 0;
}

void repl_link_stop(void)
{
    if (!base)
        return;
    if (running) {
        __atomic_store_n(&running, false, __ATOMIC_RELEASE);
        /* not event_base_loopbreak: a break asked for before the thread entered its loop is
         * cleared as the loop starts, and the join waited for ever (seen once in the suite:
         * a node stopped a few ms after it started). An activated event stays queued; its
         * callback, seeing running false, breaks the loop from inside. */
        event_active(notify_ev, EV_READ, 0);
        pthread_join(thread, NULL);
    }
    /* nothing may fire any more: timers, the listener, then the links */
    for (int i = 0; i < repl.npeers; i++) {
        struct peer *p = &repl.peers[i];
        repl_sweep_cancel(p);
        repl_full_cancel(p);
        repl_ae_teardown(p);
        if (p->retry)
            event_free(p->retry);
        if (p->sweep)
            event_free(p->sweep);
        p->retry = p->sweep = NULL;
    }
    repl_wait_teardown();
    evconnlistener_free(listener);
    event_free(notify_ev);
    event_free(tick_ev);
    while (conns)
        _conn_free(conns);
    /* a freed bufferevent (with its SSL) is finalized by the loop, later: let the loop run
     * those (and any left from its last turn) before the base goes */
    event_base_loop(base, EVLOOP_NONBLOCK);
    event_base_free(base);
    base = NULL;
    listener = NULL;
}

_Static_assert(REPL_MAX_PEERS <= REPL_VIEW_MAX && REPL_MAX_PEERS <= REPL_STATUS_PEERS,
               "a VIEW and a status hold every peer");

static const char *_link_name(enum out_state s)
{
    switch (s) {
    case OUT_IDLE:
        return "down";
    case OUT_CONNECTING:
        return "connecting";
    case OUT_HELLO:
        return "handshake";
    case OUT_FULL:
        return "full-sync";
    case OUT_STREAM:
        return "up";
    }
    return "?";
}

void repl_status(struct repl_status *out)
{
    memset(out, 0, sizeof(*out));
    out->enabled = repl_enabled();
    if (!out->enabled)
        return;
    out->node_id = repl.node_id;
    snprintf(out->name, sizeof(out->name), "%s", repl.node_name);
    pthread_mutex_lock(&repl.status_lock);
    snprintf(out->fp, sizeof(out->fp), "%s", repl.id.fp_hex);
    out->cert_expiry = repl.id.not_after;
    pthread_mutex_unlock(&repl.status_lock);
    out->membership_epoch = repl_members_epoch();
    uint64_t now = _now_ms();
    pthread_mutex_lock(&repl.status_lock);
    out->npeers = repl.npeers; /* under the lock: a membership change may add one */
    for (int i = 0; i < repl.npeers; i++) {
        struct peer *p = &repl.peers[i];
        struct repl_peer_status *o = &out->peers[i];
        snprintf(o->name, sizeof(o->name), "%s", p->name);
        snprintf(o->addr, sizeof(o->addr), "%s", p->addr_text);
        snprintf(o->fp, sizeof(o->fp), "%s", p->fp_hex);
        o->node_id = __atomic_load_n(&p->node_id, __ATOMIC_RELAXED);
        o->link = _link_name(__atomic_load_n(&p->ostate, __ATOMIC_RELAXED));
        o->in_up = stat_get(&p->st.in_up) != 0;
        o->revoked = __atomic_load_n(&p->revoked, __ATOMIC_RELAXED);
        o->removed = __atomic_load_n(&p->removed, __ATOMIC_RELAXED);
        o->cert_expiry = stat_get(&p->st.cert_expiry);
        o->lag_records = stat_get(&p->st.lag_records);
        o->lag_bytes = stat_get(&p->st.lag_bytes);
        o->lag_ms = stat_get(&p->st.lag_ms);
        o->partial_resyncs = stat_get(&p->st.partial_resyncs);
        o->full_syncs = stat_get(&p->st.full_syncs);
        o->applied = stat_get(&p->st.applied);
        o->dropped_older = stat_get(&p->st.dropped_older);
        o->clock_rejected = stat_get(&p->st.clock_rejected);
        snprintf(o->last_error, sizeof(o->last_error), "%s", p->last_error);
        o->view_age_ms = p->view_ms ? (int64_t)(now - p->view_ms) : -1;
        if (p->view_ms)
            repl_fingerprint_format(p->view_fp, o->view_fp);
        o->view_epoch = p->view_epoch;
        o->nview = p->nview;
        for (uint32_t j = 0; j < p->nview; j++) {
            snprintf(o->view[j].name, sizeof(o->view[j].name), "%s", p->view[j].name);
            repl_fingerprint_format(p->view[j].fp, o->view[j].fp);
            o->view[j].out_up = p->view[j].out_up;
            o->view[j].in_up = p->view[j].in_up;
        }
    }
    pthread_mutex_unlock(&repl.status_lock);
}
