<?php

/**
 * Stub of the cacheclient extension: the public PHP API with its types.
 * cacheclient_arginfo.h is generated from this file
 * (php /usr/lib/php/20220829/build/gen_stub.php cacheclient.stub.php).
 *
 * @generate-class-entries
 */

/**
 * A client of the per-host cacheserverd over its Unix socket.
 * Every $ttl is in seconds (int or float, millisecond precision); 0 = no expiry. Up to
 * 2592000 (30 days) it is relative; a larger one is an absolute Unix time (memcached's rule:
 * time() + 60 works), at most 100 years ahead. An absolute time not in the future expires
 * the write at once: set(), replace(), setMulti() and touch() delete the key(s); add(),
 * cas(), increment(), decrement() and append() write with the shortest TTL, 1 ms.
 * A miss is never an exception; connection, timeout, protocol and server errors throw
 * CacheClientException subclasses whose getCode() is the protocol status code.
 *
 * @not-serializable
 */
final class CacheClient
{
    /**
     * @param string|null $socket Unix socket path; null = ini cacheclient.socket
     * @param array $options persistent (bool|string id), connect_timeout (s), read_timeout (s),
     *        namespace, prefix, serializer ("php"|"igbinary"|"msgpack"), compression_threshold
     *        (bytes, 0 = off), compression_level (zstd 1..19, default 3),
     *        allowed_classes (bool|array of class names), client_name
     */
    public function __construct(?string $socket = null, array $options = []) {}

    /** The value, or null on a miss; $found tells a stored null/false from a miss. */
    public function get(string $key, mixed &$found = null): mixed {}

    /**
     * Hits only, keyed by the requested keys, in request order. With $withVersions each hit
     * is ['value' => mixed, 'version' => int], as getWithVersion() answers it.
     */
    public function getMulti(array $keys, bool $withVersions = false): array {}

    /**
     * The value (null on a miss, $found false) and a new TTL for it, in one round trip: a GET
     * and a TOUCH pipelined, NOT atomic (a write between the two is possible; a key deleted
     * between them is a miss).
     * @param int|float $ttl seconds (0 = no expiry; above 30 days a Unix time)
     */
    public function getAndTouch(string $key, int|float $ttl, mixed &$found = null): mixed {}

    /** @param int|float $ttl seconds (0 = no expiry; above 30 days a Unix time) */
    public function set(string $key, mixed $value, int|float $ttl = 0): bool {}

    /**
     * Store only if the key does not exist; false when it does.
     * @param int|float $ttl seconds (0 = no expiry; above 30 days a Unix time)
     */
    public function add(string $key, mixed $value, int|float $ttl = 0): bool {}

    /**
     * Store only if the key exists; false when it does not.
     * @param int|float $ttl seconds (0 = no expiry; above 30 days a Unix time)
     */
    public function replace(string $key, mixed $value, int|float $ttl = 0): bool {}

    /**
     * @param array $items key => value; all are written or none.
     * @param int|float $ttl seconds (0 = no expiry; above 30 days a Unix time)
     * @param array|null $ttls key => TTL (int|float, as $ttl) for the keys that take another
     *        one than $ttl; each must be a key of $items
     */
    public function setMulti(array $items, int|float $ttl = 0, ?array $ttls = null): bool {}

    /** @return int how many of the keys existed and were deleted */
    public function delete(string|array $key): int {}

    /** One key: whether it exists. An array of keys: how many of them exist (phpredis). */
    public function exists(string|array $key): bool|int {}

    /**
     * Set a new TTL; false when the key does not exist.
     * @param int|float $ttl seconds (0 = no expiry; above 30 days a Unix time)
     */
    public function touch(string $key, int|float $ttl): bool {}

    /**
     * Remaining seconds (ms precision); null when the key has no expiry (as C and cache-cli
     * answer -1); false when the key does not exist.
     */
    public function ttl(string $key): float|false|null {}

    /**
     * Add $by to an int value and return the new value. A missing key counts from $initial:
     * it is created as $initial + $by (then $ttl applies), so the first increment('hits') is 1,
     * as in Redis, APCu, libcacheclient and cache-cli. Throws CacheClientServerException
     * (E_TYPE) on a non-integer value, (E_OVERFLOW) beyond int64.
     * @param int|float $ttl seconds, for a key it creates (0 = no expiry; above 30 days a Unix time)
     */
    public function increment(string $key, int $by = 1, int $initial = 0, int|float $ttl = 0): int {}

    /**
     * Subtract $by; a missing key is created as $initial - $by (so the first decrement is -1).
     * @param int|float $ttl seconds, for a key it creates (0 = no expiry; above 30 days a Unix time)
     */
    public function decrement(string $key, int $by = 1, int $initial = 0, int|float $ttl = 0): int {}

    /** @return array|null ['value' => mixed, 'version' => int], null on a miss */
    public function getWithVersion(string $key): ?array {}

    /**
     * Store only if the item still has $version; false on a version mismatch or a miss.
     * @param int|float $ttl seconds (0 = no expiry; above 30 days a Unix time)
     */
    public function cas(string $key, int $version, mixed $value, int|float $ttl = 0): bool {}

