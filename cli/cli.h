/* cache-cli internals: the command table, argument parsing and output helpers shared by the
 * one-shot mode (main.c) and the interactive prompt (repl.c). */
#ifndef CLI_H
#define CLI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "cacheclient.h"

/* Exit codes: documented in `cache-cli --help` and README.md. */
enum { CLI_OK = 0, CLI_MISS = 1, CLI_ERROR = 2 };

struct cli {
    cc_client *c;
    const char *socket_path;
    const char *ns;
    bool in_repl; /* stdin carries commands: values must be given as words */
};

/* One command: run() gets the words after the command name. */
struct cli_command {
    const char *name;
    const char *usage;  /* arguments, e.g. "KEY [VALUE] [--ttl T]" */
    const char *help;   /* one line */
    int (*run)(struct cli *cli, int argc, char **argv);
};

/* The table (commands.c): NULL-terminated. */
extern const struct cli_command cli_commands[];
const struct cli_command *cli_find_command(const char *name);
/* Run one command line (words[0] is the command). Returns an exit code. */
int cli_run(struct cli *cli, int argc, char **argv);
/* Print the list of commands with their usage. */
void cli_print_commands(FILE *out);

/* ---- argument parsing for a command ----
 * Options are words starting with "--" (a value follows as the next word or after '=');
 * "--" ends options. Everything else is positional, so "-5" is a positional number. */
struct cli_opt {
    const char *name;   /* without the leading "--" */
    bool takes_value;
    const char *value;  /* out: the value, or "" for a flag that was given; NULL if absent */
};
/* Fills opts[i].value and moves the positional words to pos (pos[npos]); returns 0, or prints
 * a message naming the command and returns -1. */
int cli_parse(const char *cmd, int argc, char **argv, struct cli_opt *opts, size_t nopts,
              char **pos, int *npos);

/* Number parsers: 0 or -1 with a message on stderr naming `what`. */
int cli_parse_i64(const char *what, const char *s, int64_t *out);
int cli_parse_u64(const char *what, const char *s, uint64_t *out);
/* A ttl: seconds by default ("1.5" allowed), or with a unit: ms, s, m, h, d. 0 = no expiry. */
int cli_parse_ttl(const char *s, uint64_t *ms_out);

/* Print "cache-cli: <command>: <status name> (<code>): <message>" on stderr and return the
 * exit code for that status (CLI_MISS for outcomes, CLI_ERROR for errors). */
int cli_status(struct cli *cli, const char *cmd, int status);
/* Print a usage error for the command and return CLI_ERROR. */
int cli_usage(const char *cmd);
/* The i-th command's name (tab completion), NULL past the last. */
const char *cli_command_name(int i);
/* cli_run, before a command runs: how many arguments it got (for cli_usage's message). */
void cli_note_args(int argc);

/* Read all of stdin (at most max bytes; more is an error). */
int cli_read_stdin(char **buf, size_t *len, size_t max);

/* ---- output (print.c) ---- */
/* A value as cache-cli prints it: bytes and streams raw, numbers and bools as text, arrays,
 * maps and objects as JSON. Followed by a newline unless raw is set. */
void cli_print_value(const cc_value *v, bool raw);
/* A value as JSON (bytes quoted), without a newline. */
void cli_print_json(const cc_value *v);
/* A value as one line of JSON (bytes quoted). */
void cli_print_value_json(const cc_value *v);
/* A ttl in ms as seconds ("12.5", "-1" for none). */
void cli_print_ttl(int64_t ttl_ms);

/* ---- stats and info (stats.c) ---- */
int cli_cmd_stats(struct cli *cli, int argc, char **argv);
int cli_cmd_info(struct cli *cli, int argc, char **argv);
int cli_cmd_config(struct cli *cli, int argc, char **argv);
/* cluster.c */
int cli_cmd_cluster(struct cli *cli, int argc, char **argv);
/* wait REPLICAS TIMEOUT: cluster.c */
int cli_cmd_wait(struct cli *cli, int argc, char **argv);

/* ---- the interactive prompt (repl.c) ---- */
int cli_repl(struct cli *cli);

#endif
