/* settings: registers every module's option table in the registry, then applies the config
 * file and the command line over the built-in defaults, and prints --help from the registry.
 * Main thread only, before any module is set up. */
#ifndef CACHESERVERD_SETTINGS_H
#define CACHESERVERD_SETTINGS_H

#include <stdbool.h>

/* Exit code for a usage error: unknown option, bad value, unreadable config file. */
#define SETTINGS_EXIT_USAGE 2

/* Parse `cacheserverd [--config FILE] [--NAME VALUE | --NAME=VALUE ...] [--help] [--version]`.
 * Returns true to run the server. Returns false when the process should exit with
 * *exit_code: 0 after --help or --version (printed to stdout), SETTINGS_EXIT_USAGE after an
 * error (printed to stderr as "cacheserverd: <where>: <message>"). */
bool settings_load(int argc, char **argv, int *exit_code);
/* Free every option's storage (after every module is torn down). */
void settings_teardown(void);

#endif
