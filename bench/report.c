#include "report.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const double pcts[] = {50, 90, 99, 99.9, 99.99};
static const double curve_pcts[] = {0,    10,    20,     30,     40,     50,     60,  70,
                                    80,   90,    95,     99,     99.5,   99.9,   99.95,
                                    99.99, 99.995, 99.999, 100};
#define NCURVE (sizeof(curve_pcts) / sizeof(curve_pcts[0]))

static double us(const struct hist *h, double p)
{
    return (double)bench_hist_percentile(h, p) / 1000.0;
}

void report_table_header(FILE *out)
{
    fprintf(out, "%-28s %12s %10s %10s %9s %7s %9s %9s %9s %9s %9s %9s\n", "run", "ops/s", "hits",
            "region", "misses", "errors", "p50 us", "p90 us", "p99 us", "p99.9 us", "p99.99 us",
            "max us");
}

void report_table_row(FILE *out, const struct run_meta *m, const struct run_result *r)
{
    const struct hist *h = &r->st.lat;
    fprintf(out, "%-28.28s %12.0f %10llu %10llu %9llu %7llu %9.1f %9.1f %9.1f %9.1f %9.1f %9.1f\n",
            m->label, r->ops_per_s, (unsigned long long)r->st.hits,
            (unsigned long long)r->st.region_hits, (unsigned long long)r->st.misses,
            (unsigned long long)(r->st.errors + r->st.mismatches), us(h, 50), us(h, 90),
            us(h, 99), us(h, 99.9), us(h, 99.99), us(h, 100));
}

/* Labels and names are written without escaping: keep them to safe characters. */
static void safe(FILE *out, const char *s)
{
    fputc('"', out);
    for (; s && *s; s++)
        fputc(*s == '"' || *s == '\\' || (unsigned char)*s < 0x20 ? '_' : *s, out);
    fputc('"', out);
}

void report_json(FILE *out, const struct run_meta *m, const struct run_result *r)
{
    const struct hist *h = &r->st.lat;
    const struct run_config *c = m->cfg;
    fprintf(out, "{\"label\": ");
    safe(out, m->label);
    fprintf(out, ", \"mode\": ");
    safe(out, m->mode);
    fprintf(out, ", \"driver\": ");
    safe(out, m->driver);
    fprintf(out, ", \"target\": ");
    safe(out, m->target);
    if (c) {
        fprintf(out, ", \"connections\": %d, \"threads\": %d, \"pipeline\": %d, \"keys\": %u, "
                     "\"value_min\": %u, \"value_max\": %u, \"mget\": %u, \"ttl_s\": %u, "
                     "\"rate\": %.0f, \"dist\": ",
                c->connections, c->rate > 0 ? c->connections : c->threads, c->pipeline, c->w.keys,
                c->w.vmin, c->w.vmax, c->w.mget, c->w.ttl_s, c->rate);
        safe(out, m->dist);
        fprintf(out, ", \"mix\": ");
        safe(out, m->mix);
    }
    fprintf(out, ", \"duration_s\": %.3f, \"ops\": %llu, \"ops_per_s\": %.1f, \"hits\": %llu, "
                 "\"region_hits\": %llu, "
                 "\"misses\": %llu, \"errors\": %llu, \"mismatches\": %llu, \"reconnects\": %llu",
            r->elapsed_s, (unsigned long long)r->st.ops, r->ops_per_s,
            (unsigned long long)r->st.hits, (unsigned long long)r->st.region_hits,
            (unsigned long long)r->st.misses,
            (unsigned long long)r->st.errors, (unsigned long long)r->st.mismatches,
            (unsigned long long)r->st.reconnects);
    if (r->st.first_error[0]) {
        fprintf(out, ", \"first_error\": ");
        safe(out, r->st.first_error);
    }
    fprintf(out, ", \"latency_us\": {");
    for (size_t i = 0; i < sizeof(pcts) / sizeof(pcts[0]); i++)
        fprintf(out, "\"p%g\": %.2f, ", pcts[i], us(h, pcts[i]));
    fprintf(out, "\"max\": %.2f}, \"curve\": [", us(h, 100));
    for (size_t i = 0; i < NCURVE; i++)
        fprintf(out, "%s[%g, %.2f]", i ? ", " : "", curve_pcts[i], us(h, curve_pcts[i]));
    fprintf(out, "]}\n");
}

