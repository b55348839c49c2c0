--TEST--
CacheClient methods: get/found, getMulti, set/add/replace, setMulti, delete, exists, touch, ttl
--FILE--
<?php
require __DIR__ . '/setup.inc';
$c = cc_fresh();

echo "-- get and found\n";
var_dump($c->get('missing', $found), $found);
$c->set('f', false);
var_dump($c->get('f', $found), $found);
$c->set('n', null);
var_dump($c->get('n', $found), $found);
var_dump($c->get('f'));

echo "-- getMulti: hits only, in request order, int keys\n";
$c->setMulti(['b' => 2, 'a' => 1, 'c' => [3], 7 => 'seven', '' . 'x' => null]);
var_dump($c->getMulti(['c', 'nope', 'a', 7, 'b', 'x']));
var_dump($c->getMulti([]));
$keys = [];
for ($i = 0; $i < 50; $i++) { $keys[] = "k$i"; }
$c->setMulti(array_fill_keys($keys, 'v'));
var_dump(count($c->getMulti($keys)));

echo "-- add / replace\n";
var_dump($c->add('a', 'new'), $c->get('a'));
var_dump($c->add('fresh', 'x'), $c->get('fresh'));
var_dump($c->replace('nope', 1), $c->exists('nope'));
var_dump($c->replace('a', 'replaced'), $c->get('a'));

echo "-- delete / exists\n";
var_dump($c->exists('a'), $c->delete('a'), $c->exists('a'), $c->delete('a'));
var_dump($c->delete(['b', 'c', 'nope', 7]));
var_dump($c->delete([]));

echo "-- touch / ttl\n";
$c->set('t', 1);
var_dump($c->ttl('t'));
var_dump($c->touch('t', 100));
$t = $c->ttl('t');
var_dump($t > 99 && $t <= 100);
var_dump($c->touch('nope', 10), $c->ttl('nope'));
$c->set('t2', 1, 2.5);
$t = $c->ttl('t2');
var_dump($t > 2 && $t <= 2.5);
var_dump($c->touch('t2', 0), $c->ttl('t2'));
?>
--EXPECT--
-- get and found
NULL
bool(false)
bool(false)
bool(true)
NULL
bool(true)
bool(false)
-- getMulti: hits only, in request order, int keys
array(5) {
  ["c"]=>
  array(1) {
    [0]=>
    int(3)
  }
  ["a"]=>
  int(1)
  [7]=>
  string(5) "seven"
  ["b"]=>
  int(2)
  ["x"]=>
  NULL
}
array(0) {
}
int(50)
-- add / replace
bool(false)
int(1)
bool(true)
string(1) "x"
bool(false)
bool(false)
bool(true)
string(8) "replaced"
-- delete / exists
bool(true)
int(1)
bool(false)
int(0)
int(3)
int(0)
-- touch / ttl
NULL
bool(true)
bool(true)
bool(false)
bool(false)
bool(true)
bool(true)
NULL
