/* cacheserverd: loads the settings, opens the log, creates the socket's directory and the data
 * directory, then wires the modules together (store <- cmd <- core), serves until SIGTERM or
 * SIGINT, and tears everything down in reverse order. Exit codes: 0 after a clean stop,
 * 1 when the server cannot start, 2 on a usage error. */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cmd.h"
#include "core.h"
#include "fsutil.h"
#include "log.h"
#include "identity.h"
#include "option.h"
#include "health.h"
#include "repl.h"
#include "settings.h"
#include "store.h"
#include "tiering.h"
#include "version.h"

/* Create the directory the socket lives in (nothing to do for a bare file name). */
static int _mkdir_parent(const char *file, mode_t mode)
{
    char dir[4096];
    const char *slash = strrchr(file, '/');
    if (!slash || slash == file)
        return 0;
    if ((size_t)(slash - file) >= sizeof(dir)) {
        errno = ENAMETOOLONG;
        return -1;
    }
    memcpy(dir, file, (size_t)(slash - file));
    dir[slash - file] = '\0';
    return util_mkdirs(dir, mode);
}

static void _fmt_size(uint64_t v, char *buf, size_t len)
{
    static const char *const units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
    unsigned u = 0;
    while (u < 4 && v && v % 1024 == 0) {
        v /= 1024;
        u++;
    }
    snprintf(buf, len, "%llu%s", (unsigned long long)v, units[u]);
}

/* Log and print to stderr why the server cannot start; returns the exit code 1. */
static int _fail(const char *what, const char *arg)
{
    log_error("cannot start: %s%s%s", what, arg ? ": " : "", arg ? arg : "");
    if (*option_registry_str("log_file"))
        fprintf(stderr, "cacheserverd: cannot start: %s%s%s (see %s)\n", what, arg ? ": " : "",
                arg ? arg : "", option_registry_str("log_file"));
    return 1;
}

/* `--gen-identity DIR`: make this node's key and self-signed certificate for peer links
 * (docs/replication.md), named after the host; the fingerprint its peers pin is the last
 * line printed. Returns the exit code, or -1 when argv does not ask for it. */
static int _gen_identity(int argc, char **argv)
{
    const char *dir = NULL;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--gen-identity")) {
            if (i + 1 >= argc || argc != 3) {
                fprintf(stderr, "cacheserverd: usage: cacheserverd --gen-identity DIR\n");
                return SETTINGS_EXIT_USAGE;
            }
            dir = argv[i + 1];
        } else if (!strncmp(argv[i], "--gen-identity=", 15)) {
            dir = argv[i] + 15;
        }
    }
    if (!dir)
        return -1;
    if (_mkdir_parent(dir, 0755) != 0) {
        fprintf(stderr, "cacheserverd: --gen-identity %s: cannot create its parent directory: "
                "%s\n", dir, strerror(errno));
        return 1;
    }
    char host[256] = "cacheserverd", fp[REPL_FP_HEX_SIZE], err[256];
    if (gethostname(host, sizeof(host) - 1) != 0 || !host[0])
        strcpy(host, "cacheserverd");
    host[REPL_CN_MAX] = '\0';
    if (repl_identity_generate(dir, host, fp, sizeof(fp), err, sizeof(err)) != REPL_ID_OK) {
        fprintf(stderr, "cacheserverd: --gen-identity %s: %s\n", dir, err);
        return 1;
    }
    printf("identity for %s written to %s (key.pem, cert.pem)\n"
           "fingerprint (SHA-256 of the certificate, what peers pin):\n%s\n", host, dir, fp);
    return 0;
}

/* Core's stopping hook, first thing at shutdown: a WAIT must not hold the shutdown up, and
 * the shared-memory region is dead before the workers drain (docs/shm-reads.md). */
static void _stopping(void)
{
    store_shm_dead();
    repl_wait_release();
}

/* Core's stale-socket hook: a predecessor that did not shut down cleanly left its region
 * alive for the readers that mapped it, until its heartbeat is SHM_STALE_MS old. Nobody can
 * connect to this server before that (docs/shm-reads.md, "Restart and replacement"). It waits
 * with a region of its own or not: the predecessor may have had one. */
