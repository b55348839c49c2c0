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

/* The start of a method on one key: key prefixed into k, the connection begun. NULL with an
 * exception pending (nothing to free); else finish with php_cc_end and php_cc_key_free. */
static inline cc_client *php_cc_key_begin(php_cc_client *cli, zend_string *key, php_cc_key *k,
                                          bool replayable)
{
    if (!cli || php_cc_key_make(k, &cli->core, ZSTR_VAL(key), ZSTR_LEN(key)) == FAILURE)
        return NULL;
    cc_client *c = php_cc_begin(&cli->core, replayable);
    if (!c)
        php_cc_key_free(k);
    return c;
}

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
