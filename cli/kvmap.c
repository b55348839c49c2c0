/* Map replies (STATS, INFO, CONFIG GET, CLUSTER_STATUS) decoded and sorted by name, and
 * the helpers that read and print them (kvmap.h). */
#include "kvmap.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "json.h"

static int _cmp_kv(const void *a, const void *b)
{
    const msgpack_object_kv *x = *(msgpack_object_kv *const *)a, *y = *(msgpack_object_kv *const *)b;
    size_t n = x->key.via.str.size < y->key.via.str.size ? x->key.via.str.size : y->key.via.str.size;
    int c = memcmp(x->key.via.str.ptr, y->key.via.str.ptr, n);
    return c ? c : (x->key.via.str.size > y->key.via.str.size) - (x->key.via.str.size < y->key.via.str.size);
}

/* Takes ownership of *it. */
int kvmap_load(struct kvmap *m, cc_item *it)
{
    m->item = *it;
    *it = (cc_item){0};
    it = &m->item;
    msgpack_unpacked_init(&m->u);
    size_t off = 0;
    m->n = 0;
    m->kv = NULL;
    if (msgpack_unpack_next(&m->u, (const char *)it->value.data, it->value.len, &off) !=
            MSGPACK_UNPACK_SUCCESS ||
        m->u.data.type != MSGPACK_OBJECT_MAP) {
        fprintf(stderr, "cache-cli: the server's reply is not a map\n");
        msgpack_unpacked_destroy(&m->u);
        cc_item_release(&m->item);
        return -1;
    }
    msgpack_object_map *mp = &m->u.data.via.map;
    m->kv = calloc(mp->size + 1, sizeof(*m->kv));
    for (uint32_t i = 0; m->kv && i < mp->size; i++)
        if (mp->ptr[i].key.type == MSGPACK_OBJECT_STR)
            m->kv[m->n++] = &mp->ptr[i];
    if (m->kv)
        qsort(m->kv, m->n, sizeof(*m->kv), _cmp_kv);
    return 0;
}

void kvmap_free(struct kvmap *m)
{
    free(m->kv);
    msgpack_unpacked_destroy(&m->u);
    cc_item_release(&m->item);
}

bool kvmap_key_is(const msgpack_object_kv *kv, const char *s)
{
    return kv->key.via.str.size == strlen(s) && memcmp(kv->key.via.str.ptr, s, kv->key.via.str.size) == 0;
}

bool kvmap_key_starts(const msgpack_object_kv *kv, const char *s)
{
    size_t n = strlen(s);
    return kv->key.via.str.size >= n && memcmp(kv->key.via.str.ptr, s, n) == 0;
}

double kvmap_num(const msgpack_object *o)
{
    switch (o->type) {
    case MSGPACK_OBJECT_POSITIVE_INTEGER: return (double)o->via.u64;
    case MSGPACK_OBJECT_NEGATIVE_INTEGER: return (double)o->via.i64;
    case MSGPACK_OBJECT_FLOAT32:
    case MSGPACK_OBJECT_FLOAT64: return o->via.f64;
    case MSGPACK_OBJECT_STR: {
        char buf[64]; /* the bytes are not NUL-terminated */
        snprintf(buf, sizeof(buf), "%.*s", (int)o->via.str.size, o->via.str.ptr);
        return strtod(buf, NULL);
    }
    default: return 0;
    }
}

const msgpack_object *kvmap_get(const struct kvmap *m, const char *name)
{
    for (size_t i = 0; i < m->n; i++)
        if (kvmap_key_is(m->kv[i], name))
            return &m->kv[i]->val;
    return NULL;
}

void kvmap_print_plain(const msgpack_object *o)
{
    if (o->type == MSGPACK_OBJECT_STR)
        fwrite(o->via.str.ptr, 1, o->via.str.size, stdout);
    else if (o->type == MSGPACK_OBJECT_FLOAT32 || o->type == MSGPACK_OBJECT_FLOAT64)
        printf("%.4f", o->via.f64);
    else
        json_print(stdout, o);
}

void kvmap_print_json(const struct kvmap *m)
{
    printf("{");
    for (size_t i = 0; i < m->n; i++) {
        printf(i ? ",\n  " : "\n  ");
        json_print(stdout, &m->kv[i]->key);
        printf(": ");
        json_print(stdout, &m->kv[i]->val);
    }
    printf("\n}\n");
}

int kvmap_fetch(struct cli *cli, const char *cmd, int (*call)(cc_client *c, cc_item *out),
                struct kvmap *m)
{
    cc_item it = {0};
    int rc = call(cli->c, &it);
    if (rc != CC_OK)
        return cli_status(cli, cmd, rc);
    return kvmap_load(m, &it) ? CLI_ERROR : CLI_OK;
}

