/* The interactive prompt: one command per line, words split like a shell does ('single',
 * "double" with backslash escapes, \x41 for a byte), history kept in ~/.cache-cli_history.
 * With stdin not a terminal, lines are read without prompt or history (scripts, tests). */
#include <editline/readline.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"

#define MAX_WORDS 1024
#define HISTORY_LINES 1000

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* Split `line` in place into words. Returns the count, or -1 with a message. Words cannot
 * hold NUL bytes (a \x00 escape is refused), as they are C strings from here on. */
static int split_words(char *line, char **words, int max)
{
    int n = 0;
    char *r = line, *w = line;
    for (;;) {
        while (*r == ' ' || *r == '\t' || *r == '\n' || *r == '\r')
            r++;
        if (*r == '\0')
            return n;
        if (n == max) {
            fprintf(stderr, "cache-cli: more than %d words on one line\n", max);
            return -1;
        }
        words[n++] = w;
        char quote = 0;
        while (*r) {
            char c = *r;
            if (!quote && (c == ' ' || c == '\t' || c == '\n' || c == '\r'))
                break;
            r++;
            if (!quote && (c == '"' || c == '\'')) {
                quote = c;
                continue;
            }
            if (quote && c == quote) {
                quote = 0;
                continue;
            }
            if (c == '\\' && quote != '\'' && *r) {
                char e = *r++;
                switch (e) {
                case 'n': c = '\n'; break;
                case 't': c = '\t'; break;
                case 'r': c = '\r'; break;
                case 'x': {
                    int hi = r[0] ? hexval(r[0]) : -1, lo = hi >= 0 && r[1] ? hexval(r[1]) : -1;
                    if (hi < 0 || lo < 0 || (hi == 0 && lo == 0)) {
                        fprintf(stderr, "cache-cli: \\x needs two hex digits (not 00)\n");
                        return -1;
                    }
                    c = (char)(hi * 16 + lo);
                    r += 2;
                    break;
                }
                default: c = e; break;
                }
            }
            *w++ = c;
        }
        if (quote) {
            fprintf(stderr, "cache-cli: unbalanced %c quote\n", quote);
            return -1;
        }
        if (*r)
            r++;
        *w++ = '\0';
    }
}

static char *history_path(void)
{
    const char *f = getenv("CACHE_CLI_HISTFILE");
    if (f)
        return *f ? strdup(f) : NULL; /* empty: no history file */
    const char *home = getenv("HOME");
    if (!home || !*home)
        return NULL;
    size_t n = strlen(home) + sizeof("/.cache-cli_history");
    char *p = malloc(n);
    if (p)
        snprintf(p, n, "%s/.cache-cli_history", home);
    return p;
}

static char prompt[160];
static char ns_buf[CC_MAX_NS_LEN + 1];

static void _set_prompt(const struct cli *cli)
{
    snprintf(prompt, sizeof(prompt), "cache%s%s> ", cli->ns && *cli->ns ? ":" : "",
             cli->ns ? cli->ns : "");
}

/* `use NAME` / `namespace NAME` (no NAME: the default namespace): the commands that follow
 * work in NAME; the prompt shows it. */
static int _use(struct cli *cli, int n, char **words)
{
    if (n > 2) {
        fprintf(stderr, "cache-cli: %s takes one namespace name (none: the default one)\n",
                words[0]);
        return CLI_ERROR;
    }
    const char *ns = n == 2 ? words[1] : "";
    int rc = cc_select_ns(cli->c, ns);
    if (rc != CC_OK)
        return cli_status(cli, words[0], rc);
    snprintf(ns_buf, sizeof(ns_buf), "%s", ns);
    cli->ns = ns_buf;
    _set_prompt(cli);
    return CLI_OK;
}

static int run_line(struct cli *cli, char *line, bool *quit)
{
    char *words[MAX_WORDS];
    int n = split_words(line, words, MAX_WORDS);
    if (n <= 0)
        return n < 0 ? CLI_ERROR : CLI_OK;
    if (strcmp(words[0], "quit") == 0 || strcmp(words[0], "exit") == 0) {
        *quit = true;
        return CLI_OK;
    }
    int rc = !strcmp(words[0], "use") || !strcmp(words[0], "namespace") ? _use(cli, n, words)
                                                                        : cli_run(cli, n, words);
    fflush(stdout);
    return rc;
}

/* The worse of two exit statuses: an error over a miss over success. */
static int _worse(int a, int b) { return a > b ? a : b; }

/* Tab completion of the first word: command names (and quit, use). */
static char *_complete_word(const char *text, int state)
{
    static const char *const extra[] = {"quit", "exit", "use", "namespace", NULL};
    static int i, j;
    static size_t len;
    if (!state) {
        i = j = 0;
        len = strlen(text);
    }
    for (const char *name; (name = cli_command_name(i)); i++)
        if (!strncmp(name, text, len)) {
            i++;
            return strdup(name);
        }
    for (; extra[j]; j++)
        if (!strncmp(extra[j], text, len))
            return strdup(extra[j++]);
    return NULL;
}

static char **_complete(const char *text, int start, int end)
{
    (void)end;
    if (start != 0)
        return NULL; /* arguments: no completion (keys are the server's) */
    return rl_completion_matches(text, _complete_word);
}

int cli_repl(struct cli *cli)
{
    int last = CLI_OK;
    bool quit = false;
    cli->in_repl = true;
    if (!isatty(STDIN_FILENO)) {
        char *line = NULL;
        size_t cap = 0;
        /* a script's status: the worst of its commands', not only its last one's */
        while (!quit && getline(&line, &cap, stdin) >= 0)
            last = _worse(last, run_line(cli, line, &quit));
        free(line);
        return last;
    }
    char *hist = history_path();
    using_history();
    stifle_history(HISTORY_LINES);
    if (hist)
        read_history(hist);
    int ping = cc_ping(cli->c);
    if (ping == CC_OK)
        printf("cache-cli connected to %s (type help, or quit)\n", cli->socket_path);
    else
        printf("cache-cli: nothing answers at %s (%s); each command tries again (type help, "
               "or quit)\n", cli->socket_path, cc_errmsg(cli->c));
    _set_prompt(cli);
    rl_attempted_completion_function = _complete;
    while (!quit) {
        char *line = readline(prompt);
        if (!line) {
            printf("\n");
            break;
        }
        if (*line)
            add_history(line);
        last = run_line(cli, line, &quit);
        free(line);
    }
    if (hist) {
        if (write_history(hist) != 0 && errno)
            fprintf(stderr, "cache-cli: could not save history to %s\n", hist);
        free(hist);
    }
    return last;
}
