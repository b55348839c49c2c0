--TEST--
Errors: server down, bad socket path, oversize value, read timeout; a miss is never an exception
--FILE--
<?php
require __DIR__ . '/setup.inc';
$show = function (Throwable $e) {
    echo get_class($e), " code=", $e->getCode(), " ", explode(':', $e->getMessage())[0], "\n";
};

echo "-- nothing listening\n";
$dir = sys_get_temp_dir() . '/ccerr.' . getmypid();
@mkdir($dir);
$c = new CacheClient("$dir/none.sock", ['connect_timeout' => 0.1]);
try { $c->get('k'); } catch (CacheClientConnectionException $e) { $show($e); }
try { $c->set('k', 1); } catch (CacheClientException $e) { $show($e); }

echo "-- not a socket\n";
file_put_contents("$dir/file", 'x');
try { (new CacheClient("$dir/file"))->ping(); } catch (CacheClientConnectionException $e) { $show($e); }

echo "-- no such directory\n";
try { (new CacheClient("/nonexistent/dir/s.sock"))->ping(); } catch (CacheClientConnectionException $e) { $show($e); }

echo "-- oversize value (server max_value_size is 64 MiB)\n";
$c = cc_fresh(['read_timeout' => 60]);     // generous: this test also runs under valgrind
try { $c->set('big', str_repeat('x', 65 * 1024 * 1024)); } catch (CacheClientServerException $e) { $show($e); }
var_dump($c->exists('big'));
// the connection is still usable
var_dump($c->set('after', 1), $c->get('after'));

echo "-- key too long\n";
try { $c->set(str_repeat('k', 9000), 1); } catch (CacheClientServerException $e) { $show($e); }
var_dump($c->get('after'));

echo "-- a server that accepts but never answers: read timeout\n";
$path = "$dir/mute.sock";
@unlink($path);
$srv = stream_socket_server("unix://$path");
$c = new CacheClient($path, ['read_timeout' => 0.2, 'connect_timeout' => 0.2]);
$t = microtime(true);
try { $c->get('k'); } catch (CacheClientTimeoutException $e) { $show($e); }
$el = microtime(true) - $t;
var_dump($el >= 0.15 && $el < 1.5);
var_dump($e instanceof CacheClientConnectionException);
fclose($srv);
@unlink($path);

echo "-- misses are not exceptions\n";
$c = cc_client();
var_dump($c->get('nope'), $c->getMulti(['nope']), $c->ttl('nope'), $c->length('nope'),
         $c->getWithVersion('nope'), $c->touch('nope', 1), $c->delete('nope'));
exec('rm -rf ' . escapeshellarg($dir));
?>
--EXPECT--
-- nothing listening
CacheClientConnectionException code=200 E_CONNECT
CacheClientConnectionException code=200 E_CONNECT
-- not a socket
CacheClientConnectionException code=200 E_CONNECT
-- no such directory
CacheClientConnectionException code=200 E_CONNECT
-- oversize value (server max_value_size is 64 MiB)
CacheClientServerException code=104 E_VALUE_TOO_LARGE
bool(false)
bool(true)
int(1)
-- key too long
CacheClientServerException code=103 E_KEY_TOO_LONG
int(1)
-- a server that accepts but never answers: read timeout
CacheClientTimeoutException code=201 E_TIMEOUT
bool(true)
bool(true)
-- misses are not exceptions
NULL
array(0) {
}
bool(false)
NULL
NULL
bool(false)
int(0)
