/* The value log's segment format (cacheserverd/disk/vlog.c, docs/valuelog.md step 1):
 * records of every kind round-trip with real diskval encodings, at 8-byte alignment, through
 * the buffer, a read, the seal's footer and a reopen; a record larger than half a segment in
 * one of its own; the recovery scan stops at a torn tail (cut at every byte of the last
 * records, zeroed, a key byte flipped) keeping the records before it; every corrupt byte of
 * a small segment is detected; errors name their reason; the segment table reuses a slot
 * only after its last reference is dropped.
 * Not tested: a full disk. fallocate's ENOSPC needs a small file system (a tmpfs mount),
 * which this test cannot make; tests/tier/test_faults.c's tmpfs tests cover it once the
 * tier uses the log (step 3). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "crc32c.h"
#include "diskval.h"
#include "vlog.h"

static char dir[256];
static char err[512];

static int setup_dir(void **state)
{
    (void)state;
    snprintf(dir, sizeof(dir), "%s/vlogtest.XXXXXX", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
    return mkdtemp(dir) ? 0 : -1;
}

static int teardown_dir(void **state)
{
    (void)state;
    char cmd[300];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    return system(cmd) == 0 ? 0 : -1;
}

static void seg_path(char *buf, size_t n, uint64_t seq)
{
    char name[64];
    vlog_seg_name(name, sizeof(name), seq);
    snprintf(buf, n, "%s/%s", dir, name);
}

/* A record as the test wants it back. */
struct want {
    uint8_t kind, flags;
    uint64_t hash;
    char key[64];
    uint16_t klen;
    uint8_t *value;      /* the value before encoding (PUT) */
    size_t value_len;
    uint64_t expire_ms;
    uint8_t *enc;        /* diskval bytes */
    size_t enc_len;
    uint32_t off, len;
};

static uint32_t rnd = 12345;
static uint8_t next_byte(void) { return (uint8_t)((rnd = rnd * 1103515245u + 12345u) >> 16); }

static void make_put(struct want *w, const char *key, size_t vlen, bool letters, uint64_t expire)
{
    memset(w, 0, sizeof(*w));
    w->kind = VLOG_PUT;
    w->klen = (uint16_t)strlen(key);
    memcpy(w->key, key, w->klen);
    w->hash = crc32c(0, key, w->klen) * 0x9e3779b97f4a7c15ull;
    w->value = malloc(vlen + 1);
    for (size_t i = 0; i < vlen; i++)
        w->value[i] = letters ? (uint8_t)('a' + i % 13) : next_byte();
    w->value_len = vlen;
    w->expire_ms = expire;
    struct diskval v = {.type = 4, .expire_ms = expire, .version = 3, .hlc = 5, .data = w->value,
                        .len = vlen};
    struct diskval_opts o = {.zstd_level = 1, .compress_threshold = 64};
    bool comp;
    assert_int_equal(diskval_encode(&v, &o, &w->enc, &w->enc_len, &comp), DISKVAL_OK);
}

static void make_other(struct want *w, uint8_t kind, const char *key)
{
    memset(w, 0, sizeof(*w));
    w->kind = kind;
    w->klen = (uint16_t)strlen(key);
    memcpy(w->key, key, w->klen);
    w->hash = crc32c(0, key, w->klen) + kind;
}

static void free_want(struct want *w, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(w[i].value);
        free(w[i].enc);
    }
}

static struct vlog_rec rec_of(const struct want *w)
{
    return (struct vlog_rec){.kind = w->kind, .flags = w->flags, .hash = w->hash,
                             .key = (const uint8_t *)w->key, .klen = w->klen, .val = w->enc,
                             .vlen = (uint32_t)w->enc_len};
}

