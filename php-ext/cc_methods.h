/* Helpers shared by the files of CacheClient's methods (cc_methods.c, cc_methods_keys.c). */
#ifndef PHP_CC_METHODS_H
#define PHP_CC_METHODS_H

#include "php_cacheclient.h"

/* The CacheClient behind $this, or NULL with an Error pending when it was not constructed. */
static inline php_cc_client *php_cc_this(zval *zthis)
{
    php_cc_client *cli = Z_CC_CLIENT_P(zthis);
    if (UNEXPECTED(!cli->initialized)) {
        zend_throw_error(NULL, "CacheClient was not constructed");
        return NULL;
    }
    return cli;
}

static inline cc_client *php_cc_begin(php_cc_core *core, bool replayable)
{
    return php_cc_conn_begin(core->conn, ZSTR_VAL(core->ns), ZSTR_LEN(core->ns), replayable);
}

static inline void php_cc_end(php_cc_core *core) { php_cc_conn_end(core->conn); }

/* Prefixed keys of a PHP array of keys (string or int values). */
typedef struct php_cc_keylist {
    size_t n;
    const void **p;
    size_t *len;
    zval *orig; /* the caller's keys as strings, for the result array */
    char *buf;  /* prefixed copies when the client has a prefix */
} php_cc_keylist;

/* Build kl from keys; TypeError/ValueError (argument arg_num) on a bad key. */
zend_result php_cc_keylist_make(php_cc_keylist *kl, const php_cc_core *core, HashTable *keys,
                                uint32_t arg_num);
void php_cc_keylist_free(php_cc_keylist *kl);

#endif
