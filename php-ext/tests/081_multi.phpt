--TEST--
Multi-key API: getMulti with versions, setMulti with per-key TTLs, exists of many keys, getAndTouch (GET + TOUCH pipelined)
--FILE--
<?php
require __DIR__ . '/setup.inc';
$c = cc_fresh(['prefix' => 'm:']);

echo "-- getMulti with versions equals getWithVersion\n";
$c->setMulti(['a' => 1, 'b' => ['x' => 'y'], 7 => null]);
$c->set('a', 'one'); // a new version
$m = $c->getMulti(['a', 'nope', 'b', 7], true);
var_dump(array_keys($m));
var_dump($m['a'] === $c->getWithVersion('a'), $m['b'] === $c->getWithVersion('b'),
         $m[7] === $c->getWithVersion('7'));
var_dump($m['a']);
var_dump($c->getMulti(['a', 'b'], false) === ['a' => 'one', 'b' => ['x' => 'y']]);
var_dump($c->getMulti([], true));

echo "-- setMulti with per-key TTLs\n";
var_dump($c->setMulti(['t1' => 1, 't2' => 2, 't3' => 3, 5 => 'five'], 100,
                      ['t2' => 10, 't3' => 0, 5 => 2.5]));
$t1 = $c->ttl('t1'); $t2 = $c->ttl('t2'); $t5 = $c->ttl('5');
var_dump($t1 > 99 && $t1 <= 100, $t2 > 9 && $t2 <= 10, $c->ttl('t3'), $t5 > 2 && $t5 <= 2.5);
var_dump($c->getMulti(['t1', 't2', 't3', 5]));
// an absolute Unix time (above 30 days), and one already past: that key is deleted
var_dump($c->setMulti(['u1' => 'x', 'u2' => 'y', 't1' => 'gone'], 0,
                      ['u1' => time() + 3600, 't1' => time() - 10]));
$u1 = $c->ttl('u1');
var_dump($u1 > 3590 && $u1 <= 3600, $c->ttl('u2'), $c->exists('t1'));
// every key past
var_dump($c->setMulti(['u2' => 'z'], 0, ['u2' => time() - 10]), $c->exists('u2'));
foreach ([['nokey' => 5], ['t2' => 'ten'], ['t2' => -1]] as $bad) {
    try {
        $c->setMulti(['t2' => 'changed'], 0, $bad);
    } catch (Throwable $e) {
        echo get_class($e), ': ', $e->getMessage(), "\n";
    }
}
var_dump($c->get('t2'));

echo "-- exists of many: how many exist\n";
var_dump($c->exists('a'), $c->exists('nope'));
var_dump($c->exists(['a', 'b', 'nope', 7, 't2']));
var_dump($c->exists(['nope']), $c->exists([]), $c->exists(['a', 'a']));
$many = [];
for ($i = 0; $i < 1500; $i++) { $many["e$i"] = $i; }
$c->setMulti($many);
var_dump($c->exists(array_keys($many)), $c->exists(array_merge(array_keys($many), ['x', 'y'])));

echo "-- getAndTouch\n";
$c->set('g', ['v' => 1], 100);
var_dump($c->getAndTouch('g', 500, $found), $found);
$t = $c->ttl('g');
var_dump($t > 499 && $t <= 500);
var_dump($c->getAndTouch('g', 0), $c->ttl('g'));
var_dump($c->getAndTouch('nope', 10, $found), $found, $c->exists('nope'));
$c->set('f', false);
var_dump($c->getAndTouch('f', 5, $found), $found);
// an absolute time already past: the value, then it is gone
var_dump($c->getAndTouch('g', time() - 10, $found), $found, $c->exists('g'));
try {
    $c->getAndTouch('f', -1);
} catch (ValueError $e) {
    echo get_class($e), "\n";
}
?>
--EXPECTF--
-- getMulti with versions equals getWithVersion
array(3) {
  [0]=>
  string(1) "a"
  [1]=>
  string(1) "b"
  [2]=>
  int(7)
}
bool(true)
bool(true)
bool(true)
array(2) {
  ["value"]=>
  string(3) "one"
  ["version"]=>
  int(%d)
}
bool(true)
array(0) {
}
-- setMulti with per-key TTLs
bool(true)
bool(true)
bool(true)
NULL
bool(true)
array(4) {
  ["t1"]=>
  int(1)
  ["t2"]=>
  int(2)
  ["t3"]=>
  int(3)
  [5]=>
  string(4) "five"
}
bool(true)
bool(true)
NULL
bool(false)
bool(true)
bool(false)
ValueError: CacheClient::setMulti(): Argument #3 ($ttls) names key "nokey" that is not in argument #1 ($items)
TypeError: CacheClient::setMulti(): Argument #3 ($ttls) must contain only int or float TTLs, string given
ValueError: CacheClient::setMulti(): Argument #3 ($ttls) must be a finite number of seconds >= 0
int(2)
-- exists of many: how many exist
bool(true)
bool(false)
int(4)
int(0)
int(0)
int(2)
int(1500)
int(1500)
-- getAndTouch
array(1) {
  ["v"]=>
  int(1)
}
bool(true)
bool(true)
array(1) {
  ["v"]=>
  int(1)
}
NULL
NULL
bool(false)
bool(false)
bool(false)
bool(true)
array(1) {
  ["v"]=>
  int(1)
}
bool(true)
bool(false)
ValueError
