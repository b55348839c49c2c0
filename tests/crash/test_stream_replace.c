/* Regression of a bug the crash loop found (docs/reliability.md, "Crash consistency"): a
 * persisted stream replaced by a SET left the store in the wrong order. The store freed the
 * old stream (its stream hooks' gone(), on which persistence queues the delete of the
 * stream's chunk and append records) before it emitted the SET's mutation record (on which
 * persistence queues the write that replaces the stream's head). A SIGKILL between the two
 * disk batches then left the old head on disk naming records already deleted, and the key
 * answered E_DISK "the end of the stream is missing on disk" to every GET, MGET and APPEND
 * until it was overwritten (issue 14, "persist = async leaves keys unreadable after a
 * kill"). The crash loop hits that window about once in a few dozen kills; this checks the
 * order itself, in the store, every time. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <string.h>

#include "option.h"
#include "store.h"

static struct {
    int events, set_at, gone_at;
} order;

static void _record(void *arg, const struct mutation *m)
{
    (void)arg;
    order.events++;
    if (m->op == MUT_SET && m->klen == 2 && memcmp(m->key, "sr", 2) == 0)
        order.set_at = order.events;
}

static bool _spill(void *arg, uint16_t ns, const uint8_t *key, uint32_t klen, uint64_t sid,
                   uint32_t idx, const uint8_t *data, uint32_t len, uint32_t crc,
                   void (*release)(void *), void *rarg)
{
    (void)arg, (void)ns, (void)key, (void)klen, (void)sid, (void)idx, (void)data, (void)len;
    (void)crc;
    (void)release, (void)rarg;
    return false; /* the chunks stay in memory */
}

static void _gone(void *arg, uint64_t sid, uint64_t disk_bytes, bool evicted)
{
    (void)arg, (void)sid, (void)disk_bytes;
    if (!evicted)
        order.gone_at = ++order.events;
}

static int setup(void **state)
{
    (void)state;
    char err[256];
    store_options_register();
    if (option_registry_set("memory", "64MiB", false, err, sizeof(err)) != 0)
        fail_msg("memory: %s", err);
    return store_setup();
}

static int teardown(void **state)
{
    (void)state;
    store_set_stream_hooks(NULL);
    store_teardown();
    option_registry_teardown();
    return 0;
}

static void test_replaced_stream_is_gone_after_the_record_of_its_replacement(void **state)
{
    (void)state;
    struct store_stream_hooks h = {.threshold = 1u << 20, .persist = true, .spill = _spill,
                                   .gone = _gone};
    store_set_stream_hooks(&h);
    assert_int_equal(store_mutation_subscribe(_record, NULL), 0);
    struct store_key k;
    store_key_init(&k, 0, "sr", 2);
    uint64_t len;
    assert_int_equal(store_append(&k, "abc", 3, 0, &len), STORE_OK);
    assert_int_equal(store_append(&k, "def", 3, 0, &len), STORE_OK);
    assert_int_equal(order.gone_at, 0);
    const uint8_t enc[] = {0xc4, 5, 'p', 'l', 'a', 'i', 'n'}; /* bin "plain" */
    struct store_value v = {STORE_T_BYTES, enc, sizeof(enc)};
    assert_int_equal(store_set(&k, &v, 0, 0, 0, NULL), STORE_OK);
    assert_true(order.set_at > 0);
    assert_true(order.gone_at > 0);
    if (order.gone_at < order.set_at)
        fail_msg("the replaced stream was gone (event %d) before the SET's record (event %d): "
                 "persistence would delete its chunks before replacing its head",
                 order.gone_at, order.set_at);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(
            test_replaced_stream_is_gone_after_the_record_of_its_replacement, setup, teardown),
    };
    return cmocka_run_group_tests_name("crash regressions", tests, NULL, NULL);
}
