/* Helpers shared by the store's unit tests (test_store.c, test_shm.c). Needs cmocka.h. */
#ifndef TESTS_STORE_TEST_H
#define TESTS_STORE_TEST_H

#include <stdint.h>
#include <string.h>

#include "option.h"

/* Set an option as the config file would, or fail the test. */
static void _config(const char *name, const char *value)
{
    char err[256];
    if (option_registry_set(name, value, false, err, sizeof(err)) != 0)
        fail_msg("set %s=%s: %s", name, value, err);
}

/* msgpack bin encoding of s (up to 64 KiB - 1) into out; returns its length. */
static uint32_t _bin(uint8_t *out, const char *s, size_t len)
{
    if (len < 256) {
        out[0] = 0xc4;
        out[1] = (uint8_t)len;
        memcpy(out + 2, s, len);
        return (uint32_t)len + 2;
    }
    out[0] = 0xc5;
    out[1] = (uint8_t)(len >> 8);
    out[2] = (uint8_t)len;
    memcpy(out + 3, s, len);
    return (uint32_t)len + 3;
}

#endif
