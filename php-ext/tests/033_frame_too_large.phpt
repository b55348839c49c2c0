--TEST--
A request longer than the server's max_frame_size is refused before it is sent: E_FRAME_TOO_LARGE (a CacheClientServerException) naming APPEND and cache://, not a lost connection
--FILE--
<?php
require __DIR__ . '/setup.inc';
$srv = new CcServer(['--max-frame-size', '2MiB', '--max-value-size', '1MiB']);
$c = new CacheClient($srv->socket);
$big = str_repeat('x', 3 * 1024 * 1024);
$show = function (Throwable $e) {
    echo get_class($e), " code=", $e->getCode(), " ", explode(':', $e->getMessage())[0], "\n";
    var_dump(str_contains($e->getMessage(), 'max_frame_size 2097152'),
             str_contains($e->getMessage(), 'APPEND'), str_contains($e->getMessage(), 'cache://'));
};
$c->set('before', 1);
try { $c->set('big', $big); echo "stored\n"; } catch (CacheClientException $e) { $show($e); }
try { $c->setMulti(['a' => 1, 'big' => $big]); echo "stored\n"; } catch (CacheClientException $e) { $show($e); }
try { $c->append('big', $big); echo "appended\n"; } catch (CacheClientException $e) { $show($e); }
// nothing was written, and the connection was never lost
var_dump($c->exists('big'), $c->exists('a'), $c->get('before'));
var_dump($c->stats()['frames_too_large'], $c->stats()['connections_total']);
// between max_value_size and max_frame_size: the server's own E_VALUE_TOO_LARGE
try { $c->set('big', str_repeat('y', 1024 * 1024 + 1)); } catch (CacheClientServerException $e) {
    echo get_class($e), " code=", $e->getCode(), "\n";
}
// the ways that work: APPEND in pieces, or the cache:// wrapper
foreach (str_split($big, 1024 * 1024) as $piece) $c->append('pieces', $piece);
var_dump($c->length('pieces'));
$ctx = stream_context_create(['cache' => ['client' => $c]]);
var_dump(file_put_contents('cache://wrapped', $big, 0, $ctx), strlen(file_get_contents('cache://wrapped', false, $ctx)));
?>
--EXPECT--
CacheClientServerException code=105 E_FRAME_TOO_LARGE
bool(true)
bool(true)
bool(true)
CacheClientServerException code=105 E_FRAME_TOO_LARGE
bool(true)
bool(true)
bool(true)
CacheClientServerException code=105 E_FRAME_TOO_LARGE
bool(true)
bool(true)
bool(true)
bool(false)
bool(false)
int(1)
int(0)
int(2)
CacheClientServerException code=104
int(3145728)
int(3145728)
int(3145728)
