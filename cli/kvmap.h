/* A map reply (STATS, INFO, CONFIG GET, CLUSTER_STATUS) decoded once, its entries sorted by
 * name for stable output, with helpers to look names up and print values. */
#ifndef CLI_KVMAP_H
#define CLI_KVMAP_H

#include <msgpack.h>
#include <stdbool.h>

#include "cli.h"

struct kvmap {
    cc_item item; /* the unpacked objects point into its bytes */
    msgpack_unpacked u;
    size_t n;
    msgpack_object_kv **kv;
};

/* Takes ownership of *it. 0, or -1 (with a message) when the reply is not a map. */
int kvmap_load(struct kvmap *m, cc_item *it);
void kvmap_free(struct kvmap *m);
bool kvmap_key_is(const msgpack_object_kv *kv, const char *s);
bool kvmap_key_starts(const msgpack_object_kv *kv, const char *s);
/* A number (or a numeric string) as a double; 0 for anything else. */
double kvmap_num(const msgpack_object *o);
/* The value named `name`, or NULL. */
const msgpack_object *kvmap_get(const struct kvmap *m, const char *name);
/* A value as text: strings raw, floats with 4 decimals, the rest as JSON. */
void kvmap_print_plain(const msgpack_object *o);
/* The whole map as a JSON object. */
void kvmap_print_json(const struct kvmap *m);
/* Call `call` and load its reply; an exit code (cli_status's on failure). */
int kvmap_fetch(struct cli *cli, const char *cmd, int (*call)(cc_client *c, cc_item *out),
                struct kvmap *m);

#endif
