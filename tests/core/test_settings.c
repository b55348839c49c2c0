/* Tests of the command line and the config file, against the real binary ($CACHESERVERD):
 * usage errors exit 2 with a message naming the option (and file:line), --help lists every
 * core option, and a config file's values apply below the command line's. */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cacheclient_protocol.h"
#include "core.h"
#include "testutil.h"

#define RUN_TIMEOUT_MS 10000

static char tmp[64];
static struct harness *srv; /* the server a test started; destroyed by teardown on failure */
static pid_t fg_pid;        /* a server started without the harness; killed by teardown */

struct run {
    int code; /* exit code, 128+signal, or -1 if it had to be killed */
    char out[65536];
    char err[16384];
};

static void _slurp(const char *path, char *buf, size_t len)
{
    buf[0] = '\0';
    FILE *f = fopen(path, "r");
    if (!f)
        return;
    size_t n = fread(buf, 1, len - 1, f);
    buf[n] = '\0';
    fclose(f);
}

/* Run $CACHESERVERD with args (NULL-terminated) in the temporary directory. */
static void _run(struct run *r, const char *const *args)
{
    const char *bin = getenv("CACHESERVERD");
    assert_non_null(bin);
    char outp[128], errp[128];
    snprintf(outp, sizeof(outp), "%s/out.txt", tmp);
    snprintf(errp, sizeof(errp), "%s/err.txt", tmp);
    const char *argv[32] = {bin};
    size_t n = 1;
    for (; args[n - 1] && n < 31; n++)
        argv[n] = args[n - 1];
    argv[n] = NULL;
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        int o = open(outp, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        int e = open(errp, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        if (o < 0 || e < 0 || chdir(tmp) != 0)
            _exit(126);
        dup2(o, STDOUT_FILENO);
        dup2(e, STDERR_FILENO);
        execv(bin, (char *const *)argv);
        _exit(127);
    }
    int st = 0;
    uint64_t deadline = tu_now_ms() + RUN_TIMEOUT_MS;
    while (waitpid(pid, &st, WNOHANG) == 0) {
        if (tu_now_ms() > deadline) {
            kill(pid, SIGKILL);
            waitpid(pid, &st, 0);
            r->code = -1;
            _slurp(errp, r->err, sizeof(r->err));
            fail_msg("cacheserverd %s ...: expected it to exit, it was still running after %d ms",
                     args[0] ? args[0] : "", RUN_TIMEOUT_MS);
        }
        tu_sleep_ms(5);
    }
    r->code = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
    _slurp(outp, r->out, sizeof(r->out));
    _slurp(errp, r->err, sizeof(r->err));
}

/* Expect exit code 2 and a stderr line containing every fragment. */
static void _expect_usage_error(const char *const *args, const char *frag1, const char *frag2)
{
    static struct run r;
    _run(&r, args);
    if (r.code != 2)
        fail_msg("%s: expected exit code 2, got %d (stderr: %s)", args[0], r.code, r.err);
    if (!strstr(r.err, frag1) || (frag2 && !strstr(r.err, frag2)))
        fail_msg("%s: expected stderr containing \"%s\"%s%s%s, got \"%s\"", args[0], frag1,
                 frag2 ? " and \"" : "", frag2 ? frag2 : "", frag2 ? "\"" : "", r.err);
    if (strncmp(r.err, "cacheserverd: ", 14) != 0)
        fail_msg("expected the message to start with \"cacheserverd: \", got \"%s\"", r.err);
}

static void _write_file(const char *name, const char *text, char *path, size_t len)
{
    snprintf(path, len, "%s/%s", tmp, name);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

static int _rm(const char *p, const struct stat *s, int f, struct FTW *w)
{
    (void)s;
    (void)f;
    (void)w;
    remove(p);
    return 0;
}

static int group_setup(void **state)
{
    (void)state;
    snprintf(tmp, sizeof(tmp), "/tmp/settingstest.XXXXXX");
    return mkdtemp(tmp) ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    if (fg_pid > 0) {
        kill(fg_pid, SIGKILL);
        waitpid(fg_pid, NULL, 0);
        fg_pid = 0;
    }
    harness_destroy(&srv);
    return 0;
}

static int group_teardown(void **state)
{
    (void)state;
    nftw(tmp, _rm, 16, FTW_DEPTH | FTW_PHYS);
    return 0;
}

static void test_unknown_flag_exits_2_naming_it(void **state)
{
    (void)state;
    _expect_usage_error((const char *[]){"--no-such-option", "1", NULL},
                        "cacheserverd: command line: unknown option 'no-such-option'", NULL);
    _expect_usage_error((const char *[]){"--no-such=1", NULL}, "unknown option 'no-such'", NULL);
}

static void test_bad_value_exits_2_naming_option_and_value(void **state)
{
    (void)state;
    _expect_usage_error((const char *[]){"--max-connections", "abc", NULL},
                        "cacheserverd: command line: invalid value 'abc' for option "
                        "'max-connections'", NULL);
    _expect_usage_error((const char *[]){"--max_connections=0", NULL},
                        "invalid value '0' for option 'max-connections'", "must be 1..1000000");
    _expect_usage_error((const char *[]){"--max-output-buffer", "12parsecs", NULL},
                        "invalid value '12parsecs' for option 'max-output-buffer'", "unit");
    _expect_usage_error((const char *[]){"--socket-mode", "0999", NULL},
                        "invalid value '0999' for option 'socket-mode'", NULL);
    _expect_usage_error((const char *[]){"--log-level", "chatty", NULL},
                        "invalid value 'chatty' for option 'log-level'", NULL);
    _expect_usage_error((const char *[]){"--allow-uids", "no_such_user_xyz", NULL},
                        "for option 'allow-uids'", "unknown user 'no_such_user_xyz'");
}

static void test_flag_without_value_or_stray_argument_exits_2(void **state)
{
    (void)state;
    _expect_usage_error((const char *[]){"--socket", NULL}, "option '--socket' needs a value",
                        NULL);
    _expect_usage_error((const char *[]){"--config", NULL}, "option '--config' needs a value",
                        NULL);
    _expect_usage_error((const char *[]){"stray", NULL}, "unexpected argument 'stray'", NULL);
}

static void test_config_file_errors_name_file_and_line(void **state)
{
    (void)state;
    char path[256], want[320];
    _write_file("unknown.conf", "# comment\n\nthreads = 1\nbogus-thing = 3\n", path, sizeof(path));
    snprintf(want, sizeof(want), "cacheserverd: %s:4: unknown option 'bogus-thing'", path);
    _expect_usage_error((const char *[]){"--config", path, NULL}, want, NULL);

    _write_file("badvalue.conf", "max-frame-size = 12 parsecs\n", path, sizeof(path));
    snprintf(want, sizeof(want), "%s:1: invalid value '12 parsecs' for option 'max-frame-size'",
             path);
    _expect_usage_error((const char *[]){"--config", path, NULL}, want, NULL);

    _write_file("syntax.conf", "threads = 1\njust some words\n", path, sizeof(path));
    snprintf(want, sizeof(want), "%s:2: expected 'name = value'", path);
    _expect_usage_error((const char *[]){"--config=", NULL}, "cannot read config file", NULL);
    _expect_usage_error((const char *[]){"--config", path, NULL}, want, NULL);

    _write_file("quote.conf", "socket = \"/tmp/x.sock\n", path, sizeof(path));
    snprintf(want, sizeof(want), "%s:1: option 'socket': unterminated quoted value", path);
    _expect_usage_error((const char *[]){"--config", path, NULL}, want, NULL);

    _write_file("after.conf", "socket = '/tmp/x.sock' trailing\n", path, sizeof(path));
    snprintf(want, sizeof(want), "%s:1: option 'socket': unexpected text", path);
    _expect_usage_error((const char *[]){"--config", path, NULL}, want, NULL);

    snprintf(path, sizeof(path), "%s/does-not-exist.conf", tmp);
    snprintf(want, sizeof(want), "cacheserverd: %s: cannot read config file", path);
    _expect_usage_error((const char *[]){"--config", path, NULL}, want, NULL);
}

static void test_frame_size_must_hold_the_largest_value_and_key(void **state)
{
    (void)state;
    _expect_usage_error((const char *[]){"--max-frame-size", "64MiB", NULL},
                        "invalid value '67108864' for option 'max-frame-size'",
                        "max-value-size");
    _expect_usage_error((const char *[]){"--max-value-size", "100MiB", NULL},
                        "option 'max-frame-size'", "max-key-size");
}

/* Every numeric option has a documented range, refused outside it with a message naming
 * the range, on the command line and in the config file alike (CONFIG SET: tests/cli). */
static void test_numeric_options_refused_outside_their_range(void **state)
{
    (void)state;
    static const struct {
        const char *name, *value, *range;
    } cases[] = {
        {"memory", "0", "1MiB..1PiB"},
        {"memory", "1", "1MiB..1PiB"},
        {"max-value-size", "1KiB", "1MiB..4GiB - 1"},
        {"max-key-size", "0", "16..64KiB - 1"},
        {"max-key-size", "64KiB", "16..64KiB - 1"},
        {"max-output-buffer", "0", "64KiB..64GiB"},
        {"output-timeout-ms", "0", "100..3600000"},
        {"sweep-buckets", "0", "1..1048576"},
        {"sweep-interval-ms", "0", "10..60000"},
        {"max-connections", "0", "1..1000000"},
        {"threads", "1025", "0..1024"},
        {"max-frame-size", "1KiB", "1MiB..4GiB - 1"},
        {"tier-compress-level", "0", "1..19"},
        {"tier-io-threads", "0", "1..256"},
        {"tier-write-rate", "1KiB", "0 or 1MiB..1TiB"},
        {"repl-backlog-size", "1KiB", "64KiB..64GiB"},
        {"node-id", "65536", "0..65535"},
    };
    char want[256], path[256], text[256];
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char flag[64];
        snprintf(flag, sizeof(flag), "--%s", cases[i].name);
        snprintf(want, sizeof(want), "invalid value '%s' for option '%s'", cases[i].value,
                 cases[i].name);
        char range[96];
        snprintf(range, sizeof(range), "must be %s", cases[i].range);
        _expect_usage_error((const char *[]){flag, cases[i].value, NULL}, want, range);
        snprintf(text, sizeof(text), "%s = %s\n", cases[i].name, cases[i].value);
        _write_file("range.conf", text, path, sizeof(path));
        _expect_usage_error((const char *[]){"--config", path, NULL}, want, range);
    }
    /* the ends of a range are accepted; 0 where it means "off" too */
    static struct run r;
    _run(&r, (const char *[]){"--memory", "1MiB", "--max-key-size", "16", "--tier-write-rate",
                              "0", "--sweep-interval-ms", "60000", "--help", NULL});
    EXPECT_EQ(NULL, "exit code", 0, r.code);
}

/* --help shows every numeric option's range (docs/config.md lists the same). */
static void test_help_shows_every_numeric_range(void **state)
{
    (void)state;
    static struct run r;
    _run(&r, (const char *[]){"--help", NULL});
    EXPECT_EQ(NULL, "exit code of --help", 0, r.code);
    int numeric = 0;
    for (char *line = r.out; line && *line;) {
        char *eol = strchr(line, '\n');
        if (eol)
            *eol = '\0';
        if (!strncmp(line, "  --", 4) && (strstr(line, " NUM ") || strstr(line, " SIZE "))) {
            numeric++;
            if (!strstr(line, "range: "))
                fail_msg("--help: no range for a numeric option: \"%s\"", line);
        }
        line = eol ? eol + 1 : NULL;
    }
    assert_true(numeric >= 26);
}

struct expect_opt {
    const char *name, *type, *def;
    int runtime;
};

#define EXPECT_OPT(n, t, d, w, desc) {#n, #t, d, w == OPT_RUNTIME},

static void test_help_lists_every_core_option(void **state)
{
    (void)state;
    static const struct expect_opt opts[] = {CORE_OPTIONS(EXPECT_OPT)};
    static const char *const types[][2] = {
        {"OPT_BOOL", "BOOL"}, {"OPT_UINT", "NUM"}, {"OPT_SIZE", "SIZE"}, {"OPT_STR", "STR"}};
    static struct run r;
    _run(&r, (const char *[]){"--help", NULL});
    EXPECT_EQ(NULL, "exit code of --help", 0, r.code);
    assert_non_null(strstr(r.out, "Usage: cacheserverd [--config FILE]"));
    for (size_t i = 0; i < sizeof(opts) / sizeof(opts[0]); i++) {
        char flag[128], *line, *eol;
        snprintf(flag, sizeof(flag), "  --%s ", opts[i].name);
        for (char *c = flag; *c; c++)
            if (*c == '_')
                *c = '-';
        line = strstr(r.out, flag);
        if (!line)
            fail_msg("--help: expected a line starting \"%s\", got:\n%s", flag, r.out);
        eol = strchr(line, '\n');
        assert_non_null(eol);
        *eol = '\0';
        const char *type = "?";
        for (size_t t = 0; t < 4; t++)
            if (!strcmp(types[t][0], opts[i].type))
                type = types[t][1];
        char want_def[160];
        snprintf(want_def, sizeof(want_def), "default: %s", *opts[i].def ? opts[i].def : "\"\"");
        if (!strstr(line, type) || !strstr(line, want_def) ||
            !!strstr(line, "[runtime]") != opts[i].runtime)
            fail_msg("--help line for %s: expected type %s, \"%s\"%s, got \"%s\"", opts[i].name,
                     type, want_def, opts[i].runtime ? " and [runtime]" : " without [runtime]",
                     line);
        *eol = '\n';
    }
}

static void test_version_prints_the_project_version(void **state)
{
    (void)state;
    static struct run r;
    _run(&r, (const char *[]){"--version", NULL});
    EXPECT_EQ(NULL, "exit code of --version", 0, r.code);
    assert_string_equal(r.out, "cacheserverd " EXPECTED_VERSION "\n");
}

/* threads from the config file shows in the startup line; the command line wins over it. */
static void test_config_file_applies_and_command_line_wins(void **state)
{
    (void)state;
    char path[256], text[512];
    snprintf(text, sizeof(text),
             "# a config file\n"
             "threads = 3\n"
             "socket-mode = '0600'   # quoted, with a comment\n"
             "socket = \"%s/not-this-one.sock\"\n"
             "log_level = info\n",
             tmp);
    _write_file("good.conf", text, path, sizeof(path));
    struct harness *h = srv = harness_start((const char *[]){"--config", path, NULL});
    EXPECT_TRUE(h, harness_log_contains(h, "(memory 256MiB, 3 worker threads, pid "),
                "expected the startup line to show 3 worker threads (from the config file)");
    struct stat st;
    assert_int_equal(stat(harness_socket(h), &st), 0);
    EXPECT_EQ(h, "socket mode (octal)", 0600, st.st_mode & 0777);
    char data[256];
    snprintf(data, sizeof(data), "%s/data", harness_dir(h));
    EXPECT_TRUE(h, stat(data, &st) == 0 && S_ISDIR(st.st_mode), "data-dir %s was not created",
                data);
    harness_destroy(&srv);

    h = srv = harness_start((const char *[]){"--config", path, "--threads", "1", NULL});
    EXPECT_TRUE(h, harness_log_contains(h, " 1 worker threads, pid "),
                "expected the command line's --threads 1 to win over the config file's 3");
}

/* CONFIG SET goes through the same registry: run-time options change, startup-only ones and
 * values breaking max-frame-size >= max-value-size + max-key-size + 1024 are refused. */
static void test_config_set_at_run_time_respects_startup_only_and_frame_size(void **state)
{
    (void)state;
    static const struct {
        const char *name, *value;
        uint64_t status;
    } cases[] = {
        {"max-output-buffer", "2MiB", CC_OK},
        {"output_timeout_ms", "1000", CC_OK},
        {"max-connections", "0", CC_E_CONFIG},
        {"socket", "/tmp/elsewhere.sock", CC_E_CONFIG},
        {"threads", "4", CC_E_CONFIG},
        {"max-value-size", "100MiB", CC_E_CONFIG},
        {"max-key-size", "80MiB", CC_E_CONFIG},
        {"max-value-size", "1MiB", CC_OK},
        {"no-such-option", "1", CC_E_CONFIG},
    };
    struct harness *h = srv = harness_start(NULL);
    int fd = harness_connect(h);
    assert_true(fd >= 0);
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        uint64_t id = 0, status = 99;
        assert_int_equal(tu_send_config_set(fd, i + 1, cases[i].name, cases[i].value), 0);
        EXPECT_EQ(h, "CONFIG SET reply", 0, tu_recv_reply(fd, &id, &status));
        if (status != cases[i].status) {
            harness_print_log(h, 20);
            fail_msg("CONFIG SET %s %s: expected status %llu, got %llu", cases[i].name,
                     cases[i].value, (unsigned long long)cases[i].status,
                     (unsigned long long)status);
        }
    }
    close(fd);
    EXPECT_PING(h);
}

