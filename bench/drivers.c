/* The table of drivers. Adding a driver is one file (drv_NAME.c, defining a struct
 * bench_driver) and one line here. */
#include <string.h>

#include "bench.h"

static const struct bench_driver *const drivers[] = {
    &bench_driver_native,
    &bench_driver_redis,
    &bench_driver_memcached,
};

#define NDRIVERS (sizeof(drivers) / sizeof(drivers[0]))

const struct bench_driver *bench_driver_find(const char *name)
{
    for (size_t i = 0; i < NDRIVERS; i++)
        if (strcmp(drivers[i]->name, name) == 0)
            return drivers[i];
    return NULL;
}

const char *bench_driver_names(void)
{
    static char names[256];
    if (!names[0])
        for (size_t i = 0; i < NDRIVERS; i++) {
            if (i)
                strcat(names, ", ");
            strcat(names, drivers[i]->name);
        }
    return names;
}
