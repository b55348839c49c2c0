/* The stats registry: see stats.h. */
#include "stats.h"

#include <pthread.h>

#define STATS_MAX_TABLES 32

static struct {
    struct stat_desc *desc;
    size_t n;
} tables[STATS_MAX_TABLES];
static size_t ntables;
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;

void stats_register(struct stat_desc *desc, size_t n, void *stats_struct)
{
    uint64_t *v = stats_struct;
    pthread_mutex_lock(&lock);
    for (size_t i = 0; i < ntables; i++) {
        if (tables[i].desc == desc) {
            pthread_mutex_unlock(&lock);
            return;
        }
    }
    for (size_t i = 0; i < n; i++)
        desc[i].value = &v[i];
    if (ntables < STATS_MAX_TABLES) {
        tables[ntables].desc = desc;
        tables[ntables].n = n;
        ntables++;
    }
    pthread_mutex_unlock(&lock);
}

void stats_foreach(void (*fn)(void *arg, const struct stat_desc *d, uint64_t value), void *arg)
{
    pthread_mutex_lock(&lock);
    size_t nt = ntables;
    pthread_mutex_unlock(&lock);
    for (size_t t = 0; t < nt; t++)
        for (size_t i = 0; i < tables[t].n; i++)
            fn(arg, &tables[t].desc[i], stat_get(tables[t].desc[i].value));
}