/* Append ws to s through a buffer of cap bytes, writing it whenever it fills. */
static void append_all(struct vlog_seg *s, struct want *ws, size_t n, size_t cap)
{
    struct vlog_buf b = {.data = malloc(cap), .cap = cap};
    for (size_t i = 0; i < n; i++) {
        struct vlog_rec r = rec_of(&ws[i]);
        int rc = vlog_buf_add(s, &b, &r, &ws[i].off, &ws[i].len, err, sizeof(err));
        if (rc == VLOG_NOBUF) {
            assert_int_equal(vlog_buf_write(s, &b, err, sizeof(err)), VLOG_OK);
            rc = vlog_buf_add(s, &b, &r, &ws[i].off, &ws[i].len, err, sizeof(err));
        }
        if (rc == VLOG_NOBUF) { /* larger than the buffer: one of its own */
            uint32_t rs = vlog_record_size(ws[i].klen, ws[i].enc_len);
            struct vlog_buf one = {.data = malloc(rs), .cap = rs};
            rc = vlog_buf_add(s, &one, &r, &ws[i].off, &ws[i].len, err, sizeof(err));
            assert_int_equal(rc, VLOG_OK);
            assert_int_equal(vlog_buf_write(s, &one, err, sizeof(err)), VLOG_OK);
            free(one.data);
        }
        assert_int_equal(rc, VLOG_OK);
        assert_int_equal(ws[i].off % 8, 0);
        assert_int_equal(ws[i].len % 8, 0);
        assert_int_equal(ws[i].len, vlog_record_size(ws[i].klen, ws[i].enc_len));
        if (i > 0)
            assert_int_equal(ws[i].off, ws[i - 1].off + ws[i - 1].len);
        else
            assert_int_equal(ws[i].off, VLOG_DATA);
    }
    assert_int_equal(vlog_buf_write(s, &b, err, sizeof(err)), VLOG_OK);
    free(b.data);
}

/* Every record of ws reads back from s, its key and value byte for byte. */
static void check_reads(struct vlog_seg *s, const struct want *ws, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        uint8_t *buf = malloc(ws[i].len);
        struct vlog_entry e;
        assert_int_equal(vlog_read(s, ws[i].off, ws[i].len, buf, &e, err, sizeof(err)), VLOG_OK);
        assert_int_equal(e.kind, ws[i].kind);
        assert_int_equal(e.flags, ws[i].flags);
        assert_int_equal(e.hash, ws[i].hash);
        assert_int_equal(e.klen, ws[i].klen);
        assert_memory_equal(e.key, ws[i].key, ws[i].klen);
        assert_int_equal(e.vlen, ws[i].enc_len);
        assert_int_equal(e.expire_ms, ws[i].expire_ms);
        if (ws[i].kind == VLOG_PUT) {
            struct diskval v;
            uint8_t *owned;
            assert_memory_equal(e.val, ws[i].enc, ws[i].enc_len);
            assert_int_equal(diskval_decode(e.val, e.vlen, 0, &v, &owned), DISKVAL_OK);
            assert_int_equal(v.len, ws[i].value_len);
            if (v.len)
                assert_memory_equal(v.data, ws[i].value, v.len);
            free(owned);
        } else {
            assert_null(e.val);
        }
        free(buf);
    }
}

/* The footer's entries are ws's, in order. */
static void check_footer(struct vlog_footer *f, const struct want *ws, size_t n)
{
    assert_int_equal(f->count, n);
    struct vlog_entry e;
    for (size_t i = 0; i < n; i++) {
        assert_int_equal(vlog_footer_next(f, &e), 1);
        assert_int_equal(e.hash, ws[i].hash);
        assert_int_equal(e.off, ws[i].off);
        assert_int_equal(e.len, ws[i].len);
        assert_int_equal(e.expire_ms, ws[i].expire_ms);
        assert_int_equal(e.kind, ws[i].kind);
        assert_int_equal(e.flags, ws[i].flags);
        assert_int_equal(e.klen, ws[i].klen);
        assert_memory_equal(e.key, ws[i].key, ws[i].klen);
    }
    assert_int_equal(vlog_footer_next(f, &e), 0);
    assert_int_equal(f->end, n ? ws[n - 1].off + ws[n - 1].len : VLOG_DATA);
}

#define NREC 9
static void make_set(struct want *ws)
{
    make_put(&ws[0], "\x01" "abig", 20000, false, 0);           /* over the 4 KiB buffer */
    make_put(&ws[1], "\x01" "arandom", 300, false, 4102444800000ull); /* raw, with a TTL */
    make_put(&ws[2], "\x01" "ae", 0, true, 0);                    /* an empty value */
    make_put(&ws[3], "\x01" "ahead", 100, true, 0);
    ws[3].flags = VLOG_F_STREAM_HEAD;
    make_other(&ws[4], VLOG_DEL, "\x01" "arandom");
    make_put(&ws[5], "\x02" "ns" "letters", 1024, true, 0);      /* zstd */
    make_other(&ws[6], VLOG_NSFLUSH, "ns");                      /* one namespace */
    make_other(&ws[7], VLOG_NSFLUSH, "");                        /* all */
    make_put(&ws[8], "\x01" "ak7", 7, true, 0);                  /* padding of 1..7 bytes */
}

