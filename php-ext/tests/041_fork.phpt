--TEST--
After fork the child never uses the parent's socket (persistent and private connections)
--SKIPIF--
<?php if (!function_exists('pcntl_fork')) die('skip pcntl needed'); ?>
--FILE--
<?php
require __DIR__ . '/setup.inc';
$c = cc_fresh(['persistent' => 'fork']);
$p = cc_client();                          // a private connection
for ($i = 0; $i < 100; $i++) $c->set("k$i", "v$i");
var_dump($p->get('k1'));

$children = [];
for ($n = 0; $n < 4; $n++) {
    $pid = pcntl_fork();
    if ($pid === 0) {
        $bad = 0;
        for ($r = 0; $r < 300; $r++) {
            $i = ($r * 7 + $n) % 100;
            if ($c->get("k$i") !== "v$i") $bad++;
            if ($p->get("k$i") !== "v$i") $bad++;
        }
        $c->set("child$n", $bad);
        exit(0);
    }
    $children[] = $pid;
}
// the parent keeps using both connections at the same time
$bad = 0;
for ($r = 0; $r < 300; $r++) {
    $i = ($r * 3) % 100;
    if ($c->get("k$i") !== "v$i") $bad++;
    if ($p->getMulti(["k$i"]) !== ["k$i" => "v$i"]) $bad++;
}
foreach ($children as $pid) pcntl_waitpid($pid, $st);
var_dump($bad);
for ($n = 0; $n < 4; $n++) var_dump($c->get("child$n"));
// the parent's connections still work and are in sync
var_dump($c->get('k99'), $p->get('k98'));
?>
--EXPECT--
string(2) "v1"
int(0)
int(0)
int(0)
int(0)
int(0)
string(3) "v99"
string(3) "v98"