/* Run in the foreground as a user would: the socket's directory is created, the startup line
 * is printed once (the log, on stderr: not on stdout too), SIGTERM exits 0 and removes the
 * socket. */
static void test_foreground_run_creates_dirs_and_stops_on_sigterm(void **state)
{
    (void)state;
    const char *bin = getenv("CACHESERVERD");
    char sock[256], data[256], outp[256], errp[256];
    snprintf(sock, sizeof(sock), "%s/fg/a/b/cache.sock", tmp);
    snprintf(data, sizeof(data), "%s/fg/data/x", tmp);
    snprintf(outp, sizeof(outp), "%s/fg.out", tmp);
    snprintf(errp, sizeof(errp), "%s/fg.err", tmp);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        int o = open(outp, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        dup2(o, STDOUT_FILENO);
        int e = open(errp, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        dup2(e, STDERR_FILENO);
        execl(bin, bin, "--socket", sock, "--data-dir", data, "--threads", "1", (char *)NULL);
        _exit(127);
    }
    fg_pid = pid;
    struct stat st;
    uint64_t deadline = tu_now_ms() + 10000;
    while (stat(sock, &st) != 0 && tu_now_ms() < deadline)
        tu_sleep_ms(10);
    int alive = waitpid(pid, NULL, WNOHANG) == 0;
    EXPECT_TRUE(NULL, alive && S_ISSOCK(st.st_mode), "server did not create socket %s", sock);
    EXPECT_TRUE(NULL, stat(data, &st) == 0 && S_ISDIR(st.st_mode), "data-dir %s not created", data);
    static char out[4096], err[8192];
    char want[400];
    deadline = tu_now_ms() + 10000;
    snprintf(want, sizeof(want), "listening on %s (memory 256MiB, 1 worker threads, pid %d)\n",
             sock, (int)pid);
    do {
        _slurp(errp, err, sizeof(err));
    } while (!strstr(err, want) && tu_now_ms() < deadline && (tu_sleep_ms(10), 1));
    kill(pid, SIGTERM);
    int status;
    waitpid(pid, &status, 0);
    fg_pid = 0;
    _slurp(outp, out, sizeof(out));
    _slurp(errp, err, sizeof(err));
    const char *first = strstr(err, want);
    if (!first)
        fail_msg("stderr (the log): expected \"...%s\", got \"%s\"", want, err);
    if (strstr(first + 1, want))
        fail_msg("stderr: the start line twice: \"%s\"", err);
    if (strstr(out, "listening on"))
        fail_msg("stdout: the start line again, although the log already went to the terminal: "
                 "\"%s\"", out);
    EXPECT_EQ(NULL, "exited normally", 1, WIFEXITED(status));
    EXPECT_EQ(NULL, "exit code after SIGTERM", 0, WEXITSTATUS(status));
    EXPECT_TRUE(NULL, stat(sock, &st) != 0 && errno == ENOENT,
                "socket %s still exists after SIGTERM", sock);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_unknown_flag_exits_2_naming_it),
        cmocka_unit_test(test_bad_value_exits_2_naming_option_and_value),
        cmocka_unit_test(test_flag_without_value_or_stray_argument_exits_2),
        cmocka_unit_test(test_config_file_errors_name_file_and_line),
        cmocka_unit_test(test_frame_size_must_hold_the_largest_value_and_key),
        cmocka_unit_test(test_numeric_options_refused_outside_their_range),
        cmocka_unit_test(test_help_shows_every_numeric_range),
        cmocka_unit_test(test_help_lists_every_core_option),
        cmocka_unit_test(test_version_prints_the_project_version),
        cmocka_unit_test_teardown(test_config_file_applies_and_command_line_wins, teardown),
        cmocka_unit_test_teardown(test_config_set_at_run_time_respects_startup_only_and_frame_size,
                                  teardown),
        cmocka_unit_test_teardown(test_foreground_run_creates_dirs_and_stops_on_sigterm, teardown),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