static void test_round_trip_seal_reopen(void **state)
{
    (void)state;
    char path[512];
    seg_path(path, sizeof(path), 0x1234);
    struct want ws[NREC];
    make_set(ws);
    struct vlog_seg *s;
    assert_int_equal(vlog_create(path, 0x1234, 0, 65536, 777, &s, err, sizeof(err)), VLOG_OK);
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_size, 65536);
    /* made under a partial name and renamed once whole: nothing of it is left behind */
    char partial[600];
    snprintf(partial, sizeof(partial), "%s%s", path, VLOG_PARTIAL);
    assert_int_equal(access(partial, F_OK), -1);
    assert_true(vlog_seg_is_partial(strrchr(partial, '/') + 1));
    assert_false(vlog_seg_is_partial(strrchr(path, '/') + 1));
    assert_false(vlog_seg_is_partial("seg-12.vlog.new"));
    assert_false(vlog_seg_is_partial(".new"));
    /* a second creation of the same segment is refused */
    struct vlog_seg *again;
    assert_int_not_equal(vlog_create(path, 0x1234, 0, 65536, 777, &again, err, sizeof(err)),
                         VLOG_OK);
    assert_non_null(strstr(err, "File exists"));
    append_all(s, ws, NREC, 4096); /* the 20 KB record needs a buffer of its own */
    assert_int_equal(s->nrec, NREC);
    check_reads(s, ws, NREC);
    struct vlog_footer f;
    vlog_footer_mem(s, &f);
    check_footer(&f, ws, NREC);
    vlog_footer_free(&f);
    /* not sealed yet: no footer on disk */
    assert_int_equal(vlog_footer_read(s, &f, err, sizeof(err)), VLOG_CORRUPT);
    assert_non_null(strstr(err, "no trailer"));
    assert_int_equal(vlog_seal(s, err, sizeof(err)), VLOG_OK);
    assert_int_equal(vlog_footer_read(s, &f, err, sizeof(err)), VLOG_OK);
    check_footer(&f, ws, NREC);
    vlog_footer_free(&f);
    /* sealed: no more appends, no second seal */
    struct vlog_buf b = {.data = malloc(4096), .cap = 4096};
    struct vlog_rec r = rec_of(&ws[0]);
    assert_int_equal(vlog_buf_add(s, &b, &r, NULL, NULL, err, sizeof(err)), VLOG_INVAL);
    assert_int_equal(vlog_seal(s, err, sizeof(err)), VLOG_INVAL);
    vlog_close(s);

    assert_int_equal(vlog_open(path, false, &s, err, sizeof(err)), VLOG_OK);
    assert_int_equal(s->seq, 0x1234);
    assert_int_equal(s->size, 65536);
    assert_int_equal(s->tier, 0);
    assert_int_equal(s->created_ms, 777);
    assert_int_equal(vlog_footer_read(s, &f, err, sizeof(err)), VLOG_OK);
    check_footer(&f, ws, NREC);
    vlog_footer_free(&f);
    check_reads(s, ws, NREC);
    /* an opened segment takes no appends */
    assert_int_equal(vlog_buf_add(s, &b, &r, NULL, NULL, err, sizeof(err)), VLOG_INVAL);
    /* the scan of a sealed segment (its footer failing, say) finds the same records */
    uint32_t end;
    const char *why;
    assert_int_equal(vlog_scan(s, &end, &why, err, sizeof(err)), VLOG_OK);
    assert_int_equal(end, ws[NREC - 1].off + ws[NREC - 1].len);
    vlog_footer_mem(s, &f);
    check_footer(&f, ws, NREC);
    vlog_close(s);
    free(b.data);
    free_want(ws, NREC);
}

