--TEST--
igbinary serializer for objects (when igbinary is loaded), readable by a php-serializer client
--SKIPIF--
<?php if (!extension_loaded('igbinary')) die('skip igbinary not loaded (run-tests.sh loads it when installed)'); ?>
--FILE--
<?php
require __DIR__ . '/setup.inc';
class P { public function __construct(public array $a = [], public ?P $p = null) {} }
enum E: int { case One = 1; }
$c = cc_fresh(['serializer' => 'igbinary']);
$v = new P([1, 'x' => 2.5], new P(['y']));
$c->set('o', $v);
var_dump($c->get('o') == $v);
$c->set('e', E::One);
var_dump($c->get('e') === E::One);
// a client configured for php serialize still reads igbinary objects (the serializer id is stored)
$r = cc_client();
var_dump($r->get('o') == $v);
// but not when allowed_classes restricts classes: igbinary cannot enforce it
try {
    cc_client(['allowed_classes' => ['P']])->get('o');
} catch (CacheClientSerializationException $e) {
    echo $e->getMessage(), "\n";
}
?>
--EXPECT--
bool(true)
bool(true)
bool(true)
CacheClient: a value of class P was stored with igbinary, which cannot honour allowed_classes
