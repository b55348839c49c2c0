/* The native driver: cacheserverd's protocol through libcacheclient. A pipeline is one
 * cc_batch (one write, replies read in order); a multi-get is one MGET frame. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench.h"
#include "cacheclient.h"

struct nconn {
    cc_client *c;
    cc_batch *b;
    cc_result *res;
    cc_item *items;
    uint8_t *vals; /* one value buffer per pipeline slot: a batch points at them until sent */
    size_t valcap;
    const void *mkeys[BENCH_MAX_MGET]; /* a multi-get's key names and lengths */
    size_t mlens[BENCH_MAX_MGET];
};

static void *n_connect(const struct bench_target *t, char *err, size_t errlen)
{
    if (!t->socket_path) {
        snprintf(err, errlen, "the native driver needs --socket");
        return NULL;
    }
    struct nconn *n = calloc(1, sizeof(*n));
    if (!n)
        return NULL;
    cc_options o;
    cc_options_init(&o);
    o.socket_path = t->socket_path;
    o.io_timeout_ms = 5000;
    o.client_name = "cache-bench";
    o.shm_reads = !t->shm_off;
    n->c = cc_client_create(&o);
    n->res = calloc(BENCH_MAX_PIPELINE, sizeof(*n->res));
    n->items = calloc(BENCH_MAX_MGET, sizeof(*n->items));
    if (!n->c || !n->res || !n->items || !(n->b = cc_batch_create(n->c))) {
        snprintf(err, errlen, "out of memory");
        goto fail;
    }
    int rc = cc_connect(n->c);
    if (rc != CC_OK) {
        snprintf(err, errlen, "%s: %s", cc_strstatus(rc), cc_errmsg(n->c));
        goto fail;
    }
    return n;
fail:
    cc_batch_destroy(&n->b);
    cc_client_destroy(&n->c);
    free(n->res);
    free(n->items);
    free(n);
    return NULL;
}

static void n_close(void *p)
{
    struct nconn *n = p;
    cc_batch_destroy(&n->b);
    cc_client_destroy(&n->c);
    free(n->res);
    free(n->items);
    free(n->vals);
    free(n);
}

static int status_fail(struct nconn *n, int rc, struct bench_stats *st)
{
    bench_error(st, "%s: %s", cc_strstatus(rc), cc_errmsg(n->c));
    return rc >= 200 ? -1 : 0; /* local failures (connection) make the caller reconnect */
}

static int do_mget(struct nconn *n, const struct workload *w, const struct bench_op *op,
                   struct bench_stats *st)
{
    for (uint32_t i = 0; i < op->nkeys; i++)
        n->mkeys[i] = workload_key(w, op->keys[i], OP_GET, &n->mlens[i]);
    int rc = cc_mget(n->c, op->nkeys, n->mkeys, n->mlens, n->items);
    if (rc != CC_OK)
        return status_fail(n, rc, st);
    for (uint32_t i = 0; i < op->nkeys; i++) {
        if (n->items[i].found)
            workload_count_value(w, op->keys[i], n->items[i].value.data, n->items[i].value.len, st);
        else
            st->misses++;
        cc_item_release(&n->items[i]);
    }
    return 0;
}

static int ensure_vals(struct nconn *n, const struct workload *w, int slots)
{
    size_t need = (size_t)slots * w->vmax;
    if (need <= n->valcap)
        return 0;
    free(n->vals);
    n->vals = malloc(need);
    n->valcap = n->vals ? need : 0;
    return n->vals ? 0 : -1;
}

