--TEST--
Shared-memory reads (server --shm-reads true): every PHP type read back from the region equals what was set; getMulti mixes region hits and misses in order; a get after set never returns the old value; cacheclient.shm_reads=0 never maps the region; shmStats() and the ini entry
--FILE--
<?php
require __DIR__ . '/setup.inc';

class Pt { public $x = 1; protected $y = [2, 3]; private $z = 'z'; }

$s = new CcServer(['--shm-reads', 'true']);
$c = new CacheClient($s->socket, ['namespace' => 'shm']);

$st = $c->shmStats();
var_dump(array_keys($st), $st['mapped'], array_sum(array_slice($st, 1)));   // nothing yet, no I/O

/* get($k) until the region answers it (the server publishes a key after its second socket
 * read, once the reply is sent): [value, found, answered by the region]. */
function region_read(CacheClient $c, string $k): array
{
    for ($i = 0; $i < 300; $i++) {
        $h = $c->shmStats()['hits'];
        $v = $c->get($k, $found);
        if ($c->shmStats()['hits'] === $h + 1) return [$v, $found, true];
        usleep(2000);
    }
    return [$v, $found, false];
}

$obj = new stdClass; $obj->a = 1; $obj->b = ['c' => [1.5, null]];
$values = [
    'string' => 'hello region', 'empty' => '', 'binary' => "\0\xff\x80bin",
    'int' => 42, 'negint' => -PHP_INT_MAX - 1, 'float' => 3.25, 'nan' => NAN, 'true' => true,
    'false' => false, 'null' => null, 'list' => [1, 'two', 3.0, [4, [5, ['six' => 6]]]],
    'map' => ['a' => 1, 7 => 'seven', 'nested' => ['x' => ['y' => ['z' => true]]]],
    'stdclass' => $obj, 'object' => new Pt,
];
foreach ($values as $k => $v) $c->set("t:$k", $v);
foreach ($values as $k => $v) {
    [$got, $found, $hit] = region_read($c, "t:$k");
    if (is_object($v)) $same = $got instanceof $v && $got == $v;
    elseif (is_float($v) && is_nan($v)) $same = is_float($got) && is_nan($got);
    else $same = $got === $v;
    printf("%-8s hit=%d found=%d equal=%d\n", $k, $hit, $found, $same);
}
$st = $c->shmStats();
var_dump($st['mapped'], $st['hits'] >= count($values), $st['checksum'], $st['socket_reads'] ===
         $st['misses'] + $st['retries'] + $st['stale'] + $st['checksum']);

// larger than a region entry (4 KiB): always the socket, and right
$big = str_repeat('b', 10000);
$c->set('t:big', $big);
$h = $c->shmStats()['hits'];
$ok = true;
for ($i = 0; $i < 10; $i++) { $ok = $ok && $c->get('t:big') === $big; usleep(1000); }
var_dump($ok, $c->shmStats()['hits'] === $h);

// getMulti: 10 published keys among missing ones, results in request order
$keys = [];
for ($i = 0; $i < 10; $i++) {
    $c->set("m:$i", ['i' => $i, 'v' => str_repeat((string)$i, $i)]);
    $keys[] = "none:$i";
    $keys[] = "m:$i";
}
$published = 0;
for ($i = 0; $i < 10; $i++) $published += region_read($c, "m:$i")[2];
var_dump($published);
$expect = [];
for ($i = 0; $i < 10; $i++) $expect["m:$i"] = ['i' => $i, 'v' => str_repeat((string)$i, $i)];
$right = true;
for ($try = 0; $try < 20; $try++) {             // 10 hits unless the host stalled the server
    $b = $c->shmStats();
    $got = $c->getMulti($keys);
    $a = $c->shmStats();
    $right = $right && $got === $expect && array_keys($got) === array_keys($expect);
    if ($a['hits'] - $b['hits'] === 10) break;
    usleep(10000);
}
var_dump($right, $a['hits'] - $b['hits'], $a['socket_reads'] - $b['socket_reads'], $a['misses'] - $b['misses']);
$got = $c->getMulti(array_merge(['none:x'], $keys), true);
var_dump(count($got), $got['m:3']['value'] === $expect['m:3'], is_int($got['m:3']['version']));
var_dump($c->getWithVersion('m:4')['version'] === $got['m:4']['version']);