static uint32_t _stale_socket_wait(const char **why)
{
    *why = "a crashed predecessor's shared-memory readers stop trusting its region within "
           "200 ms";
    return STORE_SHM_RESTART_WAIT_MS;
}

int main(int argc, char **argv)
{
    int code = _gen_identity(argc, argv);
    if (code >= 0)
        return code;
    if (!settings_load(argc, argv, &code)) {
        settings_teardown();
        return code;
    }
    const char *log_file = option_registry_str("log_file");
    if (log_setup(log_file, (enum log_level)log_level_parse(option_registry_str("log_level"))) !=
        0) {
        fprintf(stderr, "cacheserverd: cannot open log file '%s': %s\n", log_file,
                strerror(errno));
        settings_teardown();
        return 1;
    }
    const char *sock = option_registry_str("socket");
    const char *data_dir = option_registry_str("data_dir");
    code = 1;
    if (_mkdir_parent(sock, 0755) != 0) {
        char why[512];
        int e = errno;
        const char *slash = strrchr(sock, '/');
        snprintf(why, sizeof(why), "%.*s: %s%s", (int)(slash ? slash - sock : 0), sock, strerror(e),
                 e == EACCES ? " (run as root, create the directory for this user, or choose "
                               "another path with --socket)" : "");
        code = _fail("cannot create the socket's directory", why);
        goto out_log;
    }
    if (util_mkdirs(data_dir, 0750) != 0) {
        code = _fail("cannot create data-dir", strerror(errno));
        goto out_log;
    }
    if (store_setup() != 0) {
        code = _fail("store setup failed", NULL);
        goto out_store;
    }
    store_set_node_id(repl_node_id()); /* before a warm restart loads counters */
    if (tiering_setup() != 0) {
        code = _fail("disk tier setup failed (see the log)", NULL);
        goto out_tiering;
    }
    if (cmd_setup() != 0) {
        code = _fail("cmd setup failed", NULL);
        goto out_cmd;
    }
    char why[600];
    if (repl_setup(why, sizeof(why)) != 0) {
        code = _fail("replication", why);
        goto out_repl;
    }
    /* cmd keeps a reply buffer per thread: core's workers free theirs as they exit. */
    static struct core_handler handler;
    handler = *cmd_handler();
    if (!handler.thread_exit)
        handler.thread_exit = cmd_thread_exit;
    handler.stopping = _stopping;
    handler.stale_socket_wait_ms = _stale_socket_wait;
    if (health_start() != 0) { /* its known-answer tests before the first request */
        code = _fail("health monitor", "see the log");
        goto out_health;
    }
    if (core_setup(&handler) != 0) {
        code = _fail("cannot listen", sock);
        goto out_core;
    }
    if (cmd_metrics_start(why, sizeof(why)) != 0) {
        code = _fail("metrics-listen", why);
        goto out_core;
    }

    cmd_set_worker_threads(core_threads());
    char mem[32] = "?";
    struct option_desc *m = option_registry_find("memory");
    if (m)
        _fmt_size(option_get_u(m->value), mem, sizeof(mem));
    log_info("cacheserverd " CACHESERVERD_VERSION " listening on %s (memory %s, %u worker "
             "threads, pid %d)", sock, mem, core_threads(), (int)getpid());
    /* Logging to a file: say it on stdout too, where the one running the server looks. Logging
     * to stderr (no log-file), the terminal has the line already: once is enough. */
    if (*option_registry_str("log_file")) {
        printf("cacheserverd " CACHESERVERD_VERSION " listening on %s (memory %s, %u worker "
               "threads, pid %d)\n", sock, mem, core_threads(), (int)getpid());
        fflush(stdout);
    }

    code = core_run();
    log_info("cacheserverd stopped");
out_core:
    cmd_metrics_stop();
    core_teardown();
out_health:
    health_stop();
out_repl:
    /* after the workers, before the tiers: the link thread applies peers' changes */
    repl_teardown();
out_cmd:
    cmd_teardown();
out_tiering:
    /* after the workers: they waited for every deferred disk read */
    tiering_teardown();
out_store:
    store_teardown();
out_log:
    log_teardown();
    settings_teardown();
    return code;
}
