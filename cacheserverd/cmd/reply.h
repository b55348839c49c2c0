/* Reply frames: msgpack packed into a per-thread buffer, with large value bytes inserted as
 * references (zero copy) rather than copies, then written to the connection as one frame
 * (length prefix, body). One reply is built at a time per worker thread. */
#ifndef CMD_REPLY_H
#define CMD_REPLY_H

#include <msgpack.h>
#include <stdbool.h>
#include <stdint.h>

#include "handler.h"

struct reply_seg {
    size_t off; /* position in buf where the referenced bytes go */
    const uint8_t *data;
    size_t len;
    void (*release)(void *arg);
    void *arg;
};

/* A msgpack side buffer that remembers a failed write (out of memory): what it holds is then
 * incomplete and must not be sent. Pack into it with pk; RBUF_INIT / rbuf_destroy. */
struct rbuf {
    msgpack_sbuffer buf;
    msgpack_packer pk;
    bool failed;
};
void rbuf_init(struct rbuf *b);
void rbuf_destroy(struct rbuf *b);

struct reply {
    msgpack_sbuffer buf;
    msgpack_packer pk;   /* writes through reply_write: a failed write sets failed */
    struct reply_seg *segs;
    size_t nsegs, cap;
    uint64_t reflen;
    uint64_t id;         /* the last reply_begin's id, for the E_NOMEM that replaces it */
    bool failed;         /* a write failed (out of memory): the reply is sent as E_NOMEM */
};

/* The calling thread's reply, reset and ready (never NULL: it lives in thread-local storage,
 * so a worker thread's first request allocates nothing for it). */
struct reply *reply_get(void);
/* Append encoded msgpack bytes (copied). An allocation failure marks the reply failed:
 * reply_finish and reply_take then send E_NOMEM for it instead. */
void reply_write(struct reply *r, const void *data, size_t len);
/* Append what b holds (marking r failed when b failed) and destroy b. */
void reply_write_rbuf(struct reply *r, struct rbuf *b);
void reply_thread_free(void);
/* [id, status, ...]: starts an array of 2 + nresults. */
void reply_begin(struct reply *r, uint64_t id, int status, uint32_t nresults);
/* Append already-encoded msgpack bytes; released with release(arg) once written (or at once
 * when small enough to copy). release may be NULL. */
void reply_raw(struct reply *r, const uint8_t *data, size_t len, void (*release)(void *),
               void *arg);
/* [id, status, message] with a printf-style message. */
void reply_error(struct reply *r, uint64_t id, int status, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/* Write the frame to out and reset r. A failed reply goes out as [id, E_NOMEM, message],
 * built without allocating. */
void reply_finish(struct reply *r, struct core_out *out);
/* The whole frame as one malloc'd buffer (references copied and released), for a reply
 * sent later (E_NOMEM when r failed); resets r. NULL when out of memory (r is discarded
 * then). */
uint8_t *reply_take(struct reply *r, size_t *len);
/* Drop what was built (releasing references) and reset r. */
void reply_discard(struct reply *r);

static inline void reply_str(struct reply *r, const char *s, size_t len)
{
    msgpack_pack_str(&r->pk, len);
    msgpack_pack_str_body(&r->pk, s, len);
}

#endif
