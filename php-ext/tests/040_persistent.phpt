--TEST--
Persistent connections: reused across objects (and requests) by socket and id, opt-in
--FILE--
<?php
require __DIR__ . '/setup.inc';
$s = new CcServer();
$conns = fn() => (new CacheClient($s->socket))->stats()['connections_total'];

$before = $conns();                        // +1 (a private client)
for ($i = 0; $i < 5; $i++) {
    $c = new CacheClient($s->socket, ['persistent' => true]);
    $c->set("k$i", $i);
}
unset($c);
$after = $conns();                         // +1 again for this private client
var_dump($after - $before);                // the private one above + ONE persistent

// another id: another connection; same id: the same one
$a = new CacheClient($s->socket, ['persistent' => 'pool-a']);
$a->ping();
$a2 = new CacheClient($s->socket, ['persistent' => 'pool-a']);
$a2->ping();
var_dump($conns() - $after);               // +1 pool-a +1 stats client

// namespaces are switched on the shared connection as needed
$n1 = new CacheClient($s->socket, ['persistent' => 'ns', 'namespace' => 'one']);
$n2 = new CacheClient($s->socket, ['persistent' => 'ns', 'namespace' => 'two']);
$n1->set('k', 'one');
$n2->set('k', 'two');
var_dump($n1->get('k'), $n2->get('k'), $n1->get('k'));

// not persistent by default: every object has its own connection, closed with it
$x = $conns();
for ($i = 0; $i < 3; $i++) { (new CacheClient($s->socket))->ping(); }
var_dump($conns() - $x);
?>
--EXPECT--
int(2)
int(2)
string(3) "one"
string(3) "two"
string(3) "one"
int(4)
