--TEST--
allowed_classes is honoured when objects are read back
--FILE--
<?php
require __DIR__ . '/setup.inc';
class Good { public $v = 1; }
class Bad { public $v = 2; }
$w = cc_fresh();
$w->set('good', new Good);
$w->set('bad', new Bad);
$w->set('both', [new Good, new Bad]);

$r = cc_client(['allowed_classes' => ['Good']]);
var_dump(get_class($r->get('good')));
var_dump(get_class($r->get('bad')));
$both = $r->get('both');
var_dump(get_class($both[0]), get_class($both[1]));

$none = cc_client(['allowed_classes' => false]);
var_dump(get_class($none->get('good')));
var_dump($none->get('both')[0] instanceof __PHP_Incomplete_Class);
// scalars and arrays do not go through unserialize at all
$w->set('arr', ['a' => 1]);
var_dump($none->get('arr'));

try {
    cc_client(['allowed_classes' => 'Good']);
} catch (TypeError $e) {
    echo get_class($e), ": ", $e->getMessage(), "\n";
}
try {
    cc_client(['allowed_classes' => [1]]);
} catch (TypeError $e) {
    echo get_class($e), "\n";
}
?>
--EXPECT--
string(4) "Good"
string(22) "__PHP_Incomplete_Class"
string(4) "Good"
string(22) "__PHP_Incomplete_Class"
string(22) "__PHP_Incomplete_Class"
bool(true)
array(1) {
  ["a"]=>
  int(1)
}
TypeError: CacheClient: option "allowed_classes" must be of type array|bool, string given
TypeError
