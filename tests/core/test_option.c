/* Unit tests of util/option.c: every option type's parser with valid and invalid text, the
 * error messages, formatting, the registry (lookup by '-' or '_', startup vs run-time sets,
 * validation hooks) and core's own option checks. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "core.h"
#include "option.h"

#define T_OPTIONS(ACTION)                                                             \
    ACTION(t_size, OPT_SIZE, "64KiB", OPT_STARTUP, "a size")                          \
    ACTION(t_uint, OPT_UINT, "7", OPT_RUNTIME, "a number")                            \
    ACTION(t_bool, OPT_BOOL, "no", OPT_RUNTIME, "a flag")                             \
    ACTION(t_name, OPT_STR, "first", OPT_RUNTIME, "a string")                         \
    ACTION(t_fixed, OPT_STR, "", OPT_STARTUP, "a startup-only string")                \
    ACTION(t_list, OPT_LIST, "", OPT_STARTUP, "a repeatable option")

OPTION_STRUCT(t, T_OPTIONS);
static struct t_options topts;
static struct option_desc tdesc[] = OPTION_DESCRIBE(T_OPTIONS);
#define NT (sizeof(tdesc) / sizeof(tdesc[0]))

static int setup(void **state)
{
    (void)state;
    memset(&topts, 0, sizeof(topts));
    for (size_t i = 0; i < NT; i++) {
        tdesc[i].check = NULL;
        tdesc[i].has_range = false;
    }
    option_bind(tdesc, NT, &topts);
    option_registry_add("test", tdesc, NT);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    option_registry_teardown();
    return 0;
}

/* Set `text` on option `name` and expect success and the value `want`. */
static void _expect_u(const char *name, const char *text, uint64_t want)
{
    char err[512] = "";
    struct option_desc *d = option_registry_find(name);
    assert_non_null(d);
    if (option_set(d, text, err, sizeof(err)) != 0)
        fail_msg("%s = '%s': expected %llu, got error: %s", name, text, (unsigned long long)want,
                 err);
    if (option_get_u(d->value) != want)
        fail_msg("%s = '%s': expected %llu, got %llu", name, text, (unsigned long long)want,
                 (unsigned long long)option_get_u(d->value));
}

/* Expect `text` to be refused for `name`, the value to stay unchanged and the message to
 * name the option and the value. */
static void _expect_refused(const char *name, const char *text)
{
    char err[512] = "", before[128], after[128], want[256], dn[64];
    struct option_desc *d = option_registry_find(name);
    assert_non_null(d);
    option_format(d, before, sizeof(before));
    if (option_set(d, text, err, sizeof(err)) == 0) {
        option_format(d, after, sizeof(after));
        fail_msg("%s = '%s': expected an error, got value %s", name, text, after);
    }
    option_format(d, after, sizeof(after));
    if (strcmp(before, after) != 0)
        fail_msg("%s = '%s' refused but the value changed: expected %s, got %s", name, text,
                 before, after);
    option_display_name(d->name, dn, sizeof(dn));
    snprintf(want, sizeof(want), "invalid value '%s' for option '%s': ", text, dn);
    if (strncmp(err, want, strlen(want)) != 0)
        fail_msg("%s = '%s': expected a message starting \"%s\", got \"%s\"", name, text, want,
                 err);
}

static void test_defaults_are_loaded_on_registration(void **state)
{
    (void)state;
    char buf[64];
    assert_true(topts.t_size.set);
    assert_int_equal(option_get_u(&topts.t_size), 64 * 1024);
    assert_int_equal(option_get_u(&topts.t_uint), 7);
    assert_false(option_get_b(&topts.t_bool));
    assert_string_equal(option_get_s(&topts.t_name), "first");
    option_format(option_registry_find("t_fixed"), buf, sizeof(buf));
    assert_string_equal(buf, "");
}

