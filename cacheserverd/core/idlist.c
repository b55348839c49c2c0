/* Lists of user or group ids written as "www-data, 1000, staff": numbers are taken as ids,
 * names are resolved through the system's user/group database (getpwnam_r/getgrnam_r).
 * Used for allow_uids, allow_gids and socket_group; resolved once at startup. */
#include <grp.h>
#include <pwd.h>
#include <stdio.h>
#include <string.h>

#include "core-internal.h"

static int _resolve(const char *name, bool groups, uint32_t *id, char *why, size_t whylen)
{
    uint64_t v;
    if (option_parse_uint(name, &v) == 0) {
        if (v >= UINT32_MAX) { /* (uid_t)-1 means "no id" */
            snprintf(why, whylen, "id %s out of range", name);
            return -1;
        }
        *id = (uint32_t)v;
        return 0;
    }
    char buf[16384];
    if (groups) {
        struct group gr, *res = NULL;
        if (getgrnam_r(name, &gr, buf, sizeof(buf), &res) == 0 && res) {
            *id = (uint32_t)res->gr_gid;
            return 0;
        }
        snprintf(why, whylen, "unknown group '%s'", name);
    } else {
        struct passwd pw, *res = NULL;
        if (getpwnam_r(name, &pw, buf, sizeof(buf), &res) == 0 && res) {
            *id = (uint32_t)res->pw_uid;
            return 0;
        }
        snprintf(why, whylen, "unknown user '%s'", name);
    }
    return -1;
}

int core_idlist_parse(const char *text, bool groups, struct core_idlist *out, char *why,
                      size_t whylen)
{
    out->n = 0;
    const char *p = text ? text : "";
    while (*p == ' ' || *p == '\t')
        p++;
    if (!*p)
        return 0;
    for (;;) {
        const char *end = strchr(p, ',');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        while (len && (p[len - 1] == ' ' || p[len - 1] == '\t'))
            len--;
        char name[256];
        if (len == 0 || len >= sizeof(name)) {
            snprintf(why, whylen, len ? "entry too long" : "empty entry in the list");
            return -1;
        }
        if (out->n == CORE_IDLIST_MAX) {
            snprintf(why, whylen, "more than %d entries", CORE_IDLIST_MAX);
            return -1;
        }
        memcpy(name, p, len);
        name[len] = '\0';
        if (_resolve(name, groups, &out->id[out->n], why, whylen) != 0)
            return -1;
        out->n++;
        if (!end)
            return 0;
        p = end + 1;
        while (*p == ' ' || *p == '\t')
            p++;
    }
}

bool core_idlist_has(const struct core_idlist *l, uint32_t id)
{
    for (size_t i = 0; i < l->n; i++)
        if (l->id[i] == id)
            return true;
    return false;
}
