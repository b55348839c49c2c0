/* Disk faults in a real cacheserverd: the SSD tier on a small tmpfs fills up. The server never fails a request for it, logs the fault, marks the tier
 * degraded, keeps serving from memory, and reopens the tier by itself once the disk takes
 * writes again; what it persisted after that survives a restart. Needs to mount a tmpfs
 * (root): where that is not allowed the test says so and is skipped. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cacheclient.h"
#include "harness.h"
#include "tier_client.h"

#define VLEN 1000

static char dir[256], disk[300];
static int mounted;

static int _sh(const char *fmt, const char *arg)
{
    char cmd[1024];
    snprintf(cmd, sizeof(cmd), fmt, arg, arg, arg);
    return system(cmd);
}

static void _write(cc_client *c, const char *prefix, int from, int to)
{
    char key[48], val[VLEN];
    for (int i = from; i < to; i++) {
        snprintf(key, sizeof(key), "%s:%d", prefix, i);
        memset(val, 'a' + i % 26, VLEN);
        cc_value v = cc_value_bytes(val, VLEN);
        int rc = cc_set(c, key, strlen(key), &v, 0, 0, 0, NULL);
        if (rc != CC_OK) /* a disk fault never fails a request */
            fail_msg("SET %s: %s (%s)", key, cc_strstatus(rc), cc_errmsg(c));
    }
}

static void _wait_log(struct harness *h, const char *needle)
{
    for (int i = 0; i < 100 && !harness_log_contains(h, needle); i++)
        usleep(100000);
    if (!harness_log_contains(h, needle)) {
        harness_print_log(h, 20);
        fail_msg("the log never said '%s'", needle);
    }
}

static void test_full_disk_and_recovery(void **state)
{
    (void)state;
    snprintf(dir, sizeof(dir), "%s/tier-fault.XXXXXX", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
    assert_non_null(mkdtemp(dir));
    snprintf(disk, sizeof(disk), "%s/disk", dir);
    assert_int_equal(_sh("mkdir -p '%s'", disk), 0);
    if (_sh("mount -t tmpfs -o size=8m tmpfs '%s' 2>/dev/null", disk) != 0) {
        printf("# skipped: cannot mount a tmpfs here (needs root)\n");
        skip();
    }
    mounted = 1;
    /* 3 MiB of ballast: removing it later gives the disk room again */
    assert_int_equal(_sh("dd if=/dev/zero of='%s/ballast' bs=1M count=3 2>/dev/null", disk), 0);
    char ssd[320];
    snprintf(ssd, sizeof(ssd), "%s/ssd", disk);
    const char *args[] = {"--memory", "2MiB", "--ssd-path", ssd, "--persist", "async",
                          "--tier-compress-threshold", "1000000", "--threads", "2", NULL};
    struct harness *h = harness_start(args);
    cc_client *c = tier_client(h);

    /* 20 MB into an 8 MiB disk: it fills; every SET still succeeds */
    _write(c, "full", 0, 20000);
    _wait_log(h, "marked degraded");
    assert_true(harness_stat(h, "disk_errors") > 0);
    assert_true(harness_stat(h, "persist_dropped") > 0);
    assert_int_equal(harness_ping(h), 0);
    cc_item it = {0};
    assert_int_equal(cc_get(c, "full:19999", 10, &it), CC_OK); /* memory still serves */
    assert_int_equal(it.value.len, VLEN);
    cc_item_release(&it);

    /* room again: the tier reopens by itself and persists again */
    assert_int_equal(_sh("rm -f '%s/ballast'", disk), 0);
    _wait_log(h, "reopened after the fault");
    uint64_t written = harness_stat(h, "persist_writes");
    _write(c, "after", 0, 300);
    for (int i = 0; i < 50 && harness_stat(h, "persist_writes") < written + 300; i++)
        usleep(100000);
    assert_true(harness_stat(h, "persist_writes") >= written + 300);

    cc_client_destroy(&c);

    /* what was persisted after the recovery survives a restart */
    harness_restart(h);
    c = tier_client(h);
    char key[48];
    for (int i = 0; i < 300; i++) {
        snprintf(key, sizeof(key), "after:%d", i);
        int rc = cc_get(c, key, strlen(key), &it);
        if (rc != CC_OK)
            fail_msg("%s after restart: %s", key, cc_strstatus(rc));
        cc_item_release(&it);
    }
    cc_client_destroy(&c);
    harness_destroy(&h);
}

/* Runs after the test, passed or failed: never leave a mount behind. */
static int cleanup(void **state)
{
    (void)state;
    if (mounted && _sh("umount '%s'", disk) != 0)
        return -1;
    mounted = 0;
    return dir[0] && _sh("rm -rf '%s'", dir) != 0 ? -1 : 0;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_full_disk_and_recovery, cleanup),
    };
    return cmocka_run_group_tests_name("disk faults", tests, NULL, NULL);
}