static void test_full_segment_and_a_record_of_its_own(void **state)
{
    (void)state;
    char path[512];
    seg_path(path, sizeof(path), 1);
    struct vlog_seg *s;
    assert_int_equal(vlog_create(path, 1, 1, VLOG_SIZE_MIN, 1, &s, err, sizeof(err)), VLOG_OK);
    struct want ws[200];
    size_t n = 0;
    struct vlog_buf b = {.data = malloc(65536), .cap = 65536};
    for (;; n++) {
        char key[32];
        snprintf(key, sizeof(key), "\x01" "akey%zu", n);
        make_put(&ws[n], key, 50, false, 0);
        struct vlog_rec r = rec_of(&ws[n]);
        int rc = vlog_buf_add(s, &b, &r, &ws[n].off, &ws[n].len, err, sizeof(err));
        if (rc == VLOG_FULL)
            break;
        assert_int_equal(rc, VLOG_OK);
        assert_true(n < 199);
    }
    free(ws[n].value);
    free(ws[n].enc);
    assert_true(n > 10);
    assert_int_equal(vlog_buf_write(s, &b, err, sizeof(err)), VLOG_OK);
    /* the footer reserved at each append fits */
    assert_int_equal(vlog_seal(s, err, sizeof(err)), VLOG_OK);
    struct vlog_footer f;
    assert_int_equal(vlog_footer_read(s, &f, err, sizeof(err)), VLOG_OK);
    check_footer(&f, ws, n);
    vlog_footer_free(&f);
    check_reads(s, ws, n);
    vlog_close(s);
    free_want(ws, n);

    /* a record larger than half a segment gets a segment sized to it */
    struct want big;
    make_put(&big, "\x01" "ahuge", 300000, false, 0);
    uint32_t rs = vlog_record_size(big.klen, big.enc_len);
    assert_true(rs > 65536 / 2);
    uint32_t size = vlog_size_for(big.klen, big.enc_len);
    assert_true(size >= VLOG_DATA + rs + VLOG_ENTRY + big.klen + VLOG_TRAILER);
    assert_int_equal(size % 4096, 0);
    seg_path(path, sizeof(path), 2);
    assert_int_equal(vlog_create(path, 2, 0, size, 1, &s, err, sizeof(err)), VLOG_OK);
    struct vlog_rec r = rec_of(&big);
    assert_int_equal(vlog_buf_add(s, &b, &r, NULL, NULL, err, sizeof(err)), VLOG_NOBUF);
    struct vlog_buf one = {.data = malloc(rs), .cap = rs};
    assert_int_equal(vlog_buf_add(s, &one, &r, &big.off, &big.len, err, sizeof(err)), VLOG_OK);
    assert_int_equal(vlog_buf_write(s, &one, err, sizeof(err)), VLOG_OK);
    assert_int_equal(vlog_seal(s, err, sizeof(err)), VLOG_OK);
    vlog_close(s);
    assert_int_equal(vlog_open(path, false, &s, err, sizeof(err)), VLOG_OK);
    assert_int_equal(vlog_footer_read(s, &f, err, sizeof(err)), VLOG_OK);
    check_footer(&f, &big, 1);
    vlog_footer_free(&f);
    check_reads(s, &big, 1);
    vlog_close(s);
    free_want(&big, 1);
    free(one.data);
    free(b.data);
}

/* An unsealed segment of ws, closed. */
static void write_unsealed(const char *path, uint64_t seq, struct want *ws, size_t n)
{
    struct vlog_seg *s;
    unlink(path);
    assert_int_equal(vlog_create(path, seq, 0, 65536, 1, &s, err, sizeof(err)), VLOG_OK);
    append_all(s, ws, n, 65536);
    vlog_close(s);
}

/* Scan path: the scan ends at want_end, with the records before it (want_n of ws) intact;
 * sealed there, it reopens with them. */
