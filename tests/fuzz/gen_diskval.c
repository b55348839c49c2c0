/* Writes tests/fuzz/corpus/diskval/ with records made by the real encoder (diskval_encode),
 * so the seeds are what a disk tier holds: raw and zstd-compressed payloads, an expired
 * record, an empty value. Not run by the tests:
 *   ninja -C build tests/fuzz/gen_diskval && build/tests/fuzz/gen_diskval tests/fuzz/corpus/diskval */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "diskval.h"

static int _write(const char *dir, const char *name, const struct diskval *v, size_t threshold)
{
    struct diskval_opts o = {.zstd_level = 3, .compress_threshold = threshold};
    uint8_t *buf;
    size_t len;
    bool comp;
    char path[4096];
    if (diskval_encode(v, &o, &buf, &len, &comp) != DISKVAL_OK)
        return -1;
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    FILE *f = fopen(path, "wb");
    if (!f || fwrite(buf, 1, len, f) != len || fclose(f) != 0) {
        perror(path);
        return -1;
    }
    printf("%s: %zu bytes%s\n", path, len, comp ? " (zstd)" : "");
    free(buf);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: gen_diskval DIR\n");
        return 2;
    }
    static uint8_t text[2000];
    for (size_t i = 0; i < sizeof(text); i++)
        text[i] = (uint8_t)"the quick brown fox jumps over the lazy dog "[i % 44];
    static const uint8_t mp[] = {0x93, 0x01, 0xa1, 'a', 0xc0}; /* msgpack [1, "a", nil] */
    struct diskval raw = {.type = 4, .version = 7, .hlc = 1ull << 40, .data = text, .len = 40};
    struct diskval big = {.type = 4, .version = 8, .hlc = 2, .data = text, .len = sizeof(text)};
    struct diskval expired = {.type = 2, .expire_ms = 1000, .version = 1, .data = mp,
                              .len = sizeof(mp)};
    struct diskval ttl = {.type = 5, .expire_ms = 4102444800000ull, .version = 3, .data = mp,
                          .len = sizeof(mp)};
    struct diskval empty = {.type = 4, .version = 1, .data = mp, .len = 0};
    struct diskval stream = {.type = 8, .version = 9, .data = text, .len = 600};
    return _write(argv[1], "raw", &raw, 1u << 20) || _write(argv[1], "zstd", &big, 64) ||
           _write(argv[1], "expired", &expired, 1u << 20) ||
           _write(argv[1], "ttl", &ttl, 1u << 20) || _write(argv[1], "empty", &empty, 0) ||
           _write(argv[1], "stream_zstd", &stream, 100);
}
