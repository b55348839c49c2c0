--TEST--
wait(): 0 peers acknowledge on a server without replication; bounds raise ValueError
--FILE--
<?php
require __DIR__ . '/setup.inc';
$c = cc_fresh();
$c->set('w', 1);
var_dump($c->wait(1, 0.2));
var_dump($c->wait(0));
foreach ([[-1, 1.0], [256, 1.0], [1, -0.5], [1, 61.0], [1, NAN]] as [$n, $t]) {
    try { $c->wait($n, $t); echo "no error\n"; }
    catch (ValueError $e) { echo get_class($e), ": ", $e->getMessage(), "\n"; }
}
var_dump($c->get('w'));
?>
--EXPECT--
int(0)
int(0)
ValueError: CacheClient::wait(): Argument #1 ($replicas) must be between 0 and 255
ValueError: CacheClient::wait(): Argument #1 ($replicas) must be between 0 and 255
ValueError: CacheClient::wait(): Argument #2 ($timeout) must be between 0 and 60 seconds
ValueError: CacheClient::wait(): Argument #2 ($timeout) must be between 0 and 60 seconds
ValueError: CacheClient::wait(): Argument #2 ($timeout) must be between 0 and 60 seconds
int(1)
