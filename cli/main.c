/* cache-cli: the admin command line of cacheserverd.
 *   cache-cli [-s SOCKET] [-n NAMESPACE] [-t TIMEOUT_MS] COMMAND [ARGS]
 * With no command: an interactive prompt. Exit 0 on success, 1 on a miss, 2 on an error. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

static void usage(FILE *out)
{
    fprintf(out,
            "usage: cache-cli [OPTIONS] [COMMAND [ARGS...]]\n"
            "\n"
            "Talks to cacheserverd over its Unix socket. With no COMMAND, reads commands at an\n"
            "interactive prompt (with history), or one per line from stdin when it is not a terminal.\n"
            "\n"
            "Options:\n"
            "  -s, --socket PATH      server socket (default $CACHE_SOCKET, else " CC_DEFAULT_SOCKET ")\n"
            "  -n, --namespace NAME   namespace the key commands work in (default: the default one)\n"
            "  -t, --timeout MS       connect and per-command timeout in ms (default 2000)\n"
            "  -h, --help             this help\n"
            "  -V, --version          print the version\n"
            "\n");
    cli_print_commands(out);
    fprintf(out, "\nExit status: 0 success, 1 miss (key not found, not stored, version mismatch),\n"
                 "2 error (message on stderr).\n");
}

int main(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"socket", required_argument, NULL, 's'},  {"namespace", required_argument, NULL, 'n'},
        {"timeout", required_argument, NULL, 't'}, {"help", no_argument, NULL, 'h'},
        {"version", no_argument, NULL, 'V'},       {NULL, 0, NULL, 0},
    };
    struct cli cli = {0};
    cli.socket_path = getenv("CACHE_SOCKET");
    if (!cli.socket_path || !*cli.socket_path)
        cli.socket_path = CC_DEFAULT_SOCKET;
    int64_t timeout = 2000;
    int c;
    /* '+': stop at the first non-option, so command arguments like "-5" are left alone */
    while ((c = getopt_long(argc, argv, "+s:n:t:hV", longopts, NULL)) != -1) {
        switch (c) {
        case 's': cli.socket_path = optarg; break;
        case 'n': cli.ns = optarg; break;
        case 't':
            if (cli_parse_i64("--timeout", optarg, &timeout) || timeout <= 0 || timeout > 3600000) {
                fprintf(stderr, "cache-cli: --timeout is 1..3600000 ms\n");
                return CLI_ERROR;
            }
            break;
        case 'h': usage(stdout); return CLI_OK;
        case 'V': printf("cache-cli 0.1.0 (protocol %d)\n", CC_PROTOCOL_VERSION); return CLI_OK;
        default: usage(stderr); return CLI_ERROR;
        }
    }
    cc_options o;
    cc_options_init(&o);
    o.socket_path = cli.socket_path;
    o.connect_timeout_ms = (int)timeout;
    o.io_timeout_ms = (int)timeout;
    o.ns = cli.ns;
    o.client_name = "cache-cli";
    cli.c = cc_client_create(&o);
    if (!cli.c) {
        fprintf(stderr, "cache-cli: out of memory\n");
        return CLI_ERROR;
    }
    int rc = optind < argc ? cli_run(&cli, argc - optind, argv + optind) : cli_repl(&cli);
    if (fflush(stdout) != 0) {
        perror("cache-cli: writing output");
        rc = CLI_ERROR;
    }
    cc_client_destroy(&cli.c);
    return rc;
}
