--TEST--
Interop with cache-cli: objects stored with serializer "msgpack" print their properties in get --json; compressed strings print as strings (get, --json, --meta, strlen)
--SKIPIF--
<?php
$cli = getenv('CACHE_CLI');
if (!$cli || !is_executable($cli)) die('skip cache-cli not built (CACHE_CLI)');
?>
--FILE--
<?php
require __DIR__ . '/setup.inc';
class Point { public function __construct(public int $x = 0, public ?Point $next = null, protected string $p = 'prot') {} }
$c = cc_fresh(['serializer' => 'msgpack', 'compression_threshold' => 100, 'compression_level' => 19]);
$cli = function (string ...$args) {
    $cmd = escapeshellarg(getenv('CACHE_CLI')) . ' --socket ' . escapeshellarg(cc_socket())
         . ' -n ' . escapeshellarg(cc_test_ns());
    foreach ($args as $a) $cmd .= ' ' . escapeshellarg($a);
    return rtrim(shell_exec($cmd . ' 2>&1') ?? '', "\n");
};

echo "-- msgpack-serialized objects\n";
$o = new stdClass; $o->name = 'café'; $o->tags = ['a', 'b']; $o->n = 1.5;
$c->set('std', $o);
echo $cli('get', '--json', 'std'), "\n";
$j = json_decode($cli('get', '--json', 'std'), true);
var_dump($j['@class'], $j['@data'] == (array)$o);
$c->set('point', new Point(1, new Point(2)));
echo $cli('get', '--json', 'point'), "\n";
// the php serializer's objects keep their serialized string
cc_client()->set('php', $o);
$j = json_decode($cli('get', '--json', 'php'), true);
var_dump($j['@serializer'], unserialize($j['@data']) == $o);

echo "-- compressed strings\n";
$big = str_repeat("compressible line\n", 200);
$c->set('big', $big);
try { $c->length('big'); } catch (CacheClientServerException $e) { echo "server strlen: ", $e->getCode(), "\n"; }
var_dump($cli('get', 'big') === rtrim($big, "\n"));
var_dump(json_decode($cli('get', '--json', 'big')) === $big);
echo $cli('strlen', 'big'), "\n";
$meta = $cli('get', '--meta', 'big');
var_dump(preg_match('/^type: bytes \(zstd-compressed by a client, (\d+) bytes stored\)$/m', $meta, $m) === 1,
         (int)$m[1] > 0 && (int)$m[1] < 100);
echo preg_replace(['/^version: .*$/m', '/\d+ bytes stored/'], ['version: ...', 'N bytes stored'],
                  explode("\nvalue:", $meta)[0]), "\n";
// cache-cli writes it back as plain bytes, which PHP reads as the same string
$cli('set', 'copy', $cli('get', 'big') . "\n");
var_dump($c->get('copy') === $big);
$c->flush();
?>
--EXPECT--
-- msgpack-serialized objects
{"@class": "stdClass", "@serializer": 3, "@data": {"name": "café", "tags": ["a", "b"], "n": 1.5}}
string(8) "stdClass"
bool(true)
{"@class": "Point", "@serializer": 3, "@data": {"x": 1, "next": {"@class": "Point", "@serializer": 3, "@data": {"x": 2, "next": null, "\u0000*\u0000p": "prot"}}, "\u0000*\u0000p": "prot"}}
int(1)
bool(true)
-- compressed strings
server strlen: 106
bool(true)
bool(true)
3600
bool(true)
bool(true)
type: bytes (zstd-compressed by a client, N bytes stored)
ttl: -1
version: ...
length: 3600
bool(true)
