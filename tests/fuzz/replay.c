/* Replays fuzz inputs without libFuzzer: calls the target's LLVMFuzzerTestOneInput once per
 * regular file in each directory given (names starting with '.' are skipped, so an empty
 * regress/ directory can hold a .keep file). Built for every target in every build, so the
 * unit suite runs the seed corpora and the kept crashers under gcc and ASan builds alike.
 * Exit 0 when every input ran (a crash or a sanitizer report ends the process first); 1 when
 * a directory or file cannot be read, or when no input was found at all. */
#include <dirent.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The whole file in a buffer of exactly its size (so ASan sees reads past the input). */
static int _run_file(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        fprintf(stderr, "replay: %s: %s\n", path, strerror(errno));
        return -1;
    }
    size_t cap = 4096, len = 0;
    uint8_t *buf = malloc(cap);
    for (;;) {
        if (!buf) {
            fclose(f);
            fprintf(stderr, "replay: %s: out of memory\n", path);
            return -1;
        }
        size_t n = fread(buf + len, 1, cap - len, f);
        len += n;
        if (n == 0)
            break;
        if (len == cap) {
            uint8_t *nb = realloc(buf, cap * 2);
            if (!nb)
                free(buf); /* the loop's check reports it */
            buf = nb;
            cap *= 2;
        }
    }
    int err = ferror(f);
    fclose(f);
    if (err) {
        fprintf(stderr, "replay: %s: read error\n", path);
        free(buf);
        return -1;
    }
    uint8_t *exact = malloc(len ? len : 1);
    if (!exact) {
        free(buf);
        return -1;
    }
    memcpy(exact, buf, len);
    free(buf);
    LLVMFuzzerTestOneInput(exact, len);
    free(exact);
    return 0;
}

static int _cmp(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

int main(int argc, char **argv)
{
    unsigned total = 0;
    for (int i = 1; i < argc; i++) {
        DIR *d = opendir(argv[i]);
        if (!d) {
            fprintf(stderr, "replay: %s: %s\n", argv[i], strerror(errno));
            return 1;
        }
        char **names = NULL;
        size_t n = 0;
        struct dirent *e;
        while ((e = readdir(d))) {
            if (e->d_name[0] == '.')
                continue;
            names = realloc(names, (n + 1) * sizeof(*names));
            if (!names || !(names[n] = strdup(e->d_name))) {
                fprintf(stderr, "replay: out of memory\n");
                return 1;
            }
            n++;
        }
        closedir(d);
        if (n)
            qsort(names, n, sizeof(*names), _cmp); /* a stable order: reproducible runs */
        unsigned here = 0;
        for (size_t j = 0; j < n; j++) {
            char path[4096];
            struct stat st;
            snprintf(path, sizeof(path), "%s/%s", argv[i], names[j]);
            free(names[j]);
            if (stat(path, &st) != 0 || !S_ISREG(st.st_mode))
                continue;
            fprintf(stderr, "replay: %s\n", path);
            if (_run_file(path) != 0)
                return 1;
            here++;
        }
        free(names);
        printf("replay: %s: %u inputs\n", argv[i], here);
        total += here;
    }
    if (total == 0) {
        fprintf(stderr, "replay: no input found in the directories given\n");
        return 1;
    }
    printf("replay: %u inputs, no crash\n", total);
    return 0;
}
