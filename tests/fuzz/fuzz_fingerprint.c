/* libFuzzer target: repl_fingerprint_parse (cacheserverd/repl/identity.c), which reads the
 * peer fingerprints an operator pastes into the configuration.
 *
 * The input, as a C string, is parsed; when it is accepted, the fingerprint is formatted
 * back and must be the input's own hex digits in lower case: the input with surrounding
 * blanks, the optional "sha256 Fingerprint=" prefix (any case) and the colons between pairs
 * removed. It must also parse again to the same bytes. Anything else abort()s: the parser
 * accepted text that is not one of its documented forms, or lost a digit. */
#include <ctype.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "identity.h"

static void _fail(const char *what, const char *input, const char *hex)
{
    fprintf(stderr, "fuzz_fingerprint: %s\n  input: '%s'\n  formatted: %s\n", what, input, hex);
    abort();
}

static int _blank(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *s = malloc(size + 1);
    if (!s)
        return 0;
    memcpy(s, data, size);
    s[size] = '\0';

    uint8_t fp[REPL_FP_LEN], again[REPL_FP_LEN];
    memset(fp, 0xa5, sizeof(fp));
    if (repl_fingerprint_parse(s, fp) != 0) {
        for (size_t i = 0; i < REPL_FP_LEN; i++)
            if (fp[i] != 0xa5)
                _fail("refused, but the output was changed", s, "");
        free(s);
        return 0;
    }
    char hex[REPL_FP_HEX_SIZE];
    repl_fingerprint_format(fp, hex);
    if (strlen(hex) != 2 * REPL_FP_LEN)
        _fail("the formatted fingerprint is not 64 characters", s, hex);

    /* the lower-case form of the input: blanks, prefix and colons dropped */
    static const char prefix[] = "sha256 Fingerprint=";
    const char *p = s;
    while (_blank(*p))
        p++;
    if (!strncasecmp(p, prefix, sizeof(prefix) - 1))
        p += sizeof(prefix) - 1;
    size_t n = strlen(p);
    while (n && _blank(p[n - 1]))
        n--;
    char want[256];
    size_t w = 0;
    for (size_t i = 0; i < n; i++) {
        if (p[i] == ':')
            continue;
        if (w + 1 >= sizeof(want))
            _fail("accepted an input far longer than a fingerprint", s, hex);
        want[w++] = (char)tolower((unsigned char)p[i]);
    }
    want[w] = '\0';
    if (strcmp(want, hex) != 0)
        _fail("round trip differs from the input's lower-case form", s, hex);

    if (repl_fingerprint_parse(hex, again) != 0 || memcmp(again, fp, REPL_FP_LEN) != 0)
        _fail("the formatted fingerprint does not parse back to the same bytes", s, hex);
    free(s);
    return 0;
}
