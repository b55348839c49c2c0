/* Replication state kept across a clean restart, in DATA_DIR/replication.state: this node's
 * backlog (so peers resume from it instead of a full sync) and, when the data itself
 * survives the restart (persist = async or sync), this node's position in every peer's
 * backlog (so it resumes receiving too). Written on a clean stop, after the link thread
 * stopped; read at start and then removed, so a later crash cannot resume from a backlog
 * that went on changing after it was saved (it starts a new one, and peers full-sync).
 *
 *   "CSDREPL1" u32 version u16 node_id u16 npos
 *   npos x { fp[32] backlog_id offset seq }         (positions, may be 0)
 *   the backlog (backlog_save)
 *   u32 crc32c of everything before it
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "crc32c.h"
#include "log.h"
#include "repl-internal.h"
#include "store.h"

#define MAGIC "CSDREPL1"
#define VERSION 2u /* 2: records carry a checksum (peer protocol 4) */

struct saved_pos {
    uint8_t fp[REPL_FP_LEN];
    uint64_t backlog_id, offset, seq;
};

struct saved_head {
    char magic[8];
    uint32_t version;
    uint16_t node_id;
    uint16_t npos;
};

int repl_state_save(const char *path, bool positions)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *m = open_memstream(&buf, &len);
    if (!m)
        return -1;
    struct saved_head h = {.version = VERSION, .node_id = repl.node_id};
    memcpy(h.magic, MAGIC, 8);
    for (int i = 0; positions && i < repl.npeers; i++)
        h.npos += repl.peers[i].have_pos && !repl.peers[i].rx_full;
    int rc = fwrite(&h, sizeof(h), 1, m) == 1 ? 0 : -1;
    for (int i = 0; rc == 0 && positions && i < repl.npeers; i++) {
        const struct peer *p = &repl.peers[i];
        if (!p->have_pos || p->rx_full)
            continue;
        struct saved_pos sp = {.backlog_id = p->rx_backlog_id, .offset = p->rx_offset,
                               .seq = p->rx_seq};
        memcpy(sp.fp, p->fp, REPL_FP_LEN);
        rc = fwrite(&sp, sizeof(sp), 1, m) == 1 ? 0 : -1;
    }
    if (rc == 0)
        rc = backlog_save(repl.backlog, m);
    if (fclose(m) != 0 || rc != 0) {
        free(buf);
        return -1;
    }
    uint32_t crc = crc32c(0, buf, len);
    char tmp[4200];
    snprintf(tmp, sizeof(tmp), "%s.tmp", path);
    FILE *f = fopen(tmp, "wb");
    rc = f && fwrite(buf, 1, len, f) == len && fwrite(&crc, sizeof(crc), 1, f) == 1 ? 0 : -1;
    if (f && (fflush(f) != 0 || fsync(fileno(f)) != 0))
        rc = -1;
    if (f && fclose(f) != 0)
        rc = -1;
    free(buf);
    if (rc == 0 && rename(tmp, path) != 0)
        rc = -1;
    if (rc != 0)
        unlink(tmp);
    return rc;
}

/* Read the whole file; NULL when there is none or it cannot be read. */
static uint8_t *_slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    uint8_t *buf = NULL;
    size_t cap = 0, n = 0;
    for (;;) {
        if (n == cap) {
            cap = cap ? cap * 2 : 1 << 20;
            uint8_t *nb = realloc(buf, cap);
            if (!nb) {
                free(buf);
                fclose(f);
                return NULL;
            }
            buf = nb;
        }
        size_t got = fread(buf + n, 1, cap - n, f);
        n += got;
        if (got == 0)
            break;
    }
    fclose(f);
    *len = n;
    return buf;
}

struct backlog *repl_state_load(const char *path, uint64_t cap, bool positions)
{
    size_t len = 0;
    uint8_t *buf = _slurp(path, &len);
    if (!buf)
        return NULL;
    unlink(path); /* read once: see the top of the file */
    struct backlog *b = NULL;
    struct saved_head h;
    uint32_t crc;
    const char *why = NULL;
    if (len < sizeof(h) + sizeof(crc)) {
        why = "too short";
        goto out;
    }
    memcpy(&crc, buf + len - sizeof(crc), sizeof(crc));
    memcpy(&h, buf, sizeof(h));
    if (memcmp(h.magic, MAGIC, 8) || h.version != VERSION) {
        why = "not a replication state file of this version";
        goto out;
    }
    if (crc32c(0, buf, len - sizeof(crc)) != crc) {
        why = "checksum mismatch";
        goto out;
    }
    if (h.node_id != repl.node_id) {
        why = "saved by another node-id";
        goto out;
    }
    size_t off = sizeof(h) + (size_t)h.npos * sizeof(struct saved_pos);
    if (off > len - sizeof(crc)) {
        why = "truncated";
        goto out;
    }
    FILE *m = fmemopen(buf + off, len - sizeof(crc) - off, "rb");
    if (m) {
        b = backlog_load(m, cap);
        fclose(m);
    }
    if (!b)
        log_info("replication: the saved backlog does not fit repl-backlog-size or is damaged: "
                 "peers get a full sync");
    int restored = 0;
    for (uint16_t i = 0; positions && i < h.npos; i++) {
        struct saved_pos sp;
        memcpy(&sp, buf + sizeof(h) + (size_t)i * sizeof(sp), sizeof(sp));
        for (int j = 0; j < repl.npeers; j++) {
            struct peer *p = &repl.peers[j];
            if (!memcmp(p->fp, sp.fp, REPL_FP_LEN)) {
                p->have_pos = true;
                p->rx_backlog_id = sp.backlog_id;
                p->rx_offset = sp.offset;
                p->rx_seq = sp.seq;
                restored++;
            }
        }
    }
    if (b)
        store_clock_floor(backlog_max_stamp(b));
    log_info("replication: resumed from %s: backlog %s, positions in %d peers' backlogs", path,
             b ? "kept" : "new", restored);
out:
    if (why)
        log_warn("replication: ignoring %s: %s (peers get a full sync)", path, why);
    free(buf);
    return b;
}
