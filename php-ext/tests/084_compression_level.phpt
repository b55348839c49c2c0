--TEST--
compression_level (and ini cacheclient.compression_level): the zstd level used for compressed strings, 1..19, default 3
--FILE--
<?php
require __DIR__ . '/setup.inc';
/* Each level writes the same string in its own namespace; the server's per-namespace byte
 * counts (STATS ns.<name>.bytes) then compare the stored sizes. */
mt_srand(42);
$w = ['alpha', 'beta', 'gamma', 'delta', 'epsilon'];
$data = '';
for ($i = 0; $i < 20000; $i++) $data .= $w[mt_rand(0, 4)] . mt_rand(0, 999) . ' ';
$base = substr(cc_test_ns(), 0, 50);
$size = function (array $opts, string $tag) use ($data, $base) {
    $c = new CacheClient(cc_socket(), $opts + ['namespace' => "$base.$tag", 'compression_threshold' => 100]);
    $c->flush();
    $c->set('k', $data);
    if ($c->get('k') !== $data) echo "$tag: read back differs\n";
    $bytes = $c->stats()["ns.$base.$tag.bytes"] ?? null;
    $c->flush();
    return $bytes;
};
$l1 = $size(['compression_level' => 1], 'l1');
$l3 = $size(['compression_level' => 3], 'l3');
$l19 = $size(['compression_level' => 19], 'l19');
$def = $size([], 'def');
var_dump(is_int($l1) && $l1 > 0);
var_dump($l19 < $l3, $l3 < $l1);      // zstd: 45123, 49679, 49921 bytes for this string
var_dump($def === $l3);               // the default is level 3
ini_set('cacheclient.compression_level', '19');
var_dump($size([], 'ini19') === $l19);
var_dump($size(['compression_level' => 1], 'opt1') === $l1);   // the option wins over the ini
foreach ([0, 20, -1] as $bad) {
    try { cc_client(['compression_level' => $bad]); } catch (ValueError $e) { echo $e->getMessage(), "\n"; }
}
try { cc_client(['compression_level' => '3']); } catch (TypeError $e) { echo $e->getMessage(), "\n"; }
ini_set('cacheclient.compression_level', '25');
try { cc_client(); } catch (ValueError $e) { echo $e->getMessage(), "\n"; }
ini_restore('cacheclient.compression_level');
?>
--EXPECT--
bool(true)
bool(true)
bool(true)
bool(true)
bool(true)
bool(true)
CacheClient::__construct(): option "compression_level" must be 1..19 (zstd levels), 0 given
CacheClient::__construct(): option "compression_level" must be 1..19 (zstd levels), 20 given
CacheClient::__construct(): option "compression_level" must be 1..19 (zstd levels), -1 given
CacheClient::__construct(): option "compression_level" must be of type int, string given
CacheClient::__construct(): cacheclient.compression_level must be 1..19, 25 given
