--TEST--
increment/decrement, getWithVersion + cas, remember
--FILE--
<?php
require __DIR__ . '/setup.inc';
$c = cc_fresh();

echo "-- increment\n";
var_dump($c->increment('n'));                 // created as initial (0), then $by added: 1 (as C and cache-cli)
var_dump($c->increment('n'), $c->increment('n', 10), $c->decrement('n', 3));
var_dump($c->increment('m', 5, 100), $c->increment('m', 5, 100));
var_dump($c->decrement('d', 1, 0), $c->decrement('d'));   // goes negative, no floor at 0
$c->set('int', 41);
var_dump($c->increment('int'), $c->get('int'));
var_dump($c->increment('ttl', 1, 1, 50), $c->ttl('ttl') > 49);
$c->set('max', PHP_INT_MAX);
try { $c->increment('max'); } catch (CacheClientServerException $e) { echo get_class($e), " ", $e->getCode(), "\n"; }
var_dump($c->get('max') === PHP_INT_MAX);
$c->set('str', 'abc');
try { $c->increment('str'); } catch (CacheClientServerException $e) { echo get_class($e), " ", $e->getCode(), "\n"; }
$c->set('arr', [1]);
try { $c->decrement('arr'); } catch (CacheClientServerException $e) { echo $e->getCode(), "\n"; }

echo "-- getWithVersion / cas\n";
var_dump($c->getWithVersion('nope'));
$c->set('v', ['a' => 1]);
$r = $c->getWithVersion('v');
var_dump($r['value'], is_int($r['version']) && $r['version'] > 0);
var_dump($c->cas('v', $r['version'], 'second'));
var_dump($c->cas('v', $r['version'], 'third'));      // stale version
var_dump($c->get('v'));
var_dump($c->cas('gone', $r['version'], 'x'));       // missing key
try { $c->cas('v', 0, 'x'); } catch (ValueError $e) { echo get_class($e), "\n"; }

echo "-- remember\n";
$calls = 0;
$f = function (string $key) use (&$calls, $c) {
    $calls++;
    $c->set('side', 'effect');                       // the callback may use the client
    return ['computed' => $key];
};
var_dump($c->remember('r', $f, 10), $c->remember('r', $f, 10), $calls, $c->get('side'));
var_dump($c->ttl('r') > 9);
$c->set('stored_false', false);
var_dump($c->remember('stored_false', $f), $calls);
try {
    $c->remember('boom', function () { throw new RuntimeException('no'); });
} catch (RuntimeException $e) {
    echo $e->getMessage(), "\n";
}
var_dump($c->exists('boom'));
?>
--EXPECT--
-- increment
int(1)
int(2)
int(12)
int(9)
int(105)
int(110)
int(-1)
int(-2)
int(42)
int(42)
int(2)
bool(true)
CacheClientServerException 107
bool(true)
CacheClientServerException 106
106
-- getWithVersion / cas
NULL
array(1) {
  ["a"]=>
  int(1)
}
bool(true)
bool(true)
bool(false)
string(6) "second"
bool(false)
ValueError
-- remember
array(1) {
  ["computed"]=>
  string(1) "r"
}
array(1) {
  ["computed"]=>
  string(1) "r"
}
int(1)
string(6) "effect"
bool(true)
bool(false)
int(1)
no
bool(false)