/* ---- plot ---- */

struct series {
    char label[128];
    double p[NCURVE + 8], v[NCURVE + 8];
    int n;
};

/* Find "name": in line and return a pointer just after the colon and spaces. */
static const char *field(const char *line, const char *name)
{
    char pat[64];
    snprintf(pat, sizeof(pat), "\"%s\": ", name);
    const char *f = strstr(line, pat);
    return f ? f + strlen(pat) : NULL;
}

static int parse_line(const char *line, struct series *s)
{
    const char *l = field(line, "label"), *c = field(line, "curve");
    if (!l || !c || *l != '"' || *c != '[')
        return -1;
    l++;
    size_t n = 0;
    while (l[n] && l[n] != '"' && n + 1 < sizeof(s->label))
        n++;
    memcpy(s->label, l, n);
    s->label[n] = '\0';
    s->n = 0;
    c++;
    while (s->n < (int)(sizeof(s->p) / sizeof(s->p[0]))) {
        while (*c == ' ' || *c == ',')
            c++;
        if (*c != '[')
            break;
        char *end;
        double p = strtod(c + 1, &end);
        if (*end != ',')
            return -1;
        double v = strtod(end + 1, &end);
        if (*end != ']')
            return -1;
        s->p[s->n] = p;
        s->v[s->n] = v;
        s->n++;
        c = end + 1;
    }
    return s->n > 1 ? 0 : -1;
}

#define PLOT_W 960
#define PLOT_H 540
#define ML 80
#define MR 240
#define MT 40
#define MB 60
#define X_MAX 5.4 /* 99.999 is at 5; max is drawn at X_MAX */

static double xpos(double p)
{
    double x = p >= 100 ? X_MAX : log10(1.0 / (1.0 - p / 100.0));
    if (x > 5 && p < 100)
        x = 5;
    return ML + x / X_MAX * (PLOT_W - ML - MR);
}

