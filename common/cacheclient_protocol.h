/* The wire contract (installed with libcacheclient as cacheclient_protocol.h) shared by cacheserverd and every client: opcodes, status codes,
 * value types and the fixed limits of the framing. docs/protocol.md is the prose form
 * of this file; change both in the same commit. */
#ifndef CACHECLIENT_PROTOCOL_H
#define CACHECLIENT_PROTOCOL_H

#include <stddef.h>
#include <stdint.h>

#define CC_PROTOCOL_VERSION 1

/* A frame is a 4-byte big-endian length followed by that many bytes holding exactly one
 * msgpack array. Request: [op, id, args...]. Reply: [id, status, results...]. */
#define CC_FRAME_HEADER_SIZE 4

/* Deepest nesting of arrays/maps/objects accepted in a stored value (msgpack-c's C
 * unpacker decodes at most 32 levels, so clients can decode anything we accept). */
#define CC_MAX_VALUE_DEPTH 32

/* Longest namespace name, and how many distinct namespaces a server tracks. */
#define CC_MAX_NS_LEN 64
#define CC_MAX_NAMESPACES 1024

/* ext type used for the object value type inside msgpack values:
 * ext(CC_EXT_OBJECT, msgpack([class:str, serializer:uint, data:bin])) */
#define CC_EXT_OBJECT 1

/* X-macro: opcode, name, one-line description. Numbers are part of the wire format. */
#define CC_OPS(ACTION)                                                          \
    ACTION(0, PING, "check the server answers")                                 \
    ACTION(1, HELLO, "handshake: protocol version and connection options")      \
    ACTION(2, GET, "read one key")                                              \
    ACTION(3, MGET, "read many keys in one frame")                              \
    ACTION(4, SET, "write one key (ttl, NX/XX, CAS)")                           \
    ACTION(5, MSET, "write many keys")                                          \
    ACTION(6, DEL, "delete keys")                                               \
    ACTION(7, EXISTS, "count keys that exist")                                  \
    ACTION(8, TOUCH, "set a key's ttl")                                         \
    ACTION(9, TTL, "remaining ttl of a key")                                    \
    ACTION(10, INCR, "add a signed delta to an integer")                        \
    ACTION(11, DECR, "subtract from an integer")                                \
    ACTION(12, APPEND, "append bytes to a stream")                              \
    ACTION(13, GETRANGE, "read a byte range of a stream or bytes value")        \
    ACTION(14, STRLEN, "length of a stream or bytes value")                     \
    ACTION(15, SCAN, "iterate keys by cursor and prefix")                       \
    ACTION(16, FLUSH, "delete everything, or one namespace")                    \
    ACTION(17, STATS, "counters and latency histograms")                        \
    ACTION(18, INFO, "server description")                                      \
    ACTION(19, CONFIG_GET, "read configuration options")                        \
    ACTION(20, CONFIG_SET, "change a run-time configuration option")            \
    ACTION(21, NAMESPACE, "select the connection's namespace")                  \
    ACTION(22, CLUSTER_STATUS, "how this node sees its peers (replication)")      \
    ACTION(23, WAIT, "wait until N peers acknowledged this node's changes so far")           \
    ACTION(24, FAULT, "test-only fault injection (builds with -Dfault_injection=true)")      \
    ACTION(25, CLUSTER_UNFENCE, "lift this node's self-fencing (an operator's decision)")    \
    ACTION(26, CLUSTER_REVOKE, "ask the cluster to revoke a peer (a majority must sign)")     \
    ACTION(27, CLUSTER_ROTATE_CERT, "give this node a new certificate, as a signed change")  \
    ACTION(28, CLUSTER_READMIT, "ask the cluster to lift a fenced peer's fence (a majority)") \
    ACTION(29, CLUSTER_REMOVE, "ask the cluster to remove a member (a majority must sign)")  \
    ACTION(30, CLUSTER_ADD, "ask the cluster to add a member (a majority must sign)")        \
    ACTION(32, LEASE_GET, "read one key; on a miss, the key's lease (one caller computes)")  \
    ACTION(33, LEASE_SET, "store a computed value if the lease is still the key's")         \
    ACTION(34, SHM_REPORT, "report reads a client served from the shared-memory region")

/* LEASE_GET's lease_ms: 1..CC_LEASE_MAX_MS, CC_LEASE_DEFAULT_MS when not given. A server
 * holds at most max_leases leases at once (an option, default 16384; E_LIMIT beyond). */
#define CC_LEASE_DEFAULT_MS 10000
#define CC_LEASE_MAX_MS 60000
/* LEASE_WAIT's suggested retry delay: the lease's time left, but at most this (ms). */
#define CC_LEASE_RETRY_MS 10

/* SHM_REPORT's bounds (docs/shm-reads.md, "Stats"): at most this many namespaces in its hits
 * map (the server's namespace count), and this many key hashes whose region entry failed the
 * client's checksum. Beyond either: E_BAD_ARGS, nothing counted. */
#define CC_SHM_REPORT_MAX_NS 1024
#define CC_SHM_REPORT_MAX_BAD 8

/* WAIT's bounds: at most this many replicas asked for, and this long a timeout (ms). */
#define CC_WAIT_MAX_REPLICAS 255
#define CC_WAIT_MAX_TIMEOUT_MS 60000

