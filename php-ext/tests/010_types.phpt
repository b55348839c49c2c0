--TEST--
Every PHP type round-trips exactly (scalars, binary strings, floats, nested arrays)
--FILE--
<?php
require __DIR__ . '/setup.inc';
$c = cc_fresh();
$values = [
    'null' => null, 'true' => true, 'false' => false,
    'zero' => 0, 'neg' => -1, 'max' => PHP_INT_MAX, 'min' => PHP_INT_MIN, 'i300' => 300,
    'f' => 1.5, 'negzero' => -0.0, 'inf' => INF, 'ninf' => -INF, 'tiny' => 5e-324,
    'empty' => '', 'utf8' => "h\u{e9}llo \u{1F600}", 'binary' => "\x00\xff\xfe\x80 bytes\x00",
    'numeric_string' => '123', 'float_string' => '1.5',
    'list' => [1, 2, 3], 'empty_array' => [],
    'map' => ['a' => 1, 'b' => [true, null]],
    'int_keys' => [5 => 'five', 10 => 'ten'], 'neg_keys' => [-1 => 'x', 0 => 'y'],
    'unordered' => [1 => 'b', 0 => 'a'], 'holes' => [0 => 'a', 2 => 'c'],
    'mixed_keys' => [0 => 'a', 'k' => 'v', 7 => [1 => [2 => ['deep' => "\xff"]]]],
    'binary_keys' => ["\xff\x00" => 1, "\u{e9}" => 2],
    'nested' => ['l' => [[], [[]], ['x' => [1.25, -7, 'z']]]],
];
foreach ($values as $k => $v) {
    $c->set($k, $v);
}
$ok = true;
foreach ($values as $k => $v) {
    $got = $c->get($k, $found);
    if (!$found || serialize($got) !== serialize($v)) {
        echo "MISMATCH $k: expected ", var_export($v, true), " got ", var_export($got, true), "\n";
        $ok = false;
    }
}
// NAN is not equal to itself: check separately; -0.0 keeps its sign
$c->set('nan', NAN);
var_dump(is_nan($c->get('nan')));
var_dump(fdiv(1, $c->get("negzero")) === -INF);
// key order of maps is preserved
var_dump(array_keys($c->get('unordered')), array_keys($c->get('mixed_keys')));
// a list stays a list, a map with int keys stays a map with the same keys
var_dump(array_is_list($c->get('list')), array_is_list($c->get('holes')));
// a large array
$big = [];
for ($i = 0; $i < 100000; $i++) $big["k$i"] = [$i, "v$i", $i / 3];
$c->set('big', $big);
var_dump($c->get('big') === $big);
var_dump($ok);
?>
--EXPECT--
bool(true)
bool(true)
array(2) {
  [0]=>
  int(1)
  [1]=>
  int(0)
}
array(3) {
  [0]=>
  int(0)
  [1]=>
  string(1) "k"
  [2]=>
  int(7)
}
bool(true)
bool(false)
bool(true)
bool(true)
