/* cluster status [--all] [--json]: how the server sees its replication peers (CLUSTER_STATUS,
 * a flat map: node_*, peer.<name>.*, peer.<name>.view.<other>.*). With --all, also how every
 * peer sees the cluster (each sends its view over its link every second), and a check that
 * every node pins the same certificate for every node: a disagreement or a peer whose view
 * is missing or stale makes the exit code 1. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli.h"
#include "kvmap.h"

#define VIEW_STALE_MS 5000
#define MAX_PEERS 32

/* The string (or "") at "peer.<name>.<leaf>" */
static void _peer_s(const struct kvmap *m, const char *peer, const char *leaf, char *out,
                    size_t len)
{
    char key[256];
    snprintf(key, sizeof(key), "peer.%.72s.%.160s", peer, leaf);
    const msgpack_object *o = kvmap_get(m, key);
    if (o && o->type == MSGPACK_OBJECT_STR)
        snprintf(out, len, "%.*s", (int)o->via.str.size, o->via.str.ptr);
    else
        out[0] = '\0';
}

static double _peer_n(const struct kvmap *m, const char *peer, const char *leaf, double dflt)
{
    char key[256];
    snprintf(key, sizeof(key), "peer.%.72s.%.160s", peer, leaf);
    const msgpack_object *o = kvmap_get(m, key);
    return o ? kvmap_num(o) : dflt;
}

static void _s(const struct kvmap *m, const char *name, char *out, size_t len)
{
    const msgpack_object *o = kvmap_get(m, name);
    if (o && o->type == MSGPACK_OBJECT_STR)
        snprintf(out, len, "%.*s", (int)o->via.str.size, o->via.str.ptr);
    else
        out[0] = '\0';
}

/* The peer names: the middles of "peer.<name>.addr". */
static int _peer_names(const struct kvmap *m, char names[][72])
{
    int n = 0;
    for (size_t i = 0; i < m->n && n < MAX_PEERS; i++) {
        const msgpack_object_kv *kv = m->kv[i];
        size_t klen = kv->key.via.str.size;
        const char *k = kv->key.via.str.ptr;
        if (klen > 10 && !strncmp(k, "peer.", 5) && !memcmp(k + klen - 5, ".addr", 5) &&
            klen - 10 < 72 && !memchr(k + 5, '.', klen - 10))
            snprintf(names[n++], 72, "%.*s", (int)(klen - 10), k + 5);
    }
    return n;
}

static void _date(double unix_s, char *out, size_t len)
{
    if (unix_s <= 0) {
        snprintf(out, len, "-");
        return;
    }
    time_t t = (time_t)unix_s;
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(out, len, "%Y-%m-%d", &tm);
}

/* Compare a fingerprint that `who` pins (or claims) for `node` with the one this node knows;
 * print and count a disagreement. */
static FILE *rep; /* where problems go: stdout, or stderr under --json */

static int _agree(const char *who, const char *node, const char *theirs, const char *ours)
{
    if (!*theirs || !*ours || !strcmp(theirs, ours))
        return 0;
    fprintf(rep, "DISAGREE: %s has %s for %s, this node has %s\n", who, theirs, node, ours);
    return 1;
}

/* cluster unfence: lift the node's self-fencing (an operator's decision). */
/* cluster revoke|readmit|remove NODE: an operator's request for a membership change. */
static const struct {
    const char *verb, *noun;
    int (*call)(cc_client *, const char *);
    const char *needs; /* %s: the node */
} _asks[] = {
    {"revoke", "revocation", cc_cluster_revoke, "the same request there, or %s fenced itself"},
    {"readmit", "re-admission", cc_cluster_readmit,
     "the same request there, while %s is fenced"},
    {"remove", "removal", cc_cluster_remove,
     "the same request there; %s itself may sign its removal"},
};

static int _ask(struct cli *cli, int k, const char *node)
{
    char what[32], needs[200];
    snprintf(what, sizeof(what), "cluster %s", _asks[k].verb);
    int rc = _asks[k].call(cli->c, node);
    if (rc != CC_OK)
        return cli_status(cli, what, rc);
    snprintf(needs, sizeof(needs), _asks[k].needs, node);
    printf("%s of %s proposed and signed here; it is applied once a majority of the members "
           "signed it (each on evidence of its own: %s). `cluster status` shows it.\n",
           _asks[k].noun, node, needs);
    return CLI_OK;
}

static int _unfence(struct cli *cli)
{
    int was = 0;
    int rc = cc_cluster_unfence(cli->c, &was);
    if (rc != CC_OK)
        return cli_status(cli, "cluster unfence", rc);
    printf(was ? "fence lifted: the node serves and replicates again\n"
               : "the node was not fenced\n");
    return CLI_OK;
}

