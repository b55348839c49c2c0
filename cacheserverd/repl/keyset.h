/* A set of 64-bit key hashes (open addressing, grows by doubling): the keys a peer sent in
 * a full sync, so that what it did not send can be told apart afterwards. Link thread only. */
#ifndef REPL_KEYSET_H
#define REPL_KEYSET_H

#include <stdbool.h>
#include <stdint.h>

struct keyset;

struct keyset *keyset_new(void);
void keyset_free(struct keyset *s);
/* false when out of memory (the set is then incomplete: keyset_failed says so) */
bool keyset_add(struct keyset *s, uint64_t hash);
bool keyset_has(const struct keyset *s, uint64_t hash);
bool keyset_failed(const struct keyset *s);

#endif
