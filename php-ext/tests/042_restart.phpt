--TEST--
Server restart between two calls: reads and idempotent writes reconnect transparently, an increment is never replayed
--FILE--
<?php
require __DIR__ . '/setup.inc';
$s = new CcServer();
$c = new CacheClient($s->socket, ['persistent' => 'restart', 'namespace' => 'r']);
$c->set('a', 1);
var_dump($c->get('a'));

$s->restart();
// the persistent connection is dead: the GET is sent once more on a new connection
$v = $c->get('a', $found);                 // whether data survives a restart is the server's business
var_dump($found ? $v === 1 : $v === null);
var_dump($c->set('a', 2), $c->get('a'));

$s->restart();
$m = $c->getMulti(['a']);
var_dump($m === [] || $m === ['a' => 2], $c->exists('a') === ($m !== []));

$s->restart();
$c->set('n', 10);
$s->restart();
try {
    $c->increment('n');
    echo "increment went through\n";
} catch (CacheClientConnectionException $e) {
    echo get_class($e), " ", $e->getCode(), "\n";
}
var_dump(in_array($c->increment('n', 1, 100), [11, 101], true));  // the next call reconnects

// a private (non persistent) client behaves the same
$p = new CacheClient($s->socket);
$p->set('b', 'x');
$s->restart();
var_dump($p->set('b', 'y'), $p->get('b'));

// server down for good: a clear connection error, not a hang
$s->stop();
$t = microtime(true);
try { $c->get('a'); } catch (CacheClientConnectionException $e) { echo get_class($e), " ", $e->getCode(), "\n"; }
var_dump(microtime(true) - $t < 2);
?>
--EXPECT--
int(1)
bool(true)
bool(true)
int(2)
bool(true)
bool(true)
CacheClientConnectionException 202
bool(true)
bool(true)
string(1) "y"
CacheClientConnectionException 200
bool(true)
