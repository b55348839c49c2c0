--TEST--
Bad arguments raise TypeError/ValueError; TTLs are seconds (int or float)
--FILE--
<?php
require __DIR__ . '/setup.inc';
$c = cc_fresh();
$try = function (string $what, callable $f) {
    try { $f(); echo "$what: no error\n"; }
    catch (Throwable $e) { echo "$what: ", get_class($e), ": ", $e->getMessage(), "\n"; }
};
$try('empty key', fn() => $c->get(''));
$try('empty key set', fn() => $c->set('', 1));
$try('empty key in getMulti', fn() => $c->getMulti(['a', '']));
$try('bad key type in getMulti', fn() => $c->getMulti([1.5]));
$try('negative ttl', fn() => $c->set('k', 1, -1));
$try('NAN ttl', fn() => $c->set('k', 1, NAN));
$try('INF ttl', fn() => $c->touch('k', INF));
$try('string ttl', fn() => $c->set('k', 1, 'soon'));
$try('unknown option', fn() => new CacheClient(cc_socket(), ['namespce' => 'x']));
$try('bad timeout', fn() => new CacheClient(cc_socket(), ['read_timeout' => 0]));
$try('infinite timeout', fn() => new CacheClient(cc_socket(), ['connect_timeout' => INF]));
$try('bad serializer', fn() => new CacheClient(cc_socket(), ['serializer' => 'json']));
$try('long namespace', fn() => new CacheClient(cc_socket(), ['namespace' => str_repeat('n', 65)]));
$try('empty socket', fn() => new CacheClient(''));
$try('socket path too long', fn() => new CacheClient('/' . str_repeat('s', 107)));
$try('bad persistent', fn() => new CacheClient(cc_socket(), ['persistent' => 5]));
$try('int option names', fn() => new CacheClient(cc_socket(), [1, 2]));
$try('clone', fn() => clone $c);
$try('serialize', fn() => serialize($c));
$try('construct twice', fn() => $c->__construct(cc_socket()));

echo "-- ttl precision\n";
$c->set('ms', 1, 0.0001);            // rounds up to 1 ms, never down to 0 (= no expiry)
usleep(20000);
var_dump($c->exists('ms'));          // so it has expired
$c->set('short', 1, 0.15);
var_dump($c->exists('short'));
usleep(250000);
var_dump($c->get('short', $found), $found);
$c->set('forever', 1, 0);
var_dump($c->ttl('forever'));
// numeric strings are accepted as TTLs in coercive mode
$c->set('num', 1, '30');
var_dump($c->ttl('num') > 29);
// ini default for the socket
ini_set('cacheclient.socket', cc_socket());
var_dump((new CacheClient(null, ['namespace' => cc_test_ns()]))->get('num'));
?>
--EXPECT--
empty key: ValueError: CacheClient::get(): Argument #1 ($key) must not be empty
empty key set: ValueError: CacheClient::set(): Argument #1 ($key) must not be empty
empty key in getMulti: ValueError: CacheClient::getMulti(): Argument #1 ($keys) must not contain empty keys
bad key type in getMulti: TypeError: CacheClient::getMulti(): Argument #1 ($keys) must contain only string or int keys, float given
negative ttl: ValueError: CacheClient::set(): Argument #3 ($ttl) must be a finite number of seconds >= 0
NAN ttl: ValueError: CacheClient::set(): Argument #3 ($ttl) must be a finite number of seconds >= 0
INF ttl: ValueError: CacheClient::touch(): Argument #2 ($ttl) must be a finite number of seconds >= 0
string ttl: TypeError: CacheClient::set(): Argument #3 ($ttl) must be of type int|float, string given
unknown option: ValueError: CacheClient::__construct(): unknown option "namespce"
bad timeout: ValueError: CacheClient: option "read_timeout" must be a finite number of seconds in (0, 86400]
infinite timeout: ValueError: CacheClient: option "connect_timeout" must be a finite number of seconds in (0, 86400]
bad serializer: ValueError: CacheClient: serializer must be "php", "igbinary" or "msgpack", "json" given
long namespace: ValueError: CacheClient::__construct(): option "namespace" must be at most 64 bytes without NUL
empty socket: ValueError: CacheClient::__construct(): the socket path must be 1 to 107 bytes without NUL, "" given
socket path too long: ValueError: CacheClient::__construct(): the socket path must be 1 to 107 bytes without NUL, "/sssssssssssssssssssssssssssssssssssssssssssssssssssssssssssssssssssssssssssssssssssssssssssssssssssssssssss" given
bad persistent: TypeError: CacheClient::__construct(): option "persistent" must be a bool or a non-empty string id
int option names: ValueError: CacheClient::__construct(): options must be an array of name => value
clone: Error: Trying to clone an uncloneable object of class CacheClient
serialize: Exception: Serialization of 'CacheClient' is not allowed
construct twice: Error: CacheClient::__construct() cannot be called twice
-- ttl precision
bool(false)
bool(true)
NULL
bool(false)
NULL
bool(true)
int(1)