static int single(struct nconn *n, const struct workload *w, const struct bench_op *op,
                  struct bench_stats *st)
{
    size_t kl;
    const char *key = workload_key(w, op->keys[0], op->kind, &kl);
    int rc;
    switch (op->kind) {
    case OP_GET: {
        cc_item it;
        rc = cc_get(n->c, key, kl, &it);
        if (rc == CC_OK) {
            workload_count_value(w, op->keys[0], it.value.data, it.value.len, st);
            cc_item_release(&it);
        } else if (rc == CC_NOT_FOUND) {
            st->misses++;
        } else {
            return status_fail(n, rc, st);
        }
        return 0;
    }
    case OP_SET: {
        if (ensure_vals(n, w, 1))
            return -1;
        uint32_t len = workload_value_len(w, op->keys[0]);
        workload_value(w, op->keys[0], n->vals, len);
        cc_value v = cc_value_bytes(n->vals, len);
        rc = cc_set(n->c, key, kl, &v, (uint64_t)w->ttl_s * 1000, 0, 0, NULL);
        break;
    }
    case OP_DEL: {
        const void *k[1] = {key};
        uint64_t deleted;
        rc = cc_del(n->c, 1, k, &kl, &deleted);
        break;
    }
    case OP_INCR: {
        int64_t r;
        rc = cc_incr(n->c, key, kl, 1, 0, (uint64_t)w->ttl_s * 1000, &r);
        break;
    }
    default:
        return do_mget(n, w, op, st);
    }
    return rc == CC_OK ? 0 : status_fail(n, rc, st);
}

/* The region hits of one call: cc_shm_stats before and after. */
static int single_counted(struct nconn *n, const struct workload *w, const struct bench_op *op,
                          struct bench_stats *st)
{
    cc_shm_info a, b;
    cc_shm_stats(n->c, &a);
    int rc = single(n, w, op, st);
    cc_shm_stats(n->c, &b);
    st->region_hits += b.hits - a.hits;
    return rc;
}

static int n_exec(void *p, const struct workload *w, const struct bench_op *ops, int count,
                  struct bench_stats *st)
{
    struct nconn *n = p;
    if (count == 1)
        return single_counted(n, w, &ops[0], st);
    if (ensure_vals(n, w, count))
        return -1;
    int queued = 0;
    for (int i = 0; i < count; i++) {
        const struct bench_op *op = &ops[i];
        size_t kl;
        const char *key = workload_key(w, op->keys[0], op->kind, &kl);
        int rc = CC_OK;
        switch (op->kind) {
        case OP_GET: rc = cc_batch_get(n->b, key, kl); break;
        case OP_SET: {
            uint8_t *buf = n->vals + (size_t)i * w->vmax;
            uint32_t len = workload_value_len(w, op->keys[0]);
            workload_value(w, op->keys[0], buf, len);
            cc_value v = cc_value_bytes(buf, len);
            rc = cc_batch_set(n->b, key, kl, &v, (uint64_t)w->ttl_s * 1000);
            break;
        }
        case OP_DEL: rc = cc_batch_del(n->b, key, kl); break;
        case OP_INCR: rc = cc_batch_incr(n->b, key, kl, 1); break;
        default: continue; /* MGET: sent on its own below */
        }
        if (rc != CC_OK)
            return status_fail(n, rc, st);
        queued++;
    }
    if (queued) {
        int rc = cc_batch_exec(n->b, n->res);
        if (rc != CC_OK) {
            for (int i = 0; i < queued; i++)
                cc_item_release(&n->res[i].item);
            status_fail(n, rc, st);
            return -1;
        }
        int r = 0;
        for (int i = 0; i < count; i++) {
            const struct bench_op *op = &ops[i];
            if (op->kind == OP_MGET)
                continue;
            cc_result *res = &n->res[r++];
            if (res->status == CC_OK && op->kind == OP_GET)
                workload_count_value(w, op->keys[0], res->item.value.data, res->item.value.len, st);
            else if (res->status == CC_NOT_FOUND && op->kind == OP_GET)
                st->misses++;
            else if (res->status != CC_OK)
                bench_error(st, "%s in a pipeline", cc_strstatus(res->status));
            cc_item_release(&res->item);
        }
    }
    for (int i = 0; i < count; i++)
        if (ops[i].kind == OP_MGET && do_mget(n, w, &ops[i], st))
            return -1;
    return 0;
}

const struct bench_driver bench_driver_native = {"native", n_connect, n_close, n_exec};
