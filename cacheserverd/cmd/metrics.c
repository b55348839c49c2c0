/* metrics-listen: GET /metrics over HTTP answers STATS in the Prometheus text format (the
 * text of cache-cli stats --prometheus: common/promtext.c), so no exporter is needed. It runs
 * on a thread of its own with its own libevent loop and evhttp: a scrape never waits for a
 * worker, nor a worker for a scrape (STATS reads relaxed atomics). Other paths are 404, other
 * methods 405. */
#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>

#include "cmd-internal.h"
#include "log.h"
#include "promtext.h"

static struct event_base *base;
static struct evhttp *http;
static pthread_t thread;
static bool running;

static void _metrics(struct evhttp_request *req, void *arg)
{
    (void)arg;
    msgpack_sbuffer sb;
    cmd_stats_map(&sb);
    msgpack_unpacked u;
    msgpack_unpacked_init(&u);
    char *text = NULL;
    size_t len = 0;
    FILE *f = NULL;
    if (msgpack_unpack_next(&u, sb.data, sb.size, NULL) != MSGPACK_UNPACK_SUCCESS ||
        !(f = open_memstream(&text, &len)) || prom_write_stats(f, &u.data) != 0) {
        if (f)
            fclose(f);
        free(text);
        msgpack_unpacked_destroy(&u);
        msgpack_sbuffer_destroy(&sb);
        evhttp_send_error(req, HTTP_INTERNAL, NULL);
        return;
    }
    fclose(f);
    msgpack_unpacked_destroy(&u);
    msgpack_sbuffer_destroy(&sb);
    struct evbuffer *body = evbuffer_new();
    if (!body || evbuffer_add(body, text, len) != 0) {
        free(text);
        if (body)
            evbuffer_free(body);
        evhttp_send_error(req, HTTP_INTERNAL, NULL);
        return;
    }
    free(text);
    evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type",
                      "text/plain; version=0.0.4; charset=utf-8");
    evhttp_send_reply(req, HTTP_OK, "OK", body);
    evbuffer_free(body);
}

static void _not_found(struct evhttp_request *req, void *arg)
{
    (void)arg;
    evhttp_send_error(req, HTTP_NOTFOUND, "only /metrics is served here");
}

static struct event *stop_ev;

/* In the loop: stop it. An activated event, unlike event_base_loopbreak, is not lost when
 * the stop comes before the thread entered its loop (event_base_loop clears a break asked
 * for earlier): then it runs as the loop's first act. */
static void _stop_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd, (void)what, (void)arg;
    event_base_loopbreak(base);
}

static void *_run(void *arg)
{
    (void)arg;
    event_base_dispatch(base);
    return NULL;
}

/* "HOST:PORT" (an IPv6 host in brackets) into host and port; -1 when malformed. */
static int _parse(const char *addr, char *host, size_t hlen, unsigned *port)
{
    const char *colon = strrchr(addr, ':');
    if (!colon || colon == addr)
        return -1;
    const char *h = addr;
    size_t n = (size_t)(colon - addr);
    if (h[0] == '[' && n >= 2 && h[n - 1] == ']') {
        h++;
        n -= 2;
    }
    if (n == 0 || n >= hlen)
        return -1;
    memcpy(host, h, n);
    host[n] = '\0';
    char *end;
    errno = 0;
    unsigned long p = strtoul(colon + 1, &end, 10);
    if (errno || end == colon + 1 || *end || p == 0 || p > 65535)
        return -1;
    *port = (unsigned)p;
    return 0;
}

int cmd_metrics_start(char *why, size_t len)
{
    const char *addr = option_get_s(&cmd_opts.metrics_listen);
    if (!addr || !*addr)
        return 0;
    char host[256];
    unsigned port;
    if (_parse(addr, host, sizeof(host), &port) != 0) {
        snprintf(why, len, "'%s' is not HOST:PORT (e.g. 127.0.0.1:9150)", addr);
        return -1;
    }
    if (!(base = event_base_new()) || !(http = evhttp_new(base)) ||
        !(stop_ev = event_new(base, -1, 0, _stop_cb, NULL))) {
        snprintf(why, len, "cannot create the HTTP server");
        goto fail;
    }
    evhttp_set_allowed_methods(http, EVHTTP_REQ_GET | EVHTTP_REQ_HEAD);
    evhttp_set_timeout(http, 10);
    evhttp_set_max_headers_size(http, 16384);
    evhttp_set_max_body_size(http, 0);
    evhttp_set_cb(http, "/metrics", _metrics, NULL);
    evhttp_set_gencb(http, _not_found, NULL);
    errno = 0;
    if (!evhttp_bind_socket_with_handle(http, host, (ev_uint16_t)port)) {
        snprintf(why, len, "cannot listen on %s: %s", addr, errno ? strerror(errno) : "bad address");
        goto fail;
    }
    if (pthread_create(&thread, NULL, _run, NULL) != 0) {
        snprintf(why, len, "cannot start its thread");
        goto fail;
    }
    pthread_setname_np(thread, "csd-metrics");
    running = true;
    log_info("metrics on http://%s/metrics", addr);
    return 0;
fail:
    if (http)
        evhttp_free(http);
    if (stop_ev)
        event_free(stop_ev);
    stop_ev = NULL;
    if (base)
        event_base_free(base);
    http = NULL;
    base = NULL;
    return -1;
}

void cmd_metrics_stop(void)
{
    if (!running)
        return;
    event_active(stop_ev, EV_READ, 0); /* thread-safe: core_setup turned locking on */
    pthread_join(thread, NULL);
    event_free(stop_ev);
    stop_ev = NULL;
    evhttp_free(http);
    event_base_free(base);
    http = NULL;
    base = NULL;
    running = false;
}
