--TEST--
pipeline(): calls recorded in the callable go in one write; results in call order as each method returns them; a server error is its slot's exception object; an exception in the callable sends nothing
--FILE--
<?php
require __DIR__ . '/setup.inc';
$c = cc_fresh(['prefix' => 'p:']);
$c->set('a', 'A');
$c->set('s', 'not a number');
$c->set('t', 1, 100);

echo "-- results in call order\n";
$r = $c->pipeline(function (CacheClientPipeline $p) {
    $p->set('x', [1, 2], 50)
      ->get('x')
      ->get('a');
    $p->get('missing');                  // a miss: null, as get()
    $p->getWithVersion('missing');       // null, as getWithVersion()
    $p->add('a', 'no');                  // false: exists
    $p->add('fresh', 'yes');             // true
    $p->replace('nope', 1);              // false
    $p->replace('a', 'AA');              // true
    $p->exists('a');
    $p->exists('missing');
    $p->increment('n');                  // 1, as increment()
    $p->increment('n', 10);              // 11
    $p->decrement('m', 2, 100, 60);      // 98
    $p->touch('t', 200);                 // true
    $p->touch('missing', 200);           // false
    $p->ttl('t');
    $p->ttl('a');                        // null: no expiry
    $p->ttl('missing');                  // false
    $p->delete('fresh');                 // 1
    $p->delete('fresh');                 // 0
});
var_dump(count($r));
var_dump($r[0], $r[1], $r[2], $r[3], $r[4], $r[5], $r[6], $r[7], $r[8], $r[9], $r[10]);
var_dump($r[11], $r[12], $r[13], $r[14], $r[15]);
var_dump($r[16] > 199 && $r[16] <= 200, $r[17], $r[18], $r[19], $r[20]);
var_dump($c->get('a'), $c->ttl('m') > 59, $c->get('n'));

echo "-- getWithVersion inside equals getWithVersion outside\n";
$r = $c->pipeline(fn($p) => $p->getWithVersion('a'));
var_dump($r[0] === $c->getWithVersion('a'));

echo "-- an error slot: the others still have their results\n";
$r = $c->pipeline(function ($p) {
    $p->set('before', 1);
    $p->increment('s');                  // E_TYPE: not an int
    $p->get('before');
});
var_dump($r[0], get_class($r[1]), $r[1] instanceof CacheClientException, $r[1]->getCode() === 106, $r[2]);
echo $r[1]->getMessage(), "\n";

echo "-- a value that cannot be decoded is its slot's exception too\n";
cc_raw_set('p:ser7', cc_mp_object('Foo', 7, 'opaque'));
$r = $c->pipeline(fn($p) => $p->get('ser7')->get('a'));
var_dump(get_class($r[0]), $r[1]);

echo "-- an exception in the callable sends nothing\n";
try {
    $c->pipeline(function ($p) {
        $p->set('never', 1);
        $p->delete('a');
        throw new RuntimeException('changed my mind');
    });
} catch (RuntimeException $e) {
    echo get_class($e), ': ', $e->getMessage(), "\n";
}
var_dump($c->exists('never'), $c->get('a'));

echo "-- a bad argument throws inside the callable, and nothing is sent\n";
try {
    $c->pipeline(function ($p) {
        $p->set('never', 1);
        $p->set('bad', fopen('php://memory', 'r'));
    });
} catch (TypeError $e) {
    echo get_class($e), "\n";
}
try {
    $c->pipeline(fn($p) => $p->set('never', 1)->touch('a', -1));
} catch (ValueError $e) {
    echo get_class($e), "\n";
}
var_dump($c->exists('never'));

echo "-- empty pipeline, and a pipeline used after its callable\n";
var_dump($c->pipeline(function ($p) {}));
$kept = null;
$c->pipeline(function ($p) use (&$kept) { $kept = $p; });
try {
    $kept->get('a');
} catch (Error $e) {
    echo get_class($e), ': ', $e->getMessage(), "\n";
}
try {
    new CacheClientPipeline();
} catch (Error $e) {
    echo get_class($e), "\n";
}

echo "-- the client can be used inside the callable; past absolute TTLs delete\n";
$r = $c->pipeline(function ($p) use ($c) {
    $c->set('inner', 'i');
    $p->get('inner');
    $p->set('a', 'gone', time() - 10);
    $p->replace('missing', 'x', time() - 10);
});
var_dump($r, $c->exists('a'));

echo "-- many calls in one pipeline\n";
$r = $c->pipeline(function ($p) {
    for ($i = 0; $i < 2000; $i++) {
        $p->set("k$i", $i);
    }
    for ($i = 0; $i < 2000; $i++) {
        $p->get("k$i");
    }
});
$ok = count($r) === 4000;
for ($i = 0; $i < 2000; $i++) {
    $ok = $ok && $r[$i] === true && $r[2000 + $i] === $i;
}
var_dump($ok);
?>
--EXPECT--
-- results in call order
int(21)
bool(true)
array(2) {
  [0]=>
  int(1)
  [1]=>
  int(2)
}
string(1) "A"
NULL
NULL
bool(false)
bool(true)
bool(false)
bool(true)
bool(true)
bool(false)
int(1)
int(11)
int(98)
bool(true)
bool(false)
bool(true)
NULL
bool(false)
int(1)
int(0)
string(2) "AA"
bool(true)
int(11)
-- getWithVersion inside equals getWithVersion outside
bool(true)
-- an error slot: the others still have their results
bool(true)
string(26) "CacheClientServerException"
bool(true)
bool(true)
int(1)
E_TYPE: operation not valid for the value's type
-- a value that cannot be decoded is its slot's exception too
string(33) "CacheClientSerializationException"
string(2) "AA"
-- an exception in the callable sends nothing
RuntimeException: changed my mind
bool(false)
string(2) "AA"
-- a bad argument throws inside the callable, and nothing is sent
TypeError
ValueError
bool(false)
-- empty pipeline, and a pipeline used after its callable
array(0) {
}
Error: CacheClientPipeline can only record calls inside the callable of CacheClient::pipeline()
Error
-- the client can be used inside the callable; past absolute TTLs delete
array(3) {
  [0]=>
  string(1) "i"
  [1]=>
  bool(true)
  [2]=>
  bool(false)
}
bool(false)
-- many calls in one pipeline
bool(true)