int cli_cmd_cluster(struct cli *cli, int argc, char **argv)
{
    struct cli_opt o[] = {{"all", false, NULL}, {"json", false, NULL}};
    char *pos[argc + 1];
    int np;
    if (cli_parse("cluster", argc, argv, o, 2, pos, &np) || np < 1)
        return cli_usage("cluster");
    int nk = -1; /* revoke, readmit, remove: they name a NODE */
    for (int k = 0; k < 3; k++)
        if (!strcmp(pos[0], _asks[k].verb))
            nk = k;
    bool add = !strcmp(pos[0], "add");
    if ((nk < 0 && !add && strcmp(pos[0], "status") && strcmp(pos[0], "unfence") &&
         strcmp(pos[0], "rotate-cert")) ||
        np != (add ? 4 : nk < 0 ? 1 : 2))
        return cli_usage("cluster");
    if (add) {
        int rc = cc_cluster_add(cli->c, pos[1], pos[2], pos[3]);
        if (rc != CC_OK)
            return cli_status(cli, "cluster add", rc);
        printf("addition of %s (%s) proposed and signed here; it is applied once a majority "
               "of the members signed it (each on the same request there). Start %s with "
               "`peer` lines naming the members; `cluster status --all` shows when every node "
               "has it.\n", pos[1], pos[2], pos[1]);
        return CLI_OK;
    }
    if (!strcmp(pos[0], "unfence"))
        return _unfence(cli);
    if (!strcmp(pos[0], "rotate-cert")) {
        int rc = cc_cluster_rotate_cert(cli->c);
        if (rc != CC_OK)
            return cli_status(cli, "cluster rotate-cert", rc);
        printf("a new certificate was made and its rotation proposed: peers accept both until "
               "a majority signed, then only the new one; `cluster status --all` exits 0 once "
               "every node has it\n");
        return CLI_OK;
    }
    if (nk >= 0)
        return _ask(cli, nk, pos[1]);
    struct kvmap m;
    int ret = kvmap_fetch(cli, "cluster status", cc_cluster_status, &m);
    if (ret != CLI_OK)
        return ret;
    if (o[1].value) {
        kvmap_print_json(&m);
    }
    const msgpack_object *fenced = kvmap_get(&m, "fenced");
    if (fenced && kvmap_num(fenced) != 0) {
        char why[300];
        _s(&m, "fence_reason", why, sizeof(why));
        fprintf(o[1].value ? stderr : stdout,
                "FENCED: %s\n  writes refused, no reads served (unless fenced-reads), no "
                "replication; `cache-cli cluster unfence` lifts it\n", why);
    }
    const msgpack_object *en = kvmap_get(&m, "enabled");
    if (!en || kvmap_num(en) == 0) {
        if (!o[1].value)
            printf("replication is off on this node (no peers configured)\n");
        kvmap_free(&m);
        return CLI_OK;
    }
    char self[72], self_fp[80], buf[256], date[32];
    _s(&m, "node_name", self, sizeof(self));
    _s(&m, "fingerprint", self_fp, sizeof(self_fp));
    char names[MAX_PEERS][72];
    int n = _peer_names(&m, names);
    if (!o[1].value) {
        _date(kvmap_num(kvmap_get(&m, "cert_expiry")), date, sizeof(date));
        printf("node %s (id %.0f), certificate expires %s, membership epoch %.0f\n"
               "  fingerprint %s\n", self, kvmap_num(kvmap_get(&m, "node_id")), date,
               kvmap_num(kvmap_get(&m, "membership_epoch")), self_fp);
        printf("%-12s %-5s %-21s %-10s %-5s %10s %8s %10s %8s %6s %-10s  %s\n", "peer", "id",
               "address", "link", "in", "lag(recs)", "lag(ms)", "behind", "partial", "full",
               "cert", "last error");
        for (int i = 0; i < n; i++) {
            char addr[128], link[32], in[16], err[200];
            _peer_s(&m, names[i], "addr", addr, sizeof(addr));
            _peer_s(&m, names[i], "link", link, sizeof(link));
            _peer_s(&m, names[i], "in", in, sizeof(in));
            _peer_s(&m, names[i], "last_error", err, sizeof(err));
            if (_peer_n(&m, names[i], "revoked", 0))
                snprintf(link, sizeof(link), _peer_n(&m, names[i], "removed", 0) ? "REMOVED"
                                                                                  : "REVOKED");
            _date(_peer_n(&m, names[i], "cert_expiry", 0), date, sizeof(date));
            printf("%-12s %-5.0f %-21s %-10s %-5s %10.0f %8.0f %9.0fB %8.0f %6.0f %-10s  %s\n",
                   names[i], _peer_n(&m, names[i], "node_id", 0), addr, link, in,
                   _peer_n(&m, names[i], "lag_records", 0), _peer_n(&m, names[i], "lag_ms", 0),
                   _peer_n(&m, names[i], "lag_bytes", 0),
                   _peer_n(&m, names[i], "partial_resyncs", 0),
                   _peer_n(&m, names[i], "full_syncs", 0), date, *err ? err : "-");
            _peer_s(&m, names[i], "fingerprint", buf, sizeof(buf));
            printf("  pinned fingerprint %s\n", buf);
        }
    }
    int problems = 0;
    rep = o[1].value ? stderr : stdout;
    /* certificates that expire within 14 days: a warning, not a failure */
    time_t now = time(NULL);
    double soon = (double)now + 14 * 86400.0, own = kvmap_num(kvmap_get(&m, "cert_expiry"));
    if (own > 0 && own < soon) {
        _date(own, date, sizeof(date));
        fprintf(rep, "WARNING: this node's certificate expires %s: rotate it\n", date);
    }
    for (int i = 0; i < n; i++) {
        double exp = _peer_n(&m, names[i], "cert_expiry", 0);
        if (exp > 0 && exp < soon) {
            _date(exp, date, sizeof(date));
            fprintf(rep, "WARNING: %s's certificate expires %s: rotate it\n", names[i], date);
        }
    }
    if (o[0].value) {
        for (int i = 0; i < n; i++) {
            double age = _peer_n(&m, names[i], "view_age_ms", -1);
            if (age < 0 || age > VIEW_STALE_MS) {
                fprintf(rep, "NO ANSWER: %s has not sent its view %s\n", names[i],
                       age < 0 ? "since this node started" : "for more than 5 s");
                problems++;
                continue;
            }
            char pinned[80], claimed[80];
            _peer_s(&m, names[i], "fingerprint", pinned, sizeof(pinned));
            _peer_s(&m, names[i], "view_fingerprint", claimed, sizeof(claimed));
            char who[100];
            snprintf(who, sizeof(who), "%.72s (its own certificate)", names[i]);
            problems += _agree(who, names[i], claimed, pinned);
            double theirs = _peer_n(&m, names[i], "view_membership_epoch", -1),
                   ours = kvmap_num(kvmap_get(&m, "membership_epoch"));
            if (theirs >= 0 && theirs != ours) {
                fprintf(rep, "DISAGREE: %s is at membership epoch %.0f, this node at %.0f (a "
                        "change that has not reached every node)\n", names[i], theirs, ours);
                problems++;
            }
            if (!o[1].value)
                printf("as %s sees it (%.1f s ago):\n", names[i], age / 1000);
            /* its view: one entry per node it pins */
            char prefix[128];
            snprintf(prefix, sizeof(prefix), "peer.%.72s.view.", names[i]);
            size_t plen = strlen(prefix);
            for (size_t k = 0; k < m.n; k++) {
                const msgpack_object_kv *kv = m.kv[k];
                size_t klen = kv->key.via.str.size;
                const char *key = kv->key.via.str.ptr;
                if (klen <= plen + 12 || memcmp(key, prefix, plen) ||
                    memcmp(key + klen - 12, ".fingerprint", 12))
                    continue;
                char other[72], leaf[160], fp[80], link[16], in[16];
                snprintf(other, sizeof(other), "%.*s", (int)(klen - plen - 12), key + plen);
                snprintf(leaf, sizeof(leaf), "view.%s.fingerprint", other);
                _peer_s(&m, names[i], leaf, fp, sizeof(fp));
                snprintf(leaf, sizeof(leaf), "view.%s.link", other);
                _peer_s(&m, names[i], leaf, link, sizeof(link));
                snprintf(leaf, sizeof(leaf), "view.%s.in", other);
                _peer_s(&m, names[i], leaf, in, sizeof(in));
                if (!o[1].value)
                    printf("  %-12s link %-5s in %-5s pins %s\n", other, link, in, fp);
                snprintf(who, sizeof(who), "%.72s", names[i]);
                if (!strcmp(other, self)) {
                    problems += _agree(who, other, fp, self_fp);
                    continue;
                }
                bool known = false;
                for (int j = 0; j < n; j++) {
                    if (strcmp(names[j], other))
                        continue;
                    known = true;
                    _peer_s(&m, names[j], "fingerprint", pinned, sizeof(pinned));
                    problems += _agree(who, other, fp, pinned);
                }
                if (!known) {
                    fprintf(rep, "DISAGREE: %s has a peer %s this node does not know\n", names[i],
                           other);
                    problems++;
                }
            }
        }
        fprintf(rep, problems ? "%d problem(s) found\n" : "every node pins the same certificates\n",
                problems);
    }
    kvmap_free(&m);
    return problems ? CLI_MISS : CLI_OK;
}

int cli_cmd_wait(struct cli *cli, int argc, char **argv)
{
    uint64_t replicas, timeout;
    if (argc != 2)
        return cli_usage("wait");
    if (cli_parse_u64("REPLICAS", argv[0], &replicas) || cli_parse_ttl(argv[1], &timeout))
        return CLI_ERROR;
    if (replicas > CC_WAIT_MAX_REPLICAS || timeout > CC_WAIT_MAX_TIMEOUT_MS) {
        fprintf(stderr, "cache-cli: wait: REPLICAS is 0..%d and TIMEOUT at most %d ms\n",
                CC_WAIT_MAX_REPLICAS, CC_WAIT_MAX_TIMEOUT_MS);
        return CLI_ERROR;
    }
    unsigned acked = 0;
    int rc = cc_wait(cli->c, (unsigned)replicas, (uint32_t)timeout, &acked);
    if (rc != CC_OK)
        return cli_status(cli, "wait", rc);
    printf("%u\n", acked);
    return acked >= replicas ? CLI_OK : CLI_MISS; /* like exists: 1 = fewer than asked */
}
