/* libcacheclient: the C client of cacheserverd (docs/protocol.md).
 *
 * Thread safety: a cc_client is NOT thread-safe. Use one client object per thread (or guard
 * one with your own lock). Different clients share nothing and may be used concurrently.
 *
 * Errors: every call returns a status (enum cc_status in cacheclient_protocol.h): CC_OK, an
 * outcome such as CC_NOT_FOUND, or an error code (>= 100). Server errors keep the server's
 * code; local failures are 200..299 (E_CONNECT, E_TIMEOUT, E_IO, ...). cc_errmsg() gives the
 * message of the most recent error on that client.
 *
 * Units: every ttl_ms is milliseconds, 0 = no expiry (at most CC_TTL_MAX_MS, 100 years: larger
 * is CC_E_BAD_ARGS). A remaining ttl read back (cc_ttl, cc_item.ttl_ms) is milliseconds, -1 =
 * no expiry (cache-cli prints -1 too; PHP's ttl() returns null). Timeouts are milliseconds.
 *
 * Size limits: HELLO tells the client the server's max_frame_size. A request longer than that
 * (a value larger than about max_frame_size, in cc_set, cc_mset, cc_append or a batch) is
 * refused before anything is sent, with CC_E_FRAME_TOO_LARGE and a message saying to store
 * it in pieces with cc_append; the connection stays usable (the server would have closed
 * it). A value under max_frame_size but above max_value_size is the server's
 * CC_E_VALUE_TOO_LARGE.
 *
 * Connections: the client connects on first use (or with cc_connect). A broken connection
 * (server restart, timeout, protocol error) is closed; the failing call returns the error and
 * the next call connects again and re-selects the namespace. Requests are never replayed.
 *
 * Shared-memory reads (docs/shm-reads.md): when the server runs with shm-reads on, HELLO hands
 * the client a read-only mapping of the server's region of hot, small items (shared by all
 * clients of one process and socket path). cc_get, cc_mget (per key) and cc_lease_get (hits
 * only) answer from it without a system call when the key is there, and ask the server
 * otherwise. A region copy is invalidated before the server acknowledges any change of its
 * key, so a read never returns a value older than one already acknowledged to anyone. Batches
 * never read the region. Region hits are counted by the process and reported to the server's
 * STATS with the next request, after at most about a second, or at cc_client_destroy.
 * cc_options.shm_reads = 0 turns it off for a client; cc_shm_stats says what it did. After
 * fork() the child keeps the mapping (still right) and forgets the parent's unreported hits.
 */
#ifndef CACHECLIENT_H
#define CACHECLIENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cacheclient_protocol.h"

