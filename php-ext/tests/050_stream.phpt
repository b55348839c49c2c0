--TEST--
cache:// stream wrapper: chunked write published on fclose, ranged reads, seek, stat, unlink, ttl, include refused
--FILE--
<?php
require __DIR__ . '/setup.inc';
$c = cc_fresh();
$ctx = stream_context_create(['cache' => ['client' => $c, 'chunk_size' => 4096]]);
// file_exists(), filesize() and friends take no context: they use the default one
stream_context_set_default(['cache' => ['client' => $c]]);

echo "-- small value: a plain string\n";
var_dump(file_put_contents('cache://small', 'hello', 0, $ctx));
var_dump($c->get('small'), file_get_contents('cache://small', false, $ctx));

echo "-- multi-chunk value, not visible before fclose\n";
$c->set('big', 'old value');
$data = '';
$f = fopen('cache://big', 'w', false, $ctx);
for ($i = 0; $i < 100; $i++) {
    $piece = str_repeat(chr(65 + $i % 26), 1000) . "\x00\xff";
    $data .= $piece;
    fwrite($f, $piece);
}
var_dump(file_get_contents('cache://big', false, $ctx));     // still the old value
var_dump(fstat($f)['size']);
fclose($f);
var_dump(filesize('cache://big') === strlen($data));
clearstatcache();
var_dump(file_get_contents('cache://big', false, $ctx) === $data);
try { $c->get('big'); } catch (CacheClientSerializationException $e) { echo $e->getMessage(), "\n"; }
// the data key is hidden from keys()
var_dump(iterator_to_array($c->keys('big'), false));

echo "-- ranged reads and seek\n";
$f = fopen('cache://big', 'r', false, $ctx);
fseek($f, 5000);
var_dump(fread($f, 4) === substr($data, 5000, 4));
fseek($f, -3, SEEK_END);
var_dump(bin2hex(fread($f, 10)), feof($f) || fread($f, 1) === '');
rewind($f);
$back = '';
while (!feof($f)) $back .= fread($f, 777);
var_dump($back === $data);
fclose($f);

echo "-- overwrite a stream with a stream, and with a small value\n";
file_put_contents('cache://big', str_repeat('z', 10000), 0, $ctx);
var_dump(file_get_contents('cache://big', false, $ctx) === str_repeat('z', 10000));
file_put_contents('cache://big', 'tiny', 0, $ctx);
var_dump(file_get_contents('cache://big', false, $ctx));
var_dump(count(iterator_to_array($c->keys(), false)));

echo "-- values written by append() or set() are readable\n";
$c->append('app', 'part1-');
$c->append('app', 'part2');
var_dump(file_get_contents('cache://app', false, $ctx));
$c->set('num', 42);
var_dump(@file_get_contents('cache://num', false, $ctx), file_exists('cache://num'));

echo "-- file_exists / filesize / unlink\n";
var_dump(file_exists('cache://small'), file_exists('cache://nope'));
file_put_contents('cache://big', str_repeat('q', 9000), 0, $ctx);
var_dump(unlink('cache://big', $ctx), file_exists('cache://big'));
var_dump(@unlink('cache://big', $ctx));
var_dump(@fopen('cache://nope', 'r', false, $ctx));

echo "-- ttl from the context; default client from ini and context options\n";
$t = stream_context_create(['cache' => ['client' => $c, 'ttl' => 30, 'chunk_size' => 4096]]);
file_put_contents('cache://withttl', str_repeat('t', 10000), 0, $t);
$ttl = $c->ttl('withttl');
var_dump($ttl > 29 && $ttl <= 30);
$d = stream_context_create(['cache' => ['options' => ['namespace' => cc_test_ns()]]]);
ini_set('cacheclient.socket', cc_socket());
var_dump(file_get_contents('cache://small', false, $d));

echo "-- refused: include, other modes\n";
var_dump(@include 'cache://small');
var_dump(@fopen('cache://small', 'a', false, $ctx), @fopen('cache://small', 'r+', false, $ctx));
?>
--EXPECT--
-- small value: a plain string
int(5)
string(5) "hello"
string(5) "hello"
-- multi-chunk value, not visible before fclose
string(9) "old value"
int(100200)
bool(true)
bool(true)
CacheClient: this key holds a cache:// stream: read it with fopen("cache://...", "r")
array(1) {
  [0]=>
  string(3) "big"
}
-- ranged reads and seek
bool(true)
string(6) "5600ff"
bool(true)
bool(true)
-- overwrite a stream with a stream, and with a small value
bool(true)
string(4) "tiny"
int(2)
-- values written by append() or set() are readable
string(11) "part1-part2"
bool(false)
bool(true)
-- file_exists / filesize / unlink
bool(true)
bool(false)
bool(true)
bool(false)
bool(false)
bool(false)
-- ttl from the context; default client from ini and context options
bool(true)
string(5) "hello"
-- refused: include, other modes
bool(false)
bool(false)
bool(false)
