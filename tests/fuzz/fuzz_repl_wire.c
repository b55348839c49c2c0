/* libFuzzer target: the peer-link decoder (cacheserverd/repl/wire.c, repl_decode), which
 * reads every frame a peer, or anything else that passed the TLS handshake, sends.
 *
 * The input is one frame body. When it decodes as a change (REC or ITEM), the change is
 * encoded again as an ITEM and must decode to the same fields; a VIEW's entries must lie
 * inside the input; a MEMBER's blob goes through the membership change's decoder. Anything
 * else that decodes is fine; a crash, a sanitizer report or a
 * round trip that loses a field is a finding (abort()). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>

#include "wire.h"

static void _fail(const char *what)
{
    fprintf(stderr, "fuzz_repl_wire: %s\n", what);
    abort();
}

static int _same(const uint8_t *a, uint32_t alen, const uint8_t *b, uint32_t blen)
{
    return alen == blen && (alen == 0 || memcmp(a, b, alen) == 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct repl_msg m;
    const char *why = NULL;
    if (repl_decode(data, size, &m, &why) != 0) {
        if (!why)
            _fail("refused without a reason");
        return 0;
    }
    if (m.type == REPL_MEMBER) { /* the membership change inside (members.c's decoder) */
        (void)repl_members_parse(m.blob, m.blen);
        return 0;
    }
    if (m.type == REPL_VIEW) {
        for (uint32_t i = 0; i < m.nview; i++)
            if (m.view[i].name < data || m.view[i].name + m.view[i].nlen > data + size)
                _fail("a VIEW entry points outside the frame");
        return 0;
    }
    if (m.type != REPL_REC && m.type != REPL_ITEM)
        return 0;
    const struct repl_change *c = &m.c;
    if (m.type == REPL_REC && c->op != REPL_OP_SET && c->op != REPL_OP_DEL &&
        c->op != REPL_OP_COUNTER)
        return 0; /* an ITEM carries only values, counters and deletes */
    struct evbuffer *out = evbuffer_new();
    if (!out)
        return 0;
    if (repl_send_item(out, c) != 0)
        _fail("cannot encode a change that decoded");
    size_t len = evbuffer_get_length(out);
    uint8_t *frame = evbuffer_pullup(out, (ssize_t)len);
    if (len < 4 || repl_frame_len(frame) != len - 4)
        _fail("the frame's length prefix is wrong");
    struct repl_msg again;
    if (repl_decode(frame + 4, len - 4, &again, &why) != 0) {
        fprintf(stderr, "re-decoding: %s\n", why);
        _fail("a change encoded again does not decode");
    }
    const struct repl_change *d = &again.c;
    if (again.type != REPL_ITEM || d->op != c->op || d->all != c->all ||
        !_same(d->ns, d->nslen, c->ns, c->nslen) || !_same(d->key, d->klen, c->key, c->klen) ||
        d->stamp != c->stamp || d->origin != c->origin || d->type != c->type ||
        !_same(d->value, d->vlen, c->value, c->vlen) || d->expire_ms != c->expire_ms ||
        !_same(d->ctr, d->ctr_len, c->ctr, c->ctr_len))
        _fail("a change lost a field in the round trip");
    evbuffer_free(out);
    return 0;
}