#ifdef __cplusplus
extern "C" {
#endif

#if defined(__GNUC__)
#define CC_EXPORT __attribute__((visibility("default")))
#else
#define CC_EXPORT
#endif

typedef struct cc_client cc_client;

/** Connection options. Initialise with cc_options_init() and override fields. */
typedef struct cc_options {
    const char *socket_path; /**< Unix socket path; default CC_DEFAULT_SOCKET,
                                  "/run/cacheserverd/cacheserverd.sock" (the server's default) */
    int connect_timeout_ms;  /**< default 500; a full listen backlog is retried until then */
    int io_timeout_ms;       /**< per call, for sending the request and reading its reply; default 2000 */
    const char *ns;          /**< namespace selected on every (re)connect; NULL = default "" */
    const char *client_name; /**< sent in HELLO for the server's logs; may be NULL */
    int shm_reads;           /**< 1 (default): ask the server for its shared-memory region and
                                  answer cc_get, cc_mget and cc_lease_get from it when the key
                                  is there (docs/shm-reads.md); 0: every read uses the socket */
} cc_options;

/** A typed value. For bytes/stream, data/len is the content. For array and map, data/len is
 * the value's msgpack encoding (decode it with msgpack-c's msgpack_unpack). For object,
 * class_name/class_len, serializer and data/len (the serialized bytes). */
typedef struct cc_value {
    int type; /**< enum cc_type */
    int64_t i;
    uint64_t u;    /**< ints above INT64_MAX (is_uint set) */
    bool is_uint;
    double f;
    bool b;
    const uint8_t *data;
    size_t len;
    const char *class_name;
    size_t class_len;
    uint64_t serializer;
} cc_value;

/** Build values to pass to cc_set and friends; they point at the caller's memory. */
CC_EXPORT cc_value cc_value_null(void);
CC_EXPORT cc_value cc_value_bool(bool b);
CC_EXPORT cc_value cc_value_int(int64_t i);
CC_EXPORT cc_value cc_value_float(double f);
CC_EXPORT cc_value cc_value_bytes(const void *data, size_t len);
/** An array or map given as its msgpack encoding (type is CC_TYPE_ARRAY or CC_TYPE_MAP). */
CC_EXPORT cc_value cc_value_msgpack(int type, const void *encoded, size_t len);
CC_EXPORT cc_value cc_value_object(const char *class_name, size_t class_len, uint64_t serializer,
                                   const void *data, size_t len);

/** A value read back, with its metadata. Owns its memory: release with cc_item_release(). */
typedef struct cc_item {
    bool found;       /**< false for a miss (MGET) */
    cc_value value;
    int64_t ttl_ms;   /**< remaining ttl in milliseconds, -1 = no expiry */
    uint64_t version; /**< for CAS */
    void *_buf;       /**< private */
} cc_item;

/** What the shared-memory region did for one client's reads (cc_shm_stats). Each key of a
 * cc_get, cc_mget or cc_lease_get counts once: in hits, or in one of the reasons it went to
 * the server (misses .. checksum) and then in socket_reads too. */
typedef struct cc_shm_info {
    bool mapped;           /**< the client holds a region now */
    uint64_t hits;         /**< answered from the region, without a system call */
    uint64_t misses;       /**< not in the region (or expired, or its namespace flushed) */
    uint64_t retries;      /**< a server write changed the key's slot during both attempts */
    uint64_t stale;        /**< the region was closed (shm-reads off, node fenced), its server
                                stopped or its heartbeat was late */
    uint64_t checksum;     /**< the key's entry failed its checks (reported to the server) */
    uint64_t socket_reads; /**< keys read through the socket */
} cc_shm_info;

/** Free what an item owns; the item becomes empty. Safe on an empty or zeroed item. */
CC_EXPORT void cc_item_release(cc_item *item);

CC_EXPORT void cc_options_init(cc_options *opts);

/** Create a client (does not connect). Returns NULL only when out of memory. */
CC_EXPORT cc_client *cc_client_create(const cc_options *opts);
/** Close and free; sets *c to NULL. */
CC_EXPORT void cc_client_destroy(cc_client **c);
/** Connect now (otherwise the first call connects). */
CC_EXPORT int cc_connect(cc_client *c);
/** Close the connection; the next call reconnects. */
CC_EXPORT void cc_disconnect(cc_client *c);
/** The client's shared-memory read counts since it was created. */
CC_EXPORT void cc_shm_stats(const cc_client *c, cc_shm_info *out);
/** Message of the most recent error on this client ("" if none). Valid until the next call. */
CC_EXPORT const char *cc_errmsg(const cc_client *c);
/** Name of a status code, e.g. "E_TIMEOUT". */
CC_EXPORT const char *cc_strstatus(int status);

CC_EXPORT int cc_ping(cc_client *c);
/** Select the namespace for this and future connections of this client. When the client
 * reads the shared-memory region and the region already names ns (the server knows it), the
 * server is told only before the next request that needs the socket, so switching between
 * known namespaces costs nothing while reads come from the region. */
CC_EXPORT int cc_select_ns(cc_client *c, const char *ns);

/** @return CC_OK with *out filled, CC_NOT_FOUND, or an error. */
CC_EXPORT int cc_get(cc_client *c, const void *key, size_t klen, cc_item *out);
/** Reads n keys in one frame (or, beyond the server's max_request_keys, in frames of that many,
 * one after the other); out[i].found tells hit or miss. @return CC_OK or an error. */
CC_EXPORT int cc_mget(cc_client *c, size_t n, const void *const *keys, const size_t *klens,
                      cc_item *out);
/** flags: CC_SET_NX / CC_SET_XX; cas: 0 or a version; ttl_ms: milliseconds, 0 = no expiry.
 * version_out may be NULL.
 * @return CC_OK, CC_NOT_STORED, CC_CAS_MISMATCH, CC_NOT_FOUND (cas on a missing key), or an error. */
CC_EXPORT int cc_set(cc_client *c, const void *key, size_t klen, const cc_value *v,
                     uint64_t ttl_ms, unsigned flags, uint64_t cas, uint64_t *version_out);
/** n items in one frame, all written or none; ttls_ms[i]: milliseconds, 0 = no expiry. Beyond
 * the server's max_request_keys (1024 by default), in frames of that many, in order: each
 * all or none, and a failure leaves the pieces before it written. */
CC_EXPORT int cc_mset(cc_client *c, size_t n, const void *const *keys, const size_t *klens,
                      const cc_value *values, const uint64_t *ttls_ms);
/** DEL and EXISTS of n keys: beyond the server's max_request_keys, in frames of that many;
 * *deleted / *count sum them (on an error, what the frames before it did). */
CC_EXPORT int cc_del(cc_client *c, size_t n, const void *const *keys, const size_t *klens,
                     uint64_t *deleted);
CC_EXPORT int cc_exists(cc_client *c, size_t n, const void *const *keys, const size_t *klens,
                        uint64_t *count);
/** Give a key a new ttl_ms (milliseconds, 0 = no expiry). @return CC_OK or CC_NOT_FOUND. */
CC_EXPORT int cc_touch(cc_client *c, const void *key, size_t klen, uint64_t ttl_ms);
/** *ttl_ms = remaining milliseconds, or -1 for no expiry. @return CC_OK or CC_NOT_FOUND. */
CC_EXPORT int cc_ttl(cc_client *c, const void *key, size_t klen, int64_t *ttl_ms);
/** Add delta to an int (or a canonical decimal bytes value) and put the new value in *result.
 * A missing key counts from initial: it is created as initial + delta (cc_decr: initial -
 * delta) with ttl_ms (milliseconds, 0 = none; an existing key keeps its ttl), so
 * cc_incr(c, k, n, 1, 0, 0, &r) of a missing key gives 1, as Redis INCR does (and PHP
 * increment(), cache-cli incr).
 * @return CC_OK, CC_E_TYPE (not an int), CC_E_OVERFLOW (beyond int64; nothing changed). */
CC_EXPORT int cc_incr(cc_client *c, const void *key, size_t klen, int64_t delta, int64_t initial,
                      uint64_t ttl_ms, int64_t *result);
CC_EXPORT int cc_decr(cc_client *c, const void *key, size_t klen, int64_t delta, int64_t initial,
                      uint64_t ttl_ms, int64_t *result);
/** Append to a stream (created when missing; a bytes value becomes one); ttl_ms
 * (milliseconds, 0 = no expiry) applies only when the key is created. *new_len: bytes. */
CC_EXPORT int cc_append(cc_client *c, const void *key, size_t klen, const void *data, size_t len,
                        uint64_t ttl_ms, uint64_t *new_len);
/** offset and length in bytes; out->value is bytes. */
CC_EXPORT int cc_getrange(cc_client *c, const void *key, size_t klen, uint64_t offset,
                          uint64_t length, cc_item *out);
CC_EXPORT int cc_strlen(cc_client *c, const void *key, size_t klen, uint64_t *len);

/** Keys returned by SCAN. Owns its memory: release with cc_keys_release(). */
typedef struct cc_keys {
    size_t n;
    const uint8_t **keys;
    size_t *lens;
    void *_buf;
} cc_keys;
CC_EXPORT void cc_keys_release(cc_keys *k);
CC_EXPORT int cc_scan(cc_client *c, uint64_t cursor, const void *prefix, size_t plen,
                      uint32_t count, uint64_t *next_cursor, cc_keys *out);

/** ns NULL flushes every namespace. removed may be NULL. */
CC_EXPORT int cc_flush(cc_client *c, const char *ns, uint64_t *removed);
/** STATS, INFO and CONFIG GET answer a map: out->value.type == CC_TYPE_MAP. */
CC_EXPORT int cc_stats(cc_client *c, cc_item *out);
CC_EXPORT int cc_info(cc_client *c, cc_item *out);
CC_EXPORT int cc_config_get(cc_client *c, const char *pattern, cc_item *out);
CC_EXPORT int cc_config_set(cc_client *c, const char *name, const char *value);
/** How the server sees its replication peers: a flat map (docs/protocol.md, CLUSTER_STATUS);
 * "enabled" is 0 on a node without peers. */
CC_EXPORT int cc_cluster_status(cc_client *c, cc_item *out);
/** Lift the server's self-fencing (docs/integrity.md): an operator's decision that the node
 * may serve and replicate again. *was (may be NULL) is 1 when it was fenced. */
CC_EXPORT int cc_cluster_unfence(cc_client *c, int *was);
/** Ask the cluster to revoke the peer named `peer` (docs/integrity.md): this node proposes and
 * signs it; the other members sign only on evidence of their own (the same request made to
 * them, or the peer fenced itself), and it is applied once a majority signed. Returns at
 * once (CC_OK: proposed); `cluster status` shows `revoked` and the membership epoch. */
CC_EXPORT int cc_cluster_revoke(cc_client *c, const char *peer);
/** Ask the cluster to lift the fence of the peer named `peer`, which fenced itself
 * (docs/integrity.md, "Re-admission"): like cc_cluster_revoke, but the other members sign only
 * when the same request was made to them and they see the peer fenced; once a majority signed,
 * the peer is unfenced as `cluster unfence` on it would. Returns at once (CC_OK: proposed). */
CC_EXPORT int cc_cluster_readmit(cc_client *c, const char *peer);
/** Ask the cluster to remove the member named `member` (a peer, or this server itself): a
 * planned departure. Signed like a revocation, on an operator's request on each signer, and
 * the member's own signature counts; once a majority signed, every node drops it and it
 * fences itself ("removed from the cluster"). Returns at once (CC_OK: proposed). */
CC_EXPORT int cc_cluster_remove(cc_client *c, const char *member);
/** Ask the cluster to add a member (docs/integrity.md, "Adding a member"): its name, its
 * replication address (HOST:PORT) and its certificate's fingerprint (as `cacheserverd
 * --gen-identity` printed it). Signed like a removal, on an operator's request (for the same
 * three) on each signer; once a majority signed, every member pins and dials it, and the new
 * node, whose own `peer` lines name the members, joins at that epoch. Returns at once. */
CC_EXPORT int cc_cluster_add(cc_client *c, const char *name, const char *addr,
                             const char *fingerprint);
/** Give the server a new certificate (docs/integrity.md): it makes a new key and certificate
 * and proposes the rotation; its peers accept both until a majority signed, then only the
 * new one. Returns at once (CC_OK: proposed). */
CC_EXPORT int cc_cluster_rotate_cert(cc_client *c);
/** WAIT: block until `replicas` peers have acknowledged every change the server made before
 * this call (this connection's writes included), or timeout_ms (0..60000) passed; *acked is
 * how many did (0 without replication; timeout 0 reports the count at once). Replication stays
 * asynchronous: a write is acknowledged after the local apply, and WAIT is how a caller asks
 * for more. The call's I/O timeout is io_timeout_ms after timeout_ms.
 * @return CC_OK, or an error (E_BAD_ARGS over the bounds). */
CC_EXPORT int cc_wait(cc_client *c, unsigned replicas, uint32_t timeout_ms, unsigned *acked);

/* ---- Leases: compute a missing value once per key, across every process of the host ----
 * (docs/protocol.md, "Leases"; memcached's leases at Facebook, NSDI'13.) The first caller to
 * miss a key gets its lease (a token) and computes; the others are told to wait and poll
 * until the value is there. Any change of the key between the lease and its cc_lease_set
 * (SET, DEL, INCR, expiry, FLUSH, a peer's write) makes that set CC_NOT_STORED, so a value
 * computed from older data never overwrites a newer one. A lease lasts lease_ms (at most
 * CC_LEASE_MAX_MS): a holder that crashed delays the others at most that long. Leases are
 * per server (not replicated). The server never waits: the waiting is the caller's (polls
 * with short sleeps, cc_remember does it). */

/** LEASE_GET: cc_get, and on a miss the key's lease. lease_ms: how long the lease holds,
 * milliseconds, 1..CC_LEASE_MAX_MS (60000); 0 = the server's default, CC_LEASE_DEFAULT_MS
 * (10000). token and retry_ms may be NULL.
 * @return CC_OK (a hit: *out filled as cc_get), CC_LEASED (a miss: this caller holds the
 * lease, *token; compute the value and give it to cc_lease_set), CC_LEASE_WAIT (a miss while
 * another caller holds the lease: ask again after *retry_ms milliseconds), CC_NOT_FOUND (a
 * miss with no lease to be had: the server is fenced and stores nothing), or an error
 * (CC_E_LIMIT: the server holds its max_leases leases). */
CC_EXPORT int cc_lease_get(cc_client *c, const void *key, size_t klen, uint32_t lease_ms,
                           cc_item *out, uint64_t *token, uint32_t *retry_ms);
/** LEASE_SET: store v (ttl_ms: milliseconds, 0 = no expiry) only while token is still the
 * key's lease, which this ends; v NULL ends the lease without storing (the compute failed:
 * the next caller gets the lease at once). version_out may be NULL.
 * @return CC_OK, CC_NOT_STORED (the lease expired, or the key changed or was flushed since:
 * nothing stored, the value is still the caller's to use), or an error. */
CC_EXPORT int cc_lease_set(cc_client *c, const void *key, size_t klen, uint64_t token,
                           const cc_value *v, uint64_t ttl_ms, uint64_t *version_out);

/** cc_remember's compute: fill *out with the value for key (cc_value_* helpers; its memory
 * must stay valid until cc_remember returns, which copies it). Return CC_OK, or any other
 * status to give up: the lease is given back, nothing is stored, and cc_remember returns that
 * status. It may use the same client. */
typedef int (*cc_compute_fn)(void *arg, const void *key, size_t klen, cc_value *out);

/** Options of cc_remember; zero them with cc_remember_options_init (every 0 is a default). */
typedef struct cc_remember_options {
    uint64_t ttl_ms;   /**< the stored value's ttl, milliseconds; 0 = no expiry */
    uint32_t lease_ms; /**< how long the lease holds (1..CC_LEASE_MAX_MS); 0 = 10000 */
    uint32_t wait_ms;  /**< how long to wait for another caller's value; 0 = lease_ms (then
                            the lease has expired and this caller may take it over) */
    bool timeout_error; /**< when the wait runs out: false (default) computes without
                             storing, true returns CC_E_TIMEOUT without computing */
} cc_remember_options;

CC_EXPORT void cc_remember_options_init(cc_remember_options *o);

/** How cc_remember got its value (*how). */
enum cc_remember_how {
    CC_REMEMBER_HIT = 0,        /**< it was stored */
    CC_REMEMBER_WAITED = 1,     /**< another caller computed it while this one waited */
    CC_REMEMBER_COMPUTED = 2,   /**< computed here and stored */
    CC_REMEMBER_NOT_STORED = 3, /**< computed here, not stored: the lease was lost (the key
                                     changed meanwhile), the wait ran out, or the server is
                                     fenced */
};

/** Compute-if-absent, at most once per key across every process of the host: the stored
 * value, or, on a miss, fn's value stored with opts->ttl_ms, while concurrent callers of the
 * same key wait (polling, up to opts->wait_ms) and get that value instead of computing.
 * opts may be NULL (the defaults); how may be NULL.
 * @return CC_OK with *out holding the value (owned: cc_item_release; a computed one has
 * ttl_ms as given, -1 for none, and its version, 0 when not stored), fn's status when it
 * failed, CC_E_TIMEOUT (the wait ran out and opts->timeout_error), or an error. Against a
 * server older than leases (CC_E_UNKNOWN_OP) it falls back to cc_get, fn, cc_set: concurrent
 * callers may then all compute. */
CC_EXPORT int cc_remember(cc_client *c, const void *key, size_t klen,
                          const cc_remember_options *opts, cc_compute_fn fn, void *arg,
                          cc_item *out, int *how);

/* ---- Batches: many requests in one write, replies collected in order ---- */
typedef struct cc_batch cc_batch;

/** One result of a batch. status is the request's outcome (CC_OK, CC_NOT_FOUND, ... or an
 * error). item is filled for GET and MGET hits; num holds the version (SET), the count (DEL:
 * 1 deleted, 0 not there; EXISTS: 1 or 0), the new value (INCR/DECR) or the remaining
 * milliseconds (TTL, -1 = no expiry). TOUCH has only its status. */
typedef struct cc_result {
    int status;
    cc_item item;
    int64_t num;
} cc_result;

CC_EXPORT cc_batch *cc_batch_create(cc_client *c);
CC_EXPORT void cc_batch_destroy(cc_batch **b);
/** Each add returns CC_OK or CC_E_CLIENT_ARGS / CC_E_CLIENT_NOMEM; nothing is sent yet. */
CC_EXPORT int cc_batch_get(cc_batch *b, const void *key, size_t klen);
/** ttl_ms: milliseconds, 0 = no expiry. */
CC_EXPORT int cc_batch_set(cc_batch *b, const void *key, size_t klen, const cc_value *v,
                           uint64_t ttl_ms);
/** SET with cc_set's flags (CC_SET_NX / CC_SET_XX) and cas (0 or a version): the result's
 * status is CC_OK (num = the new version), CC_NOT_STORED, CC_CAS_MISMATCH or CC_NOT_FOUND, as
 * cc_set answers. cc_batch_set(b, k, kl, v, ttl) is cc_batch_set_ex(b, k, kl, v, ttl, 0, 0). */
CC_EXPORT int cc_batch_set_ex(cc_batch *b, const void *key, size_t klen, const cc_value *v,
                              uint64_t ttl_ms, unsigned flags, uint64_t cas);
/** DEL of one key: num = 1 when it was deleted, 0 when it was not there. */
CC_EXPORT int cc_batch_del(cc_batch *b, const void *key, size_t klen);
/** INCR / DECR by delta; a missing key counts from 0 and gets no ttl. num = the new value. */
CC_EXPORT int cc_batch_incr(cc_batch *b, const void *key, size_t klen, int64_t delta);
CC_EXPORT int cc_batch_decr(cc_batch *b, const void *key, size_t klen, int64_t delta);
/** INCR / DECR with cc_incr's initial and ttl_ms (milliseconds, 0 = none) for a key it
 * creates. num = the new value; CC_E_TYPE / CC_E_OVERFLOW in status as cc_incr answers. */
CC_EXPORT int cc_batch_incr_ex(cc_batch *b, const void *key, size_t klen, int64_t delta,
                               int64_t initial, uint64_t ttl_ms);
CC_EXPORT int cc_batch_decr_ex(cc_batch *b, const void *key, size_t klen, int64_t delta,
                               int64_t initial, uint64_t ttl_ms);
/** TTL: num = remaining milliseconds, -1 = no expiry; status CC_NOT_FOUND for a miss. */
CC_EXPORT int cc_batch_ttl(cc_batch *b, const void *key, size_t klen);
/** TOUCH: a new ttl_ms (milliseconds, 0 = no expiry); status CC_OK or CC_NOT_FOUND. */
CC_EXPORT int cc_batch_touch(cc_batch *b, const void *key, size_t klen, uint64_t ttl_ms);
/** EXISTS of one key: status CC_OK, num = 1 if it exists, 0 if not. */
CC_EXPORT int cc_batch_exists(cc_batch *b, const void *key, size_t klen);
/** MGET of n keys as ONE request (beyond the server's max_request_keys, several, which may
 * connect to learn that limit) that fills n results, one per key in order, exactly as n
 * cc_batch_get would: status CC_OK with the item, or CC_NOT_FOUND for a miss. A server error
 * on the request (E_LIMIT, ...) is the status of every one of its n results. So results stay
 * one per key, and cc_batch_count() counts results, not requests. */
CC_EXPORT int cc_batch_mget(cc_batch *b, size_t n, const void *const *keys, const size_t *klens);
/** Number of results cc_batch_exec will fill: one per request added so far, n per MGET. */
CC_EXPORT size_t cc_batch_count(const cc_batch *b);
/** Send everything in one write and read every reply. results must have cc_batch_count()
 * entries, in the order the requests were added; release each results[i].item (a no-op
 * for the results without one). A request whose reply is malformed fails its own results
 * and the ones after it with that status. The batch is emptied for reuse. A request longer
 * than the server's max_frame_size fails the whole batch with CC_E_FRAME_TOO_LARGE before
 * anything is sent (every result has that status).
 * @return CC_OK if every reply arrived (check each status), or a connection error. */
CC_EXPORT int cc_batch_exec(cc_batch *b, cc_result *results);

/* ---- Reading values: the msgpack encodings replies carry (cc_item.value.data) ----
 * A bounds-checked cursor that reads in place and never allocates, for programs that turn
 * arrays, maps and objects into their own types (the PHP extension does). Each read returns
 * true and advances, or, on a type mismatch, truncation or out-of-range value, returns false
 * and leaves the cursor where it was. */
typedef struct cc_reader {
    const uint8_t *p;   /* the next byte */
    const uint8_t *end; /* one past the last */
} cc_reader;

static inline void cc_reader_init(cc_reader *r, const void *buf, size_t len)
{
    r->p = (const uint8_t *)buf;
    r->end = r->p + len;
}
/** @return the bytes left to read. */
static inline size_t cc_reader_remaining(const cc_reader *r) { return (size_t)(r->end - r->p); }
/** @return the enum cc_type of the value at the cursor, or -1 when no valid value starts
 * there. */
CC_EXPORT int cc_read_peek_type(const cc_reader *r);
/** An array or map header: @param n gets the element (pair) count; the elements follow. */
CC_EXPORT bool cc_read_array(cc_reader *r, uint32_t *n);
CC_EXPORT bool cc_read_map(cc_reader *r, uint32_t *n);
/** Integers: cc_read_uint takes non-negative ones, cc_read_int any that fits int64. */
CC_EXPORT bool cc_read_uint(cc_reader *r, uint64_t *v);
CC_EXPORT bool cc_read_int(cc_reader *r, int64_t *v);
/** float32 or float64. */
CC_EXPORT bool cc_read_double(cc_reader *r, double *v);
CC_EXPORT bool cc_read_bool(cc_reader *r, bool *v);
CC_EXPORT bool cc_read_nil(cc_reader *r);
/** str or bin: @param data points into the buffer (valid as long as it is). */
CC_EXPORT bool cc_read_bytes(cc_reader *r, const uint8_t **data, uint32_t *len);
/** An ext value (objects: type 1): its type, and its payload in place. */
CC_EXPORT bool cc_read_ext(cc_reader *r, int8_t *type, const uint8_t **data, uint32_t *len);

#ifdef __cplusplus
}
#endif
#endif
