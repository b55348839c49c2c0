/* Results: a readable table row, one JSON object per run, and the SVG percentile plot. */
#ifndef BENCH_REPORT_H
#define BENCH_REPORT_H

#include <stdio.h>

#include "run.h"

struct run_meta {
    const char *label;
    const char *mode;   /* "closed", "open" or "floor" */
    const char *driver;
    const char *target;
    const struct run_config *cfg; /* NULL for floor */
    const char *dist;
    const char *mix;
};

void report_table_header(FILE *out);
void report_table_row(FILE *out, const struct run_meta *m, const struct run_result *r);
void report_json(FILE *out, const struct run_meta *m, const struct run_result *r);
/* Read JSON result files (one object per line, as report_json writes) and draw their
 * latency-percentile curves into one SVG. 0, or -1 with a message. */
int report_plot(const char *svg_path, int nfiles, char **files);

#endif
