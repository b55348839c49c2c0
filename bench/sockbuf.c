/* Buffered blocking socket I/O for the text-protocol drivers. */
#include "sockbuf.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>

struct sockbuf *sockbuf_connect(const struct bench_target *t, char *err, size_t errlen)
{
    int fd = -1;
    if (t->socket_path) {
        struct sockaddr_un sa = {.sun_family = AF_UNIX};
        if (strlen(t->socket_path) >= sizeof(sa.sun_path)) {
            snprintf(err, errlen, "socket path too long");
            return NULL;
        }
        strcpy(sa.sun_path, t->socket_path);
        fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd >= 0 && connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
            snprintf(err, errlen, "connect %s: %s", t->socket_path, strerror(errno));
            close(fd);
            return NULL;
        }
    } else {
        char port[16];
        snprintf(port, sizeof(port), "%d", t->port);
        struct addrinfo hints = {.ai_socktype = SOCK_STREAM}, *res = NULL;
        int rc = getaddrinfo(t->host ? t->host : "127.0.0.1", port, &hints, &res);
        if (rc != 0) {
            snprintf(err, errlen, "resolve %s: %s", t->host, gai_strerror(rc));
            return NULL;
        }
        fd = socket(res->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd >= 0 && connect(fd, res->ai_addr, res->ai_addrlen) != 0) {
            snprintf(err, errlen, "connect %s:%d: %s", t->host, t->port, strerror(errno));
            close(fd);
            freeaddrinfo(res);
            return NULL;
        }
        freeaddrinfo(res);
        int one = 1;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    }
    if (fd < 0) {
        snprintf(err, errlen, "socket: %s", strerror(errno));
        return NULL;
    }
    struct timeval tv = {.tv_sec = 5};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
    struct sockbuf *s = calloc(1, sizeof(*s));
    if (!s) {
        close(fd);
        return NULL;
    }
    s->fd = fd;
    return s;
}

void sockbuf_close(struct sockbuf *s)
{
    if (!s)
        return;
    close(s->fd);
    free(s->r);
    free(s->w);
    free(s->val);
    free(s);
}

void *sockbuf_driver_connect(const struct bench_target *t, char *err, size_t errlen)
{
    return sockbuf_connect(t, err, errlen);
}

void sockbuf_driver_close(void *conn) { sockbuf_close(conn); }

const uint8_t *sockbuf_value(struct sockbuf *s, const struct workload *w, uint32_t id, uint32_t *len)
{
    *len = workload_value_len(w, id);
    if (*len > s->valcap) {
        free(s->val);
        s->val = malloc(*len);
        s->valcap = s->val ? *len : 0;
        if (!s->val)
            return NULL;
    }
    workload_value(w, id, s->val, *len);
    return s->val;
}

static int reserve(char **buf, size_t *cap, size_t need)
{
    if (need <= *cap)
        return 0;
    size_t n = *cap ? *cap : 4096;
    while (n < need)
        n *= 2;
    char *b = realloc(*buf, n);
    if (!b)
        return -1;
    *buf = b;
    *cap = n;
    return 0;
}

int sockbuf_append(struct sockbuf *s, const void *data, size_t len)
{
    if (reserve(&s->w, &s->wcap, s->wlen + len)) {
        s->failed = 1;
        return -1;
    }
    memcpy(s->w + s->wlen, data, len);
    s->wlen += len;
    return 0;
}

int sockbuf_append_u64(struct sockbuf *s, uint64_t v)
{
    char tmp[20];
    int i = sizeof(tmp);
    do {
        tmp[--i] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    return sockbuf_append(s, tmp + i, sizeof(tmp) - (size_t)i);
}

int sockbuf_flush(struct sockbuf *s)
{
    if (s->failed)
        return -1;
    size_t off = 0;
    while (off < s->wlen) {
        ssize_t n = send(s->fd, s->w + off, s->wlen - off, MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return -1;
        off += (size_t)n;
    }
    s->wlen = 0;
    return 0;
}

int sockbuf_send_ops(struct sockbuf *s, const struct workload *w, const struct bench_op *ops,
                     int n, sockbuf_encoder encode)
{
    for (int i = 0; i < n; i++)
        if (encode(s, w, &ops[i]))
            return -1;
    return sockbuf_flush(s);
}

/* Ensure at least n unread bytes are buffered. */
static int fill(struct sockbuf *s, size_t n)
{
    if (s->rlen - s->roff >= n)
        return 0;
    if (s->roff > 0) {
        memmove(s->r, s->r + s->roff, s->rlen - s->roff);
        s->rlen -= s->roff;
        s->roff = 0;
    }
    if (reserve(&s->r, &s->rcap, n < 65536 ? 65536 : n))
        return -1;
    while (s->rlen < n) {
        ssize_t got = recv(s->fd, s->r + s->rlen, s->rcap - s->rlen, 0);
        if (got < 0 && errno == EINTR)
            continue;
        if (got <= 0)
            return -1;
        s->rlen += (size_t)got;
    }
    return 0;
}

char *sockbuf_line(struct sockbuf *s, size_t *len)
{
    size_t scanned = 0;
    for (;;) {
        char *start = s->r + s->roff;
        size_t avail = s->rlen - s->roff;
        char *nl = avail > scanned ? memchr(start + scanned, '\n', avail - scanned) : NULL;
        if (nl) {
            size_t l = (size_t)(nl - start);
            s->roff += l + 1;
            if (l > 0 && start[l - 1] == '\r')
                l--;
            start[l] = '\0';
            *len = l;
            return start;
        }
        scanned = avail;
        if (fill(s, avail + 1))
            return NULL;
    }
}

char *sockbuf_bytes(struct sockbuf *s, size_t n)
{
    if (fill(s, n))
        return NULL;
    char *p = s->r + s->roff;
    s->roff += n;
    return p;
}