static void check_scan(const char *path, struct want *ws, size_t want_n, uint32_t want_end)
{
    struct vlog_seg *s;
    assert_int_equal(vlog_open(path, true, &s, err, sizeof(err)), VLOG_OK);
    uint32_t end;
    const char *why;
    assert_int_equal(vlog_scan(s, &end, &why, err, sizeof(err)), VLOG_OK);
    assert_int_equal(end, want_end);
    assert_non_null(why);
    struct vlog_footer f;
    vlog_footer_mem(s, &f);
    check_footer(&f, ws, want_n);
    check_reads(s, ws, want_n);
    /* a scanned segment is sealed, never appended to */
    struct vlog_buf b = {.data = malloc(4096), .cap = 4096};
    struct vlog_rec r = rec_of(&ws[0]);
    assert_int_equal(vlog_buf_add(s, &b, &r, NULL, NULL, err, sizeof(err)), VLOG_INVAL);
    free(b.data);
    assert_int_equal(vlog_seal(s, err, sizeof(err)), VLOG_OK);
    vlog_close(s);
    assert_int_equal(vlog_open(path, false, &s, err, sizeof(err)), VLOG_OK);
    assert_int_equal(vlog_footer_read(s, &f, err, sizeof(err)), VLOG_OK);
    check_footer(&f, ws, want_n);
    vlog_footer_free(&f);
    vlog_close(s);
}

static void patch(const char *path, uint32_t off, const uint8_t *bytes, size_t n)
{
    int fd = open(path, O_WRONLY);
    assert_true(fd >= 0);
    assert_int_equal(pwrite(fd, bytes, n, off), (ssize_t)n);
    close(fd);
}

static void test_recovery_scan_stops_at_the_torn_tail(void **state)
{
    (void)state;
    char path[512];
    seg_path(path, sizeof(path), 7);
    struct want ws[NREC];
    make_set(ws);
    uint32_t full = 0;
    write_unsealed(path, 7, ws, NREC);
    full = ws[NREC - 1].off + ws[NREC - 1].len;
    /* intact: every record, the scan ends at the zeros after the last */
    check_scan(path, ws, NREC, full);

    static uint8_t zeros[32768];
    struct want *last = &ws[NREC - 1];
    /* the last record zeroed: a length of 0 ends the scan at its offset */
    write_unsealed(path, 7, ws, NREC);
    patch(path, last->off, zeros, last->len);
    check_scan(path, ws, NREC - 1, last->off);
    /* a byte of its key flipped: its CRC fails */
    write_unsealed(path, 7, ws, NREC);
    uint8_t x = (uint8_t)(last->key[1] ^ 0x20);
    patch(path, last->off + VLOG_REC_HEADER + 1, &x, 1);
    check_scan(path, ws, NREC - 1, last->off);

    /* the write cut at every byte of the last three records (what follows the cut never
     * written: zeros, as fallocate left them): the scan keeps exactly the records before the
     * one cut, or all when only zero padding was cut */
    for (size_t r = NREC - 3; r < NREC; r++) {
        write_unsealed(path, 7, ws, NREC);
        int fd = open(path, O_RDONLY);
        uint8_t *img = malloc(full);
        assert_int_equal(pread(fd, img, full, 0), (ssize_t)full);
        close(fd);
        for (uint32_t cut = ws[r].off; cut < ws[r].off + ws[r].len; cut++) {
            /* the original bytes, the file unsealed (check_scan sealed it) */
            patch(path, VLOG_DATA, img + VLOG_DATA, full - VLOG_DATA);
            patch(path, full, zeros, 4096);
            patch(path, 65536 - VLOG_TRAILER, zeros, VLOG_TRAILER);
            patch(path, cut, zeros, full - cut);
            /* the first record the cut changed (zero bytes zeroed change nothing) */
            uint32_t first = cut;
            while (first < full && img[first] == 0)
                first++;
            size_t torn = NREC;
            for (size_t i = 0; i < NREC; i++)
                if (first >= ws[i].off && first < ws[i].off + ws[i].len)
                    torn = i;
            assert_true(torn == NREC || torn >= r);
            check_scan(path, ws, torn, torn == NREC ? full : ws[torn].off);
        }
        free(img);
    }
    free_want(ws, NREC);
}

/* Everything a reader would check in a sealed segment: open, footer, each record and its
 * diskval. True when all of it is intact and equal to ws. */
