--TEST--
compression_threshold: strings at or above it are stored zstd-compressed and read back transparently
--FILE--
<?php
require __DIR__ . '/setup.inc';
$c = cc_fresh(['compression_threshold' => 100]);
$big = str_repeat('compressible ', 1000);
$c->set('big', $big);
var_dump($c->get('big') === $big);
// stored as an object ("@zstd"), not as bytes
try { $c->length('big'); } catch (CacheClientServerException $e) { echo $e->getCode(), "\n"; }
// a client without the option reads it too
var_dump(cc_client()->get('big') === $big);
// small strings, and incompressible ones, are stored as plain bytes
$c->set('small', 'short');
var_dump($c->length('small'));
$rnd = random_bytes(5000);
$c->set('rnd', $rnd);
var_dump($c->length('rnd'), $c->get('rnd') === $rnd);
// arrays are not compressed: their strings stay readable by other clients
$c->set('arr', [$big]);
var_dump($c->get('arr')[0] === $big);
try { cc_client(['compression_threshold' => -1]); } catch (ValueError $e) { echo get_class($e), "\n"; }
?>
--EXPECT--
bool(true)
106
bool(true)
int(5)
int(5000)
bool(true)
bool(true)
ValueError