// a write is never followed by a read of the value it replaced
$c->set('w', 'v0');
region_read($c, 'w');
$bad = 0;
$h0 = $c->shmStats()['hits'];
for ($i = 1; $i <= 200; $i++) {
    $c->set('w', "v$i");
    for ($j = 0; $j < 3; $j++) {
        if ($c->get('w') !== "v$i") $bad++;
        if ($c->getMulti(['w'])['w'] !== "v$i") $bad++;
    }
    if ($i % 20 === 0) {                          // let the server publish the new value
        [$v] = region_read($c, 'w');
        if ($v !== "v$i") $bad++;
    }
}
var_dump($bad, $c->shmStats()['hits'] > $h0);
[$v, $found, $hit] = region_read($c, 'w');
$c->delete('w');
var_dump($hit, $c->get('w', $found), $found);
$c->set('w', 'again');
var_dump($c->get('w'));

// another namespace: its own keys, never this one's copies
$d = new CacheClient($s->socket, ['namespace' => 'shm2']);
var_dump($d->get('t:string', $found), $found);

// the ini entry: system-wide, not changeable at run time
var_dump(ini_get('cacheclient.shm_reads'), ini_set('cacheclient.shm_reads', '0'),
         ini_get('cacheclient.shm_reads'));

// cacheclient.shm_reads=0 in another php process: never mapped, right values from the socket
$script = cc_tmp_script('<?php
$c = new CacheClient(' . var_export($s->socket, true) . ', ["namespace" => "shm"]);
$ok = true;
for ($i = 0; $i < 50; $i++) {
    $ok = $ok && $c->get("t:string") === "hello region" && $c->getMulti(["m:1", "none:1"]) === ["m:1" => ["i" => 1, "v" => "1"]];
    usleep(1000);
}
$st = $c->shmStats();
echo json_encode([ini_get("cacheclient.shm_reads"), $ok, $st["mapped"], $st["hits"] > 0, $st["hits"] + $st["socket_reads"]]), "\n";
');
echo shell_exec(cc_php_cmd($script, ['cacheclient.shm_reads' => '0']));
echo shell_exec(cc_php_cmd($script, ['cacheclient.shm_reads' => '1']));
?>
--EXPECT--
array(7) {
  [0]=>
  string(6) "mapped"
  [1]=>
  string(4) "hits"
  [2]=>
  string(6) "misses"
  [3]=>
  string(7) "retries"
  [4]=>
  string(5) "stale"
  [5]=>
  string(8) "checksum"
  [6]=>
  string(12) "socket_reads"
}
bool(false)
int(0)
string   hit=1 found=1 equal=1
empty    hit=1 found=1 equal=1
binary   hit=1 found=1 equal=1
int      hit=1 found=1 equal=1
negint   hit=1 found=1 equal=1
float    hit=1 found=1 equal=1
nan      hit=1 found=1 equal=1
true     hit=1 found=1 equal=1
false    hit=1 found=1 equal=1
null     hit=1 found=1 equal=1
list     hit=1 found=1 equal=1
map      hit=1 found=1 equal=1
stdclass hit=1 found=1 equal=1
object   hit=1 found=1 equal=1
bool(true)
bool(true)
int(0)
bool(true)
bool(true)
bool(true)
int(10)
bool(true)
int(10)
int(10)
int(10)
int(10)
bool(true)
bool(true)
bool(true)
int(0)
bool(true)
bool(true)
NULL
bool(false)
string(5) "again"
NULL
bool(false)
string(1) "1"
bool(false)
string(1) "1"
["0",true,false,false,150]
["1",true,true,true,150]