static bool sealed_intact(const char *path, const struct want *ws, size_t n)
{
    struct vlog_seg *s;
    if (vlog_open(path, false, &s, err, sizeof(err)) != VLOG_OK)
        return false;
    struct vlog_footer f;
    bool ok = vlog_footer_read(s, &f, err, sizeof(err)) == VLOG_OK && f.count == n;
    struct vlog_entry e;
    for (size_t i = 0; ok && i < n; i++) {
        ok = vlog_footer_next(&f, &e) == 1 && e.off == ws[i].off && e.len == ws[i].len;
        uint8_t buf[4096];
        ok = ok && e.len <= sizeof(buf) &&
             vlog_read(s, e.off, e.len, buf, &e, err, sizeof(err)) == VLOG_OK;
        if (ok && e.kind == VLOG_PUT) {
            struct diskval v;
            uint8_t *owned;
            ok = diskval_decode(e.val, e.vlen, 0, &v, &owned) == DISKVAL_OK;
            free(owned);
        }
    }
    vlog_footer_free(&f);
    vlog_close(s);
    return ok;
}

/* The scan of an unsealed segment finds all n records. */
static bool scan_intact(const char *path, size_t n)
{
    struct vlog_seg *s;
    if (vlog_open(path, false, &s, err, sizeof(err)) != VLOG_OK)
        return false;
    uint32_t end;
    bool ok = vlog_scan(s, &end, NULL, err, sizeof(err)) == VLOG_OK && s->nrec == n;
    vlog_close(s);
    return ok;
}

static void test_every_corrupt_byte_is_detected(void **state)
{
    (void)state;
    char path[512];
    seg_path(path, sizeof(path), 3);
    struct want ws[4];
    make_put(&ws[0], "\x01" "aabc", 200, true, 0);
    make_put(&ws[1], "\x01" "axyz", 30, false, 99);
    make_other(&ws[2], VLOG_DEL, "\x01" "aabc");
    make_other(&ws[3], VLOG_NSFLUSH, "n");
    struct vlog_seg *s;
    assert_int_equal(vlog_create(path, 3, 0, VLOG_SIZE_MIN, 1, &s, err, sizeof(err)), VLOG_OK);
    append_all(s, ws, 4, 4096);
    uint32_t tail = s->tail;
    /* unsealed: the scan stops early at any corrupt byte of a record (the value's too) */
    for (uint32_t i = VLOG_DATA; i < tail; i++) {
        for (int bit = 0; bit < 8; bit += 3) {
            uint8_t b, c;
            assert_int_equal(pread(s->fd, &b, 1, i), 1);
            c = (uint8_t)(b ^ (1u << bit));
            patch(path, i, &c, 1);
            assert_false(scan_intact(path, 4));
            patch(path, i, &b, 1);
        }
    }
    assert_true(scan_intact(path, 4));
    assert_int_equal(vlog_seal(s, err, sizeof(err)), VLOG_OK);
    size_t flen = s->foot_done;
    vlog_close(s);
    assert_true(sealed_intact(path, ws, 4));

    int fd = open(path, O_RDONLY);
    static uint8_t img[VLOG_SIZE_MIN];
    assert_int_equal(pread(fd, img, sizeof(img), 0), (ssize_t)sizeof(img));
    close(fd);
    unsigned either = 0;
    for (uint32_t i = 0; i < VLOG_SIZE_MIN; i++) {
        /* the unused bytes between the footer and the trailer are never read */
        bool unused = i >= tail + flen && i < VLOG_SIZE_MIN - VLOG_TRAILER;
        if (unused && i % 64) /* a sample of them: the outcome does not matter */
            continue;
        for (int bit = 0; bit < 8; bit += 3) {
            uint8_t c = (uint8_t)(img[i] ^ (1u << bit));
            patch(path, i, &c, 1);
            bool intact = sealed_intact(path, ws, 4);
            if (unused)
                either += intact;
            else if (intact)
                fail_msg("byte %u bit %d flipped, not detected", i, bit);
            patch(path, i, img + i, 1);
        }
    }
    assert_true(either > 0);
    assert_true(sealed_intact(path, ws, 4));
    free_want(ws, 4);
}

