/* WAIT: hold the reply until enough peers have acknowledged this node's changes so far
 * (repl_wait), through core's deferred replies, so only the waiting connection waits. */
#include <stdlib.h>

#include "cmd-internal.h"
#include "repl.h"

struct waiting {
    struct core_defer *defer;
    uint64_t id;
    unsigned acked;
    bool nomem;
};

static void _reply(struct reply *r, uint64_t id, unsigned acked)
{
    reply_begin(r, id, CC_OK, 1);
    msgpack_pack_unsigned_int(&r->pk, acked);
}

static void _fill(void *arg, struct core_out *out)
{
    struct waiting *w = arg;
    if (out) {
        struct reply *r = reply_get();
        if (w->nomem)
            reply_error(r, w->id, CC_E_NOMEM, "out of memory for a WAIT");
        else
            _reply(r, w->id, w->acked);
        reply_finish(r, out);
    }
    free(w);
}

static void _done(void *arg, unsigned acked)
{
    struct waiting *w = arg;
    w->acked = acked;
    core_defer_complete(w->defer, _fill, w);
}

void cmd_wait(struct session *s, struct req *q, struct reply *r)
{
    (void)s;
    uint64_t replicas, timeout;
    if (!mp_read_uint(&q->args, &replicas) || !mp_read_uint(&q->args, &timeout)) {
        cmd_bad_usage(q, r);
        return;
    }
    if (replicas > CC_WAIT_MAX_REPLICAS || timeout > CC_WAIT_MAX_TIMEOUT_MS) {
        reply_error(r, q->id, CC_E_BAD_ARGS, "WAIT takes replicas 0..%d and timeout_ms 0..%d",
                    CC_WAIT_MAX_REPLICAS, CC_WAIT_MAX_TIMEOUT_MS);
        return;
    }
    if (!repl_enabled()) { /* no peers: none can acknowledge anything */
        _reply(r, q->id, 0);
        return;
    }
    struct waiting *w = q->out ? calloc(1, sizeof(*w)) : NULL;
    if (w && !(w->defer = core_defer_begin(q->out))) {
        free(w);
        w = NULL;
    }
    if (!w) {
        reply_error(r, q->id, CC_E_NOMEM, "out of memory for a WAIT");
        return;
    }
    w->id = q->id;
    q->deferred = true;
    unsigned now = 0;
    int rc = repl_wait((unsigned)replicas, timeout, _done, w, &now);
    if (rc != 0) { /* answered now, or could not wait */
        w->acked = now;
        w->nomem = rc < 0;
        core_defer_complete(w->defer, _fill, w);
    }
}
