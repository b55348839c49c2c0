/* Fault-injection TCP proxy for replication tests: listens on 127.0.0.1 (ephemeral port) and
 * forwards every accepted connection to 127.0.0.1:target_port, on its own thread inside the
 * test process. Faults (cut, refuse, blackhole, delay, throttle) can be switched on and off
 * from the test thread; every setter takes effect before it returns (the proxy thread has
 * acknowledged it). All functions are thread-safe. Only 127.0.0.1 is ever used.
 *
 * Each direction of each connection buffers at most FAULTPROXY_BUFFER bytes; when that is
 * full the proxy stops reading from the sending side (backpressure). If nothing listens on
 * the target port, an accepted client is reset; the proxy itself never retries.
 * faultproxy_start aborts the running test (with a message) on setup failure. */
#ifndef TEST_FAULTPROXY_H
#define TEST_FAULTPROXY_H

#include <stdbool.h>
#include <stdint.h>

#define FAULTPROXY_BUFFER (1u << 20)

struct faultproxy;

/* Listen on 127.0.0.1:<ephemeral port>, forward every accepted connection to
 * 127.0.0.1:target_port. */
struct faultproxy *faultproxy_start(uint16_t target_port);
/* The port it listens on. */
uint16_t faultproxy_port(const struct faultproxy *p);
/* Close every current connection pair abruptly (RST via SO_LINGER 0); new connections are
 * still accepted. */
void faultproxy_cut(struct faultproxy *p);
/* on: new connections are accepted and immediately reset; off: normal. */
void faultproxy_refuse(struct faultproxy *p, bool on);
/* on: stop forwarding bytes in both directions and stop reading (no FIN, no RST: the peers
 * see silence; connections accepted meanwhile hang and reach the target only after off);
 * off: resume forwarding what was buffered. */
void faultproxy_blackhole(struct faultproxy *p, bool on);
/* Every chunk read from now on is forwarded ms later (0 = off). */
void faultproxy_delay(struct faultproxy *p, unsigned ms);
/* Limit each direction of each connection to bytes_per_sec (0 = unlimited). */
void faultproxy_throttle(struct faultproxy *p, uint64_t bytes_per_sec);
/* Connections accepted so far (refused ones included). */
uint64_t faultproxy_connections(const struct faultproxy *p);
/* Bytes forwarded, dir 0 = client->target, 1 = target->client. */
uint64_t faultproxy_bytes(const struct faultproxy *p, int dir);
/* Close everything, join the thread, free; sets *p to NULL. */
void faultproxy_stop(struct faultproxy **p);

#endif