enum cc_op {
#define CC_OP_ENUM(num, name, desc) CC_OP_##name = num,
    CC_OPS(CC_OP_ENUM)
#undef CC_OP_ENUM
    CC_OP__COUNT
};

/* X-macro: status code, name, default message. Codes below 100 are outcomes, not errors.
 * 100..199 are server errors, 200..299 are raised by the client library itself. */
#define CC_STATUSES(ACTION)                                                          \
    ACTION(0, OK, "ok")                                                              \
    ACTION(1, NOT_FOUND, "not found")                                                \
    ACTION(2, NOT_STORED, "not stored: NX/XX condition not met")                     \
    ACTION(3, CAS_MISMATCH, "not stored: version does not match")                    \
    ACTION(4, LEASED, "a miss: the caller holds the key's lease and should compute it")  \
    ACTION(5, LEASE_WAIT, "a miss: another caller is computing the key; retry shortly")  \
    ACTION(100, E_PROTOCOL, "malformed request")                                     \
    ACTION(101, E_UNKNOWN_OP, "unknown operation")                                   \
    ACTION(102, E_BAD_ARGS, "wrong number or type of arguments")                     \
    ACTION(103, E_KEY_TOO_LONG, "key too long")                                      \
    ACTION(104, E_VALUE_TOO_LARGE, "value too large")                                \
    ACTION(105, E_FRAME_TOO_LARGE, "frame too large")                                \
    ACTION(106, E_TYPE, "operation not valid for the value's type")                  \
    ACTION(107, E_OVERFLOW, "integer overflow")                                      \
    ACTION(108, E_NOMEM, "out of memory: cannot make room within the memory limit")  \
    ACTION(109, E_LIMIT, "a server limit was reached")                               \
    ACTION(110, E_CONFIG, "bad configuration option or value")                       \
    ACTION(111, E_BAD_VALUE, "malformed or too deeply nested value")                 \
    ACTION(112, E_VERSION, "unsupported protocol version")                           \
    ACTION(113, E_SHUTDOWN, "server is shutting down")                               \
    ACTION(114, E_INTERNAL, "internal error")                                        \
    ACTION(115, E_DISK, "disk tier error: value unreadable or write not durable")    \
    ACTION(116, E_FENCED, "this node fenced itself: writes refused until unfenced")  \
    ACTION(200, E_CONNECT, "cannot connect")                                         \
    ACTION(201, E_TIMEOUT, "timed out")                                              \
    ACTION(202, E_IO, "connection lost")                                             \
    ACTION(203, E_BAD_REPLY, "malformed reply from server")                          \
    ACTION(204, E_CLIENT_ARGS, "invalid argument")                                   \
    ACTION(205, E_CLIENT_NOMEM, "client out of memory")

enum cc_status {
#define CC_STATUS_ENUM(num, name, msg) CC_##name = num,
    CC_STATUSES(CC_STATUS_ENUM)
#undef CC_STATUS_ENUM
};

/* Exported from libcacheclient (the rest of common/ stays internal to it). */
#define CC_PROTOCOL_API __attribute__((visibility("default")))

/* "OK", "NOT_FOUND", "E_TYPE"...; "UNKNOWN" for a code not in the table. */
CC_PROTOCOL_API const char *cc_status_name(int status);
/* The default human message for a status code. */
CC_PROTOCOL_API const char *cc_status_message(int status);
/* 1 if the code is an error (>= 100). */
static inline int cc_status_is_error(int status) { return status >= 100; }

/* Value types as GET reports them. They follow from the msgpack encoding except
 * STREAM (bytes built by APPEND) and OBJECT (ext CC_EXT_OBJECT). */
#define CC_TYPES(ACTION)       \
    ACTION(0, NULL, "null")    \
    ACTION(1, BOOL, "bool")    \
    ACTION(2, INT, "int")      \
    ACTION(3, FLOAT, "float")  \
    ACTION(4, BYTES, "bytes")  \
    ACTION(5, ARRAY, "array")  \
    ACTION(6, MAP, "map")      \
    ACTION(7, OBJECT, "object") \
    ACTION(8, STREAM, "stream")

enum cc_type {
#define CC_TYPE_ENUM(num, name, str) CC_TYPE_##name = num,
    CC_TYPES(CC_TYPE_ENUM)
#undef CC_TYPE_ENUM
    CC_TYPE__COUNT
};

CC_PROTOCOL_API const char *cc_type_name(int type);
CC_PROTOCOL_API const char *cc_op_name(int op);

/* The socket a server listens on and every client (libcacheclient, cache-cli, the PHP
 * extension's cacheclient.socket) connects to by default: one absolute path, so a php-fpm
 * worker (whose working directory is not the server's) finds it too. */
#define CC_DEFAULT_SOCKET "/run/cacheserverd/cacheserverd.sock"

/* SET flags (bit set). */
#define CC_SET_NX 1u /* only if the key does not exist */
#define CC_SET_XX 2u /* only if the key exists */

/* TTL reply values besides a remaining time in milliseconds. */
#define CC_TTL_NONE (-1)
/* The largest ttl a request may carry, in ms: 100 years of 365.25 days. Larger ones are
 * E_BAD_ARGS (an expiry time beyond it would not be meant, and now + ttl must not wrap). */
#define CC_TTL_MAX_MS 3155760000000ull

static inline uint32_t cc_be32_read(const uint8_t *p)
{
    return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | p[3];
}

static inline void cc_be32_write(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

#endif