static void test_errors_name_their_reason(void **state)
{
    (void)state;
    char path[512], other[512];
    struct vlog_seg *s;
    seg_path(path, sizeof(path), 9);
    assert_int_equal(vlog_create(path, 9, 0, 100, 1, &s, err, sizeof(err)), VLOG_INVAL);
    assert_int_equal(vlog_create(path, 9, 0, VLOG_SIZE_MIN + 4, 1, &s, err, sizeof(err)),
                     VLOG_INVAL);
    assert_int_equal(vlog_create(path, 9, 0, VLOG_SIZE_MIN, 1, &s, err, sizeof(err)), VLOG_OK);
    /* reads outside the records refused before any pread */
    uint8_t buf[64];
    struct vlog_entry e;
    assert_int_equal(vlog_read(s, 100, 32, buf, &e, err, sizeof(err)), VLOG_INVAL);
    assert_int_equal(vlog_read(s, VLOG_DATA + 4, 32, buf, &e, err, sizeof(err)), VLOG_INVAL);
    assert_int_equal(vlog_read(s, VLOG_SIZE_MIN - 40, 64, buf, &e, err, sizeof(err)), VLOG_INVAL);
    /* nothing written there: length 0 */
    assert_int_equal(vlog_read(s, VLOG_DATA, 32, buf, &e, err, sizeof(err)), VLOG_CORRUPT);
    assert_non_null(strstr(err, "length 0"));
    /* a PUT must carry a diskval */
    struct vlog_buf b = {.data = malloc(4096), .cap = 4096};
    uint8_t junk[50] = {0};
    struct vlog_rec r = {.kind = VLOG_PUT, .key = (const uint8_t *)"k", .klen = 1, .val = junk,
                         .vlen = 50};
    assert_int_equal(vlog_buf_add(s, &b, &r, NULL, NULL, err, sizeof(err)), VLOG_INVAL);
    assert_non_null(strstr(err, "diskval"));
    r = (struct vlog_rec){.kind = 9, .key = (const uint8_t *)"k", .klen = 1};
    assert_int_equal(vlog_buf_add(s, &b, &r, NULL, NULL, err, sizeof(err)), VLOG_INVAL);
    assert_non_null(strstr(err, "kind"));
    free(b.data);
    vlog_close(s);
    /* an existing file is not overwritten */
    assert_int_equal(vlog_create(path, 9, 0, VLOG_SIZE_MIN, 1, &s, err, sizeof(err)), VLOG_IO);
    assert_non_null(strstr(err, "File exists"));
    /* the file renamed to another sequence's name */
    seg_path(other, sizeof(other), 10);
    assert_int_equal(rename(path, other), 0);
    assert_int_equal(vlog_open(other, false, &s, err, sizeof(err)), VLOG_CORRUPT);
    assert_non_null(strstr(err, "sequence"));
    assert_int_equal(rename(other, path), 0);
    /* truncated: the size disagrees */
    assert_int_equal(truncate(path, VLOG_SIZE_MIN + 4096), 0);
    assert_int_equal(vlog_open(path, false, &s, err, sizeof(err)), VLOG_CORRUPT);
    assert_non_null(strstr(err, "header says"));
    /* not a segment at all */
    snprintf(other, sizeof(other), "%s/other", dir);
    FILE *fp = fopen(other, "w");
    for (int i = 0; i < 10000; i++)
        fputc('x', fp);
    fclose(fp);
    assert_int_equal(vlog_open(other, false, &s, err, sizeof(err)), VLOG_CORRUPT);
    assert_non_null(strstr(err, "magic"));
    assert_int_equal(vlog_open("/nonexistent/seg", false, &s, err, sizeof(err)), VLOG_IO);
    assert_non_null(strstr(err, "No such file"));
    /* names */
    uint64_t seq;
    char name[64];
    vlog_seg_name(name, sizeof(name), 0xabcdef0123456789ull);
    assert_string_equal(name, "seg-abcdef0123456789.vlog");
    assert_true(vlog_seg_parse_name(name, &seq));
    assert_int_equal(seq, 0xabcdef0123456789ull);
    assert_false(vlog_seg_parse_name("seg-ABCDEF0123456789.vlog", &seq));
    assert_false(vlog_seg_parse_name("seg-abcdef012345678.vlog", &seq));
    assert_false(vlog_seg_parse_name("seg-abcdef0123456789.vlo", &seq));
}

static struct vlog_seg *new_seg(uint64_t seq)
{
    char path[512];
    struct vlog_seg *s;
    seg_path(path, sizeof(path), seq);
    assert_int_equal(vlog_create(path, seq, 0, VLOG_SIZE_MIN, 1, &s, err, sizeof(err)), VLOG_OK);
    return s;
}

struct reader_arg {
    struct vlog_table *t;
    bool stop;    /* atomic: set by the main thread */
    unsigned got; /* atomic: both readers count */
};