int report_plot(const char *svg_path, int nfiles, char **files)
{
    struct series *ser = NULL;
    int ns = 0, cap = 0;
    for (int f = 0; f < nfiles; f++) {
        FILE *in = fopen(files[f], "r");
        if (!in) {
            fprintf(stderr, "cache-bench plot: cannot read %s\n", files[f]);
            free(ser);
            return -1;
        }
        char *line = NULL;
        size_t lcap = 0;
        while (getline(&line, &lcap, in) > 0) {
            if (ns == cap) {
                int ncap = cap ? cap * 2 : 8;
                struct series *nser = realloc(ser, sizeof(*ser) * (size_t)ncap);
                if (!nser) {
                    fprintf(stderr, "cache-bench plot: out of memory reading %s\n", files[f]);
                    free(line);
                    fclose(in);
                    free(ser);
                    return -1;
                }
                ser = nser;
                cap = ncap;
            }
            if (parse_line(line, &ser[ns]) == 0)
                ns++;
        }
        free(line);
        fclose(in);
    }
    if (ns == 0) {
        fprintf(stderr, "cache-bench plot: no results with a latency curve in the input\n");
        free(ser);
        return -1;
    }
    double lo = 1e300, hi = 0;
    for (int i = 0; i < ns; i++)
        for (int k = 0; k < ser[i].n; k++) {
            double v = ser[i].v[k] > 0.01 ? ser[i].v[k] : 0.01;
            lo = v < lo ? v : lo;
            hi = v > hi ? v : hi;
        }
    double ylo = floor(log10(lo)), yhi = ceil(log10(hi));
    if (yhi <= ylo)
        yhi = ylo + 1;
    FILE *out = fopen(svg_path, "w");
    if (!out) {
        fprintf(stderr, "cache-bench plot: cannot write %s\n", svg_path);
        free(ser);
        return -1;
    }
    double pw = PLOT_W - ML - MR, ph = PLOT_H - MT - MB;
#define YPOS(v) (MT + ph - (log10((v) > 0.01 ? (v) : 0.01) - ylo) / (yhi - ylo) * ph)
    fprintf(out, "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\" "
                 "font-family=\"sans-serif\" font-size=\"12\">\n"
                 "<rect width=\"100%%\" height=\"100%%\" fill=\"white\"/>\n"
                 "<text x=\"%d\" y=\"24\" font-size=\"15\">Latency by percentile (log scales)</text>\n",
            PLOT_W, PLOT_H, ML);
    /* y grid: decades, with 2 and 5 in between */
    for (double d = ylo; d <= yhi + 1e-9; d += 1) {
        for (int m = 1; m <= 5; m += (m == 1 ? 1 : 3)) {
            double v = pow(10, d) * m;
            if (log10(v) > yhi + 1e-9)
                break;
            double y = YPOS(v);
            fprintf(out, "<line x1=\"%d\" x2=\"%.1f\" y1=\"%.1f\" y2=\"%.1f\" stroke=\"%s\"/>\n", ML,
                    ML + pw, y, y, m == 1 ? "#bbb" : "#eee");
            fprintf(out, "<text x=\"%d\" y=\"%.1f\" text-anchor=\"end\">%g µs</text>\n", ML - 6,
                    y + 4, v);
        }
    }
    static const double xt[] = {0, 90, 99, 99.9, 99.99, 99.999, 100};
    static const char *const xl[] = {"0%", "90%", "99%", "99.9%", "99.99%", "99.999%", "max"};
    for (int i = 0; i < 7; i++) {
        double x = xpos(xt[i]);
        fprintf(out, "<line x1=\"%.1f\" x2=\"%.1f\" y1=\"%d\" y2=\"%.1f\" stroke=\"#ddd\"/>\n", x, x,
                MT, MT + ph);
        fprintf(out, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\">%s</text>\n", x,
                MT + ph + 18, xl[i]);
    }
    fprintf(out, "<text x=\"%.1f\" y=\"%d\" text-anchor=\"middle\">percentile</text>\n",
            ML + pw / 2, PLOT_H - 12);
    static const char *const colors[] = {"#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd",
                                         "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf"};
    for (int i = 0; i < ns; i++) {
        const char *col = colors[i % 10];
        fprintf(out, "<polyline fill=\"none\" stroke=\"%s\" stroke-width=\"2\" points=\"", col);
        for (int k = 0; k < ser[i].n; k++)
            fprintf(out, "%.1f,%.1f ", xpos(ser[i].p[k]), YPOS(ser[i].v[k]));
        fprintf(out, "\"/>\n");
        double ly = MT + 10 + i * 18;
        fprintf(out, "<line x1=\"%.1f\" x2=\"%.1f\" y1=\"%.1f\" y2=\"%.1f\" stroke=\"%s\" "
                     "stroke-width=\"3\"/>\n", ML + pw + 12, ML + pw + 36, ly, ly, col);
        fprintf(out, "<text x=\"%.1f\" y=\"%.1f\">", ML + pw + 42, ly + 4);
        for (const char *c = ser[i].label; *c; c++) {
            if (*c == '<')
                fputs("&lt;", out);
            else if (*c == '&')
                fputs("&amp;", out);
            else
                fputc(*c, out);
        }
        fprintf(out, "</text>\n");
    }
    fprintf(out, "</svg>\n");
    free(ser);
    return fclose(out) == 0 ? 0 : -1;
}
