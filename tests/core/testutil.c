/* Helpers for the core tests: see testutil.h. */
#include "testutil.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <msgpack.h>

#include "cacheclient_protocol.h"
#include "mpread.h"

static int _send_packed(int fd, msgpack_sbuffer *sb)
{
    int rc = harness_send_frame(fd, sb->data, sb->size);
    msgpack_sbuffer_destroy(sb);
    return rc;
}

static void _begin(msgpack_sbuffer *sb, msgpack_packer *pk, uint32_t n, uint64_t op, uint64_t id)
{
    msgpack_sbuffer_init(sb);
    msgpack_packer_init(pk, sb, msgpack_sbuffer_write);
    msgpack_pack_array(pk, n);
    msgpack_pack_uint64(pk, op);
    msgpack_pack_uint64(pk, id);
}

int tu_send_ping(int fd, uint64_t id)
{
    msgpack_sbuffer sb;
    msgpack_packer pk;
    _begin(&sb, &pk, 2, CC_OP_PING, id);
    return _send_packed(fd, &sb);
}

int tu_send_get(int fd, uint64_t id, const char *key)
{
    msgpack_sbuffer sb;
    msgpack_packer pk;
    _begin(&sb, &pk, 3, CC_OP_GET, id);
    msgpack_pack_str_with_body(&pk, key, strlen(key));
    return _send_packed(fd, &sb);
}

int tu_send_config_set(int fd, uint64_t id, const char *name, const char *value)
{
    msgpack_sbuffer sb;
    msgpack_packer pk;
    _begin(&sb, &pk, 4, CC_OP_CONFIG_SET, id);
    msgpack_pack_str_with_body(&pk, name, strlen(name));
    msgpack_pack_str_with_body(&pk, value, strlen(value));
    return _send_packed(fd, &sb);
}

size_t tu_frame_get(uint8_t *buf, size_t len, size_t cap, uint64_t id, const char *key)
{
    msgpack_sbuffer sb;
    msgpack_packer pk;
    _begin(&sb, &pk, 3, CC_OP_GET, id);
    msgpack_pack_str_with_body(&pk, key, strlen(key));
    size_t n = 0;
    if (len + CC_FRAME_HEADER_SIZE + sb.size <= cap) {
        cc_be32_write(buf + len, (uint32_t)sb.size);
        memcpy(buf + len + CC_FRAME_HEADER_SIZE, sb.data, sb.size);
        n = len + CC_FRAME_HEADER_SIZE + sb.size;
    }
    msgpack_sbuffer_destroy(&sb);
    return n;
}

int tu_send_set(int fd, uint64_t id, const char *key, const void *value, size_t len)
{
    msgpack_sbuffer sb;
    msgpack_packer pk;
    _begin(&sb, &pk, 4, CC_OP_SET, id);
    msgpack_pack_str_with_body(&pk, key, strlen(key));
    msgpack_pack_bin_with_body(&pk, value, len);
    return _send_packed(fd, &sb);
}

int tu_recv_reply(int fd, uint64_t *id, uint64_t *status)
{
    uint8_t *body;
    size_t len;
    if (harness_recv_frame(fd, &body, &len) != 0)
        return -1;
    struct mp_cursor c;
    uint32_t n;
    mp_cursor_init(&c, body, len);
    int ok = mp_read_array(&c, &n) && n >= 2 && mp_read_uint(&c, id) && mp_read_uint(&c, status);
    free(body);
    return ok ? 0 : -1;
}

int tu_ping_fd(int fd, uint64_t id)
{
    uint64_t rid, status;
    if (tu_send_ping(fd, id) != 0 || tu_recv_reply(fd, &rid, &status) != 0)
        return -1;
    return rid == id && status == CC_OK ? 0 : -1;
}

int tu_peer_closed(int fd)
{
    char b[4096];
    for (;;) {
        ssize_t n = recv(fd, b, sizeof(b), 0);
        if (n == 0)
            return 1;
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return errno == ECONNRESET;
        /* data still arriving: keep reading until EOF or timeout */
    }
}

long long tu_stat(const struct harness *h, const char *name)
{
    int fd = harness_connect(h);
    if (fd < 0)
        return -1;
    msgpack_sbuffer sb;
    msgpack_packer pk;
    _begin(&sb, &pk, 2, CC_OP_STATS, 1);
    uint8_t *body = NULL;
    size_t len = 0;
    long long v = -1;
    if (_send_packed(fd, &sb) == 0 && harness_recv_frame(fd, &body, &len) == 0) {
        struct mp_cursor c;
        uint32_t n, pairs;
        uint64_t id, status;
        mp_cursor_init(&c, body, len);
        if (mp_read_array(&c, &n) && n == 3 && mp_read_uint(&c, &id) && mp_read_uint(&c, &status) &&
            status == CC_OK && mp_read_map(&c, &pairs)) {
            for (uint32_t i = 0; i < pairs; i++) {
                const uint8_t *k;
                uint32_t kl;
                uint64_t u;
                if (!mp_read_bytes(&c, &k, &kl))
                    break;
                bool match = kl == strlen(name) && memcmp(k, name, kl) == 0;
                if (mp_read_uint(&c, &u)) {
                    if (match) {
                        v = (long long)u;
                        break;
                    }
                } else if (!mp_skip(&c, 8)) {
                    break;
                }
            }
        }
    }
    free(body);
    close(fd);
    return v;
}

long tu_proc_kb(pid_t pid, const char *field)
{
    char path[64], line[256];
    snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
    FILE *f = fopen(path, "r");
    if (!f)
        return -1;
    long kb = -1;
    size_t fl = strlen(field);
    while (fgets(line, sizeof(line), f)) {
        if (!strncmp(line, field, fl) && line[fl] == ':') {
            kb = strtol(line + fl + 1, NULL, 10);
            break;
        }
    }
    fclose(f);
    return kb;
}

uint64_t tu_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

void tu_sleep_ms(unsigned ms)
{
    struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
        ;
}