static void *reader(void *p)
{
    struct reader_arg *a = p;
    while (!__atomic_load_n(&a->stop, __ATOMIC_ACQUIRE)) {
        for (uint64_t seq = 100; seq < 108; seq++) {
            struct vlog_seg *s = vlog_table_get(a->t, seq);
            if (!s)
                continue;
            /* the file stays readable while the reference is held, unlinked or not */
            uint8_t h[8];
            if (pread(s->fd, h, 8, 0) != 8 || memcmp(h, "CSDVLOG", 8) != 0 || s->seq != seq)
                abort();
            __atomic_fetch_add(&a->got, 1, __ATOMIC_RELAXED);
            vlog_table_put(a->t, s);
        }
    }
    return NULL;
}

static void test_segment_table_references(void **state)
{
    (void)state;
    struct vlog_table *t = vlog_table_new(4);
    struct vlog_seg *a = new_seg(1), *b = new_seg(5); /* both slot 1 */
    assert_int_equal(vlog_table_add(t, a), VLOG_OK);
    assert_int_equal(vlog_table_add(t, b), VLOG_BUSY);
    assert_int_equal(vlog_table_count(t), 1);
    struct vlog_seg *r = vlog_table_get(t, 1);
    assert_ptr_equal(r, a);
    assert_null(vlog_table_get(t, 5));
    assert_null(vlog_table_get(t, 1 + (1ull << 32))); /* the full sequence is checked */
    assert_ptr_equal(vlog_table_get32(t, 1), a);      /* the index's 32 bits */
    vlog_table_put(t, a);
    /* removed with a reader still holding it: unlinked now, closed later, slot held */
    char path[512];
    seg_path(path, sizeof(path), 1);
    assert_int_equal(vlog_table_remove(t, 1, true), VLOG_OK);
    assert_int_equal(access(path, F_OK), -1);
    assert_int_equal(vlog_table_remove(t, 1, true), VLOG_INVAL);
    assert_null(vlog_table_get(t, 1));
    assert_int_equal(vlog_table_count(t), 0);
    uint8_t h[8];
    assert_int_equal(pread(r->fd, h, 8, 0), 8);
    assert_memory_equal(h, "CSDVLOG", 8);
    assert_int_equal(vlog_table_add(t, b), VLOG_BUSY); /* reused only after release */
    vlog_table_put(t, r);                              /* the last reference: closed */
    assert_int_equal(vlog_table_add(t, b), VLOG_OK);
    assert_ptr_equal(vlog_table_get(t, 5), b);
    vlog_table_put(t, b);

    /* readers taking and dropping references while segments come and go */
    struct vlog_table *t2 = vlog_table_new(8);
    struct reader_arg arg = {.t = t2};
    pthread_t th[2];
    for (int i = 0; i < 2; i++)
        assert_int_equal(pthread_create(&th[i], NULL, reader, &arg), 0);
    for (int round = 0; round < 200; round++) {
        uint64_t seq = 100 + (uint64_t)(round % 8);
        struct vlog_seg *s = new_seg(seq);
        while (vlog_table_add(t2, s) == VLOG_BUSY)
            usleep(10);
        if (round >= 4)
            assert_int_equal(vlog_table_remove(t2, 100 + (uint64_t)((round - 4) % 8), true),
                             VLOG_OK);
    }
    __atomic_store_n(&arg.stop, true, __ATOMIC_RELEASE);
    for (int i = 0; i < 2; i++)
        pthread_join(th[i], NULL);
    assert_int_equal(vlog_table_count(t2), 4);
    vlog_table_free(t2);
    vlog_table_free(t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_round_trip_seal_reopen, setup_dir, teardown_dir),
        cmocka_unit_test_setup_teardown(test_full_segment_and_a_record_of_its_own, setup_dir,
                                        teardown_dir),
        cmocka_unit_test_setup_teardown(test_recovery_scan_stops_at_the_torn_tail, setup_dir,
                                        teardown_dir),
        cmocka_unit_test_setup_teardown(test_every_corrupt_byte_is_detected, setup_dir,
                                        teardown_dir),
        cmocka_unit_test_setup_teardown(test_errors_name_their_reason, setup_dir, teardown_dir),
        cmocka_unit_test_setup_teardown(test_segment_table_references, setup_dir, teardown_dir),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
