/* Private to libcacheclient: the client object, its buffers, and the request/reply helpers
 * shared by the operation files. */
#ifndef CACHECLIENT_INTERNAL_H
#define CACHECLIENT_INTERNAL_H

#include <msgpack.h>
#include <stdlib.h>
#include <sys/types.h>

#include "cacheclient.h"
#include "mpread.h"
#include "shm-internal.h"

struct cc_buf {
    uint8_t *data;
    size_t len;
    size_t cap;
};

struct cc_client {
    char *socket_path;
    char *ns;
    char *client_name;
    int connect_timeout_ms;
    int io_timeout_ms;
    int fd;            /* -1 when not connected */
    uint64_t max_frame_size; /* the server's, from HELLO; 0 = not known */
    uint64_t max_request_keys; /* the server's, from HELLO (MGET/MSET/DEL/EXISTS split into
                                * requests of at most this many keys); 0 = not known */
    unsigned fork_gen; /* cc_fork_generation() when fd was opened: a forked child reconnects */
    uint64_t next_id;
    struct cc_buf out; /* requests being encoded */
    msgpack_packer pk; /* writes into out */
    struct cc_buf in;  /* bytes read, not yet consumed */
    size_t in_off;
    char err[256];
    /* The shared-memory region (shm.c; docs/shm-reads.md): */
    bool shm_ask;              /* HELLO asks for it (false once a server did not know the
                                * option, or a region it sent failed its checks) */
    bool in_hello;             /* a descriptor received now is HELLO's */
    int hello_fd;              /* the descriptor that came with HELLO's reply, -1 */
    bool shm_reads;            /* cc_options.shm_reads: read the region at all */
    struct cc_shm_region *shm; /* the region held (a registry reference), or NULL */
    bool shm_adopt_tried;      /* cc_shm_adopt looked in the registry, at shm_adopt_gen */
    unsigned shm_adopt_gen;
    int shm_ns;                /* the selected namespace's id in it; -1: not named there
                                * (when its ns_count was shm_ns_seen), -2: not looked up */
    uint32_t shm_ns_seen;
    bool ns_owed;              /* cc_select_ns changed the namespace without telling the
                                * server (it knows the name: the region's table has it):
                                * NAMESPACE goes before the next socket request */
    uint64_t report_id;        /* an SHM_REPORT went out before the request: its reply comes
                                * first (0: none) */
    cc_shm_info shm_stats;     /* cc_shm_stats (mapped is filled when asked) */
    char shm_err[200];         /* why the last region offered was refused */
};

/* A reply frame read from the socket. body is owned (malloc'd) and given to an item, or
 * freed with cc_reply_free. */
struct cc_reply {
    uint8_t *body;
    size_t len;
    uint64_t id;
    int status;
    struct mp_cursor rest; /* positioned after [id, status */
    uint32_t nresults;
};

/* conn.c */
int cc_conn_ensure(cc_client *c);          /* connect (and HELLO) if needed */
int cc_conn_send(cc_client *c, int64_t deadline_ms);
int cc_conn_recv(cc_client *c, struct cc_reply *r, int64_t deadline_ms);
int64_t cc_deadline(int timeout_ms);
int64_t cc_now_ms(void); /* CLOCK_MONOTONIC, ms */
unsigned cc_fork_gen(void); /* bumped in every child after fork() */
/* recv through recvmsg(MSG_CMSG_CLOEXEC): the first descriptor that comes with the bytes goes
 * to *keep when keep is not NULL and *keep < 0; every other one is closed at once. */
ssize_t cc_recv_fd(int s, void *buf, size_t len, int *keep);
/* Record an error; for 200-level connection errors also closes the socket. */
int cc_fail(cc_client *c, int status, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* A request sent ahead of the one being encoded (HELLO, an owed NAMESPACE, a report): set
 * the caller's aside, encode and send the other in an empty c->out, then put it back. */
static inline struct cc_buf cc_out_stash(cc_client *c)
{
    struct cc_buf saved = c->out;
    c->out = (struct cc_buf){0};
    return saved;
}
static inline void cc_out_restore(cc_client *c, struct cc_buf saved)
{
    free(c->out.data);
    c->out = saved;
}

/* codec.c: encoding into c->out */
/* Append len bytes to b, growing it: 0, or -1 out of memory (b unchanged). */
int cc_buf_append(struct cc_buf *b, const void *src, size_t len);
size_t cc_req_begin(cc_client *c, int op, uint32_t nargs, uint64_t *id);
void cc_req_end(cc_client *c, size_t start);
void cc_pack_bytes(cc_client *c, const void *data, size_t len);
void cc_pack_str(cc_client *c, const char *s);
/* Returns CC_OK or CC_E_CLIENT_ARGS (bad msgpack for an array/map, or a stream). */
int cc_pack_value(cc_client *c, const cc_value *v);
int cc_check_value(const cc_value *v);
/* An item holding a copy of v (owned, as a reply's), with that ttl and version. CC_OK,
 * CC_E_CLIENT_ARGS (an invalid value) or CC_E_CLIENT_NOMEM. */
int cc_item_from_value(const cc_value *v, int64_t ttl_ms, uint64_t version, cc_item *out);
/* An item holding a copy of a value's encoding enc[0..len) of that type (a region hit), as a
 * reply's would: CC_OK, CC_E_BAD_REPLY (not a valid encoding of type) or CC_E_CLIENT_NOMEM. */
int cc_item_from_encoded(int type, const uint8_t *enc, size_t len, int64_t ttl_ms,
                         uint64_t version, cc_item *out);
/* codec.c: decoding */
int cc_reply_parse(cc_client *c, struct cc_reply *r, uint64_t want_id);
void cc_reply_free(struct cc_reply *r);
/* Decode [type, value, ttl, version] (4 values at the cursor) into item, which takes body
 * when owns is true. */
int cc_decode_item(struct mp_cursor *cur, cc_item *item);
/* Hand the reply body to the found items among items[0..n) (they share it, reference
 * counted; release in any order). Frees the body if none was found. */
int cc_items_adopt(cc_item *items, size_t n, struct cc_reply *r);

/* client.c: one request, one reply. Sends what is in c->out, reads the reply with want_id,
 * parses it; on success r holds the reply (free with cc_reply_free). Returns the status. */
int cc_roundtrip(cc_client *c, uint64_t want_id, struct cc_reply *r);

#endif