    /**
     * Compute-if-absent, at most once per key across every process of the host: the stored
     * value, or $compute($key) stored with $ttl and returned. The first caller to miss the key
     * gets its lease and computes; concurrent callers of the same key wait (polling) for that
     * value instead of computing it too. When the wait runs out they compute without storing.
     * @param int|float $ttl seconds (0 = no expiry; above 30 days a Unix time)
     * @param array $options lease (seconds, 0.001..60, default 10: how long the lease holds
     *        if its holder never stores), wait (seconds, 0..60, default the lease: how long to
     *        wait for another caller's value; 0 = compute at once)
     */
    public function remember(string $key, callable $compute, int|float $ttl = 0, array $options = []): mixed {}

    /**
     * Append bytes to a stream value (created if missing); returns the new length.
     * @param int|float $ttl seconds, for a key it creates (0 = no expiry; above 30 days a Unix time)
     */
    public function append(string $key, string $data, int|float $ttl = 0): int {}

    /** Bytes [$offset, $offset + $length) of a string or stream value; null on a miss. */
    public function getRange(string $key, int $offset, int $length): ?string {}

    /** Length in bytes of a string or stream value; null on a miss. */
    public function length(string $key): ?int {}

    /** Delete every key starting with $prefix (after the client's prefix); returns the count. */
    public function deleteByPrefix(string $prefix): int {}

    /** Iterate over the keys starting with $prefix (the client's prefix is stripped). */
    public function keys(string $prefix = ""): CacheClientKeyIterator {}

    /** Empty one namespace: null = this client's namespace. Returns how many items were removed. */
    public function flush(?string $namespace = null): int {}

    /** Empty every namespace of the server. */
    public function flushAll(): int {}

    /** @return array<string, int|float> */
    public function stats(): array {}

    /**
     * This client's counts of reads through the server's shared-memory region, without any
     * I/O: mapped (bool: the client holds the region now), hits, misses, retries, stale,
     * checksum, socket_reads (ints). Each key of get()/getMulti()/remember() counts once, in
     * hits or in one of the fallbacks and then in socket_reads. A persistent connection's
     * counts run across requests (per worker process).
     * @return array<string, bool|int>
     */
    public function shmStats(): array {}

    public function ping(): bool {}

    /**
     * Wait until $replicas replication peers have every change the server made so far (this
     * client's writes included), at most $timeout seconds (0..60; 0 = report at once).
     * Returns how many peers did: 0 on a server without peers.
     */
    public function wait(int $replicas, float $timeout = 1.0): int {}

    /**
     * Record calls on the CacheClientPipeline passed to $fn and send them all in one write
     * once $fn returns; returns their results in call order, each as the CacheClient method
     * of the same name returns it. A server error on one call is its result (a
     * CacheClientException object, not thrown); an exception in $fn sends nothing.
     * @param callable $fn called with the CacheClientPipeline that records the calls
     */
    public function pipeline(callable $fn): array {}

    /** Close the connection; the next call reconnects. */
    public function close(): void {}
}

/**
 * The recorder of CacheClient::pipeline(): each method takes the arguments of the
 * CacheClient method of the same name, records the call and returns the pipeline itself.
 * It records only while the callable of pipeline() runs.
 *
 * @not-serializable
 */
final class CacheClientPipeline
{
    private function __construct() {}

    public function get(string $key): CacheClientPipeline {}

    public function getWithVersion(string $key): CacheClientPipeline {}

    public function set(string $key, mixed $value, int|float $ttl = 0): CacheClientPipeline {}

    public function add(string $key, mixed $value, int|float $ttl = 0): CacheClientPipeline {}

    public function replace(string $key, mixed $value, int|float $ttl = 0): CacheClientPipeline {}

    public function delete(string $key): CacheClientPipeline {}

    public function exists(string $key): CacheClientPipeline {}

    public function increment(string $key, int $by = 1, int $initial = 0, int|float $ttl = 0): CacheClientPipeline {}

    public function decrement(string $key, int $by = 1, int $initial = 0, int|float $ttl = 0): CacheClientPipeline {}

    public function touch(string $key, int|float $ttl): CacheClientPipeline {}

    public function ttl(string $key): CacheClientPipeline {}
}

/**
 * Keys returned by CacheClient::keys(), fetched from the server in batches (SCAN).
 * A key present for the whole iteration is returned at least once.
 *
 * @not-serializable
 */
final class CacheClientKeyIterator implements Iterator
{
    private function __construct() {}

    public function current(): string {}

    public function key(): int {}

    public function next(): void {}

    public function rewind(): void {}

    public function valid(): bool {}
}

class CacheClientException extends RuntimeException
{
}

/** Cannot connect, or the connection was lost (E_CONNECT, E_IO, E_SHUTDOWN). */
class CacheClientConnectionException extends CacheClientException
{
}

/** Connect or reply timeout (E_TIMEOUT). */
class CacheClientTimeoutException extends CacheClientConnectionException
{
}

/** The client and server do not understand each other (E_PROTOCOL, E_BAD_REPLY, ...). */
class CacheClientProtocolException extends CacheClientException
{
}

/** The server refused the operation: getCode() says why (E_VALUE_TOO_LARGE, E_TYPE, ...). */
class CacheClientServerException extends CacheClientException
{
}

/** A value could not be serialized, compressed, decompressed or decoded. */
class CacheClientSerializationException extends CacheClientException
{
}