static void test_size_accepts_bytes_and_binary_suffixes(void **state)
{
    (void)state;
    static const struct {
        const char *text;
        uint64_t want;
    } cases[] = {
        {"0", 0},
        {"512", 512},
        {"1b", 1},
        {"1B", 1},
        {"1k", 1024},
        {"1K", 1024},
        {"1kb", 1024},
        {"1KB", 1024},
        {"1KiB", 1024},
        {"1kib", 1024},
        {"64KiB", 64 * 1024},
        {"256MiB", 256ull << 20},
        {"3m", 3ull << 20},
        {"2MB", 2ull << 20},
        {"1GiB", 1ull << 30},
        {"1g", 1ull << 30},
        {"5GB", 5ull << 30},
        {"2T", 2ull << 40},
        {"1TiB", 1ull << 40},
        {"1PiB", 1ull << 50},
        {"15EiB", 15ull << 60},
        {"18446744073709551615", UINT64_MAX},
        {"17179869183GiB", 17179869183ull << 30},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
        _expect_u("t_size", cases[i].text, cases[i].want);
}

static void test_size_refuses_garbage_and_overflow(void **state)
{
    (void)state;
    static const char *const bad[] = {
        "", "abc", "-1", "+1", " 1", "1 ", "1.5GiB", "1 GiB", "1XB", "1KiBs", "1Ki", "1iB",
        "MiB", "16EiB", "17179869184GiB", "18446744073709551616", "99999999999999999999999",
        "0x10",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        _expect_refused("t_size", bad[i]);
}

static void test_uint_accepts_decimal_and_refuses_the_rest(void **state)
{
    (void)state;
    _expect_u("t_uint", "0", 0);
    _expect_u("t_uint", "42", 42);
    _expect_u("t_uint", "007", 7);
    _expect_u("t_uint", "18446744073709551615", UINT64_MAX);
    static const char *const bad[] = {"", "-1", "+1", "1x", "1.0", "0x10", "1k", " 3",
                                      "18446744073709551616", "1e3"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        _expect_refused("t_uint", bad[i]);
}

static void test_bool_accepts_every_spelling(void **state)
{
    (void)state;
    static const char *const yes[] = {"true", "TRUE", "yes", "Yes", "on", "ON", "1"};
    static const char *const no[] = {"false", "False", "no", "NO", "off", "Off", "0"};
    char err[256];
    struct option_desc *d = option_registry_find("t_bool");
    for (size_t i = 0; i < sizeof(yes) / sizeof(yes[0]); i++) {
        assert_int_equal(option_set(d, no[i], err, sizeof(err)), 0);
        if (option_get_b(d->value))
            fail_msg("'%s': expected false, got true", no[i]);
        assert_int_equal(option_set(d, yes[i], err, sizeof(err)), 0);
        if (!option_get_b(d->value))
            fail_msg("'%s': expected true, got false", yes[i]);
    }
    static const char *const bad[] = {"", "2", "maybe", "tru", "y", "n", "enabled", "true "};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        _expect_refused("t_bool", bad[i]);
}

static void test_string_takes_any_text_and_replaces_the_old_one(void **state)
{
    (void)state;
    char err[256];
    struct option_desc *d = option_registry_find("t_name");
    const char *old = option_get_s(d->value);
    assert_int_equal(option_set(d, "", err, sizeof(err)), 0);
    assert_string_equal(option_get_s(d->value), "");
    assert_int_equal(option_set(d, "with spaces = and # signs", err, sizeof(err)), 0);
    assert_string_equal(option_get_s(d->value), "with spaces = and # signs");
    /* A run-time string's previous value stays readable (another thread may hold it). */
    assert_string_equal(old, "first");
}

static void test_format_writes_sizes_in_bytes(void **state)
{
    (void)state;
    char buf[64], err[256];
    struct option_desc *d = option_registry_find("t_size");
    assert_int_equal(option_set(d, "2MiB", err, sizeof(err)), 0);
    option_format(d, buf, sizeof(buf));
    assert_string_equal(buf, "2097152");
    option_format(option_registry_find("t_bool"), buf, sizeof(buf));
    assert_string_equal(buf, "false");
    option_format(option_registry_find("t_uint"), buf, sizeof(buf));
    assert_string_equal(buf, "7");
}

static void test_registry_finds_names_with_dashes_or_underscores(void **state)
{
    (void)state;
    assert_ptr_equal(option_registry_find("t-size"), &tdesc[0]);
    assert_ptr_equal(option_registry_find("t_size"), &tdesc[0]);
    assert_ptr_equal(option_registry_find("t-fixed"), &tdesc[4]);
    assert_null(option_registry_find("t-siz"));
    assert_null(option_registry_find("t-size-"));
    assert_null(option_registry_find(""));
}

struct walk {
    int count;
    char names[16][32];
};

static void _walk(void *arg, const char *module, struct option_desc *d)
{
    struct walk *w = arg;
    assert_string_equal(module, "test");
    if (w->count < 16)
        snprintf(w->names[w->count], sizeof(w->names[0]), "%s", d->name);
    w->count++;
}

static void test_registry_foreach_visits_every_option_in_order(void **state)
{
    (void)state;
    struct walk w = {0};
    option_registry_foreach(_walk, &w);
    if (w.count != (int)NT)
        fail_msg("options visited: expected %zu, got %d", NT, w.count);
    for (size_t i = 0; i < NT; i++)
        assert_string_equal(w.names[i], tdesc[i].name);
}

static void test_registry_set_at_startup_and_at_run_time(void **state)
{
    (void)state;
    char err[512] = "";
    /* startup: any option */
    assert_int_equal(option_registry_set("t-size", "1MiB", false, err, sizeof(err)), 0);
    assert_int_equal(option_get_u(&topts.t_size), 1 << 20);
    assert_int_equal(option_registry_set("t_fixed", "x", false, err, sizeof(err)), 0);
    /* run time: OPT_RUNTIME only */
    assert_int_equal(option_registry_set("t-uint", "9", true, err, sizeof(err)), 0);
    assert_int_equal(option_get_u(&topts.t_uint), 9);
    assert_int_equal(option_registry_set("t-name", "second", true, err, sizeof(err)), 0);
    assert_string_equal(option_get_s(&topts.t_name), "second");
    assert_int_equal(option_registry_set("t-size", "2MiB", true, err, sizeof(err)), -1);
    if (!strstr(err, "'t-size'") || !strstr(err, "only be set at startup"))
        fail_msg("expected a startup-only message naming 't-size', got \"%s\"", err);
    assert_int_equal(option_get_u(&topts.t_size), 1 << 20);
    /* unknown and invalid */
    assert_int_equal(option_registry_set("nope", "1", false, err, sizeof(err)), -1);
    assert_string_equal(err, "unknown option 'nope'");
    assert_int_equal(option_registry_set("t-uint", "ten", true, err, sizeof(err)), -1);
    if (!strstr(err, "invalid value 'ten' for option 't-uint'"))
        fail_msg("expected an invalid-value message, got \"%s\"", err);
    assert_int_equal(option_get_u(&topts.t_uint), 9);
}

static int _max_100(const struct option_desc *d, const struct option_value *v, char *err,
                    size_t errlen)
{
    (void)d;
    if (v->u <= 100)
        return 0;
    snprintf(err, errlen, "at most 100");
    return -1;
}

static void test_check_hook_refuses_values_and_keeps_the_old_one(void **state)
{
    (void)state;
    char err[512] = "";
    assert_int_equal(option_registry_check("t-uint", _max_100, err, sizeof(err)), 0);
    assert_int_equal(option_registry_set("t-uint", "100", true, err, sizeof(err)), 0);
    assert_int_equal(option_registry_set("t-uint", "101", true, err, sizeof(err)), -1);
    assert_string_equal(err, "invalid value '101' for option 't-uint': at most 100");
    assert_int_equal(option_get_u(&topts.t_uint), 100);
    /* attaching a hook the current value fails is reported */
    assert_int_equal(option_registry_set("t-size", "1GiB", false, err, sizeof(err)), 0);
    assert_int_equal(option_registry_check("t-size", _max_100, err, sizeof(err)), -1);
    assert_string_equal(err, "invalid value '1073741824' for option 't-size': at most 100");
    assert_int_equal(option_registry_check("missing", _max_100, err, sizeof(err)), -1);
}

/* A range refuses values outside it with a message naming it (sizes in units), keeps the old
 * value, accepts both ends, and 0 when zero_ok says 0 means "off". */
static void test_range_refuses_values_naming_it(void **state)
{
    (void)state;
    char err[512] = "", range[96];
    static const struct option_range r[] = {
        {"t_uint", 5, 50, false},
        {"t_size", 1ull << 20, (4ull << 30) - 1, true},
    };
    assert_int_equal(option_registry_set("t-size", "1MiB", false, err, sizeof(err)), 0);
    option_registry_ranges("test", r, 2);
    option_format_range(option_registry_find("t_uint"), range, sizeof(range));
    assert_string_equal(range, "5..50");
    option_format_range(option_registry_find("t_size"), range, sizeof(range));
    assert_string_equal(range, "0 or 1MiB..4GiB - 1");
    option_format_range(option_registry_find("t_name"), range, sizeof(range));
    assert_string_equal(range, "");
    assert_int_equal(option_registry_set("t-uint", "4", true, err, sizeof(err)), -1);
    assert_string_equal(err, "invalid value '4' for option 't-uint': out of range: must be 5..50");
    assert_int_equal(option_registry_set("t-uint", "51", true, err, sizeof(err)), -1);
    assert_int_equal(option_get_u(&topts.t_uint), 7);
    assert_int_equal(option_registry_set("t-uint", "5", true, err, sizeof(err)), 0);
    assert_int_equal(option_registry_set("t-uint", "50", true, err, sizeof(err)), 0);
    assert_int_equal(option_registry_set("t-size", "1KiB", false, err, sizeof(err)), -1);
    assert_string_equal(err, "invalid value '1KiB' for option 't-size': out of range: must be "
                             "0 or 1MiB..4GiB - 1");
    assert_int_equal(option_registry_set("t-size", "4GiB", false, err, sizeof(err)), -1);
    assert_int_equal(option_registry_set("t-size", "0", false, err, sizeof(err)), 0);
    assert_int_equal(option_registry_set("t-size", "4294967295", false, err, sizeof(err)), 0);
}

/* core's validation hooks, through the registry as the config file would use them. */
static void test_core_options_validate_their_values(void **state)
{
    (void)state;
    static const struct {
        const char *name, *value;
        int ok;
    } cases[] = {
        {"socket-mode", "0660", 1},     {"socket-mode", "600", 1},
        {"socket-mode", "0999", 0},     {"socket-mode", "01777", 0},
        {"socket-mode", "rw-rw----", 0}, {"socket-mode", "", 0},
        {"socket-group", "", 1},        {"socket-group", "0", 1},
        {"socket-group", "root", 1},    {"socket-group", "no_such_group_xyz", 0},
        {"socket-group", "0,1", 0},     {"allow-uids", "root, 12345", 1},
        {"allow-uids", "no_such_user_xyz", 0}, {"allow-uids", "1,,2", 0},
        {"allow-uids", "4294967295", 0}, {"allow-gids", "0,root", 1},
        {"threads", "0", 1},            {"threads", "1024", 1},
        {"threads", "5000", 0},         {"max-connections", "0", 0},
        {"max-connections", "1", 1},    {"max-frame-size", "100", 0},
        {"max-frame-size", "4GiB", 0},  {"max-frame-size", "1MiB", 1},
        {"max-frame-size", "1KiB", 0},  {"max-frame-size", "4294967295", 1},
        {"log-level", "debug", 1},      {"log-level", "WARN", 1},
        {"log-level", "verbose", 0},    {"output-timeout-ms", "0", 0},
        {"output-timeout-ms", "100", 1}, {"max-output-buffer", "0", 0},
        {"max-output-buffer", "64KiB", 1}, {"shutdown-timeout-ms", "0", 1},
    };
    char err[512];
    core_options_register();
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        int rc = option_registry_set(cases[i].name, cases[i].value, false, err, sizeof(err));
        if ((rc == 0) != cases[i].ok)
            fail_msg("%s = '%s': expected %s, got %s", cases[i].name, cases[i].value,
                     cases[i].ok ? "accepted" : "refused", rc == 0 ? "accepted" : err);
    }
    /* max-output-buffer and output-timeout-ms are run-time options, socket is not */
    assert_int_equal(option_registry_set("max-output-buffer", "1MiB", true, err, sizeof(err)), 0);
    assert_int_equal(option_registry_set("output-timeout-ms", "100", true, err, sizeof(err)), 0);
    assert_int_equal(option_registry_set("socket", "/tmp/x.sock", true, err, sizeof(err)), -1);
}

/* A list: each set adds an entry, "" empties it, entries are walked in order and formatted
 * joined by ", "; an entry with a newline is refused. */
static void test_list_collects_entries_in_order(void **state)
{
    (void)state;
    char err[256], buf[256], entry[64];
    struct option_desc *d = option_registry_find("t-list");
    assert_non_null(d);
    const char *pos = option_get_s(d->value);
    assert_false(option_list_next(&pos, entry, sizeof(entry)));
    assert_int_equal(option_registry_set("t_list", "b 127.0.0.1:1 ff", false, err, sizeof(err)), 0);
    assert_int_equal(option_registry_set("t_list", "c 127.0.0.1:2 ee", false, err, sizeof(err)), 0);
    option_format(d, buf, sizeof(buf));
    assert_string_equal(buf, "b 127.0.0.1:1 ff, c 127.0.0.1:2 ee");
    pos = option_get_s(d->value);
    assert_true(option_list_next(&pos, entry, sizeof(entry)));
    assert_string_equal(entry, "b 127.0.0.1:1 ff");
    assert_true(option_list_next(&pos, entry, 5)); /* truncated to the buffer */
    assert_string_equal(entry, "c 12");
    assert_false(option_list_next(&pos, entry, sizeof(entry)));
    assert_int_equal(option_registry_set("t_list", "x\ny", false, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "newline"));
    assert_int_equal(option_registry_set("t_list", "", false, err, sizeof(err)), 0);
    option_format(d, buf, sizeof(buf));
    assert_string_equal(buf, "");
}

/* CONFIG SET of a runtime string keeps the strings it replaces (a reader may hold one), but
 * once per distinct value: setting it in a loop must not grow the heap for ever (found
 * while measuring the server's RSS under fuzzed frames, issue 14). */
static void test_runtime_string_keeps_each_value_once(void **state)
{
    (void)state;
    char err[512] = "";
    assert_int_equal(option_retired_count(), 0);
    const char *first = option_get_s(&topts.t_name);
    assert_string_equal(first, "first");
    static const char *const values[] = {"off", "sample", "all", "sample", "off"};
    for (int round = 0; round < 1000; round++)
        for (size_t i = 0; i < sizeof(values) / sizeof(values[0]); i++) {
            assert_int_equal(option_registry_set("t-name", values[i], true, err, sizeof(err)), 0);
            assert_string_equal(option_get_s(&topts.t_name), values[i]);
        }
    /* "first", and two of off/sample/all: the third is the current value */
    assert_int_equal(option_retired_count(), 3);
    /* the same value again is no change */
    const char *cur = option_get_s(&topts.t_name);
    assert_int_equal(option_registry_set("t-name", "off", true, err, sizeof(err)), 0);
    assert_ptr_equal(option_get_s(&topts.t_name), cur);
    /* a string handed out earlier is still readable, and comes back as the value */
    assert_string_equal(first, "first");
    assert_int_equal(option_registry_set("t-name", "first", true, err, sizeof(err)), 0);
    assert_ptr_equal(option_get_s(&topts.t_name), first);
    assert_int_equal(option_retired_count(), 3);
    /* startup sets of a string free the old one at once: nothing kept */
    for (int i = 0; i < 10; i++)
        assert_int_equal(option_registry_set("t-fixed", i % 2 ? "a" : "b", false, err,
                                             sizeof(err)), 0);
    assert_int_equal(option_retired_count(), 3);
}

int main(void)
{
#define T(test) cmocka_unit_test_setup_teardown(test, setup, teardown)
    const struct CMUnitTest tests[] = {
        T(test_defaults_are_loaded_on_registration),
        T(test_size_accepts_bytes_and_binary_suffixes),
        T(test_size_refuses_garbage_and_overflow),
        T(test_uint_accepts_decimal_and_refuses_the_rest),
        T(test_bool_accepts_every_spelling),
        T(test_string_takes_any_text_and_replaces_the_old_one),
        T(test_format_writes_sizes_in_bytes),
        T(test_registry_finds_names_with_dashes_or_underscores),
        T(test_registry_foreach_visits_every_option_in_order),
        T(test_registry_set_at_startup_and_at_run_time),
        T(test_check_hook_refuses_values_and_keeps_the_old_one),
        T(test_range_refuses_values_naming_it),
        T(test_core_options_validate_their_values),
        T(test_list_collects_entries_in_order),
        T(test_runtime_string_keeps_each_value_once),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
