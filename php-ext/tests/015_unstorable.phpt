--TEST--
Values that cannot be stored throw, and nothing is written
--FILE--
<?php
require __DIR__ . '/setup.inc';
$c = cc_fresh();
$tests = [
    'closure' => fn() => 1,
    'in_array' => ['ok' => 1, 'f' => function () {}],
    'resource' => fopen('php://memory', 'r'),
    'generator' => (function () { yield 1; })(),
    'anonymous' => new class {},
];
$deep = [];
$p = &$deep;
for ($i = 0; $i < 40; $i++) { $p['x'] = []; $p = &$p['x']; }
unset($p);
$tests['too_deep'] = $deep;
$self = [1];
$self[] = &$self;
$tests['self_reference'] = $self;
foreach ($tests as $k => $v) {
    try {
        $c->set($k, $v);
        echo "$k: stored?!\n";
    } catch (Throwable $e) {
        echo "$k: ", get_class($e), ": ", $e->getMessage(), "\n";
    }
    var_dump($c->exists($k));
}
// 31 levels are fine (the protocol allows 32, but cacheserverd counts the request frame's
// own array as one level: see the php-ext README)
$ok = [];
$p = &$ok;
for ($i = 0; $i < 30; $i++) { $p[0] = []; $p = &$p[0]; }
unset($p);
var_dump($c->set('deep32', $ok), $c->get('deep32') === $ok);
?>
--EXPECTF--
closure: Exception: Serialization of 'Closure' is not allowed
bool(false)
in_array: Exception: Serialization of 'Closure' is not allowed
bool(false)
resource: TypeError: CacheClient: cannot store a value of type resource
bool(false)
generator: Exception: Serialization of 'Generator' is not allowed
bool(false)
anonymous: Exception: Serialization of 'class@anonymous' is not allowed
bool(false)
too_deep: ValueError: CacheClient: arrays nested deeper than 32 levels cannot be stored (or the array contains itself)
bool(false)
self_reference: ValueError: CacheClient: arrays nested deeper than 32 levels cannot be stored (or the array contains itself)
bool(false)
bool(true)
bool(true)
