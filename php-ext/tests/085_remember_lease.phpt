--TEST--
remember(): 8 concurrent php processes missing one key compute it once (the key's lease), the others wait for that value; without leases (get, compute, set) they all compute; wait bound, lease options, a throwing compute gives the lease back
--FILE--
<?php
require __DIR__ . '/setup.inc';
$ns = cc_test_ns();
$c = cc_fresh();
$tmp = sys_get_temp_dir() . '/ccrem.' . getmypid();
@mkdir($tmp);

/* Start 8 php processes that wait for a go file, then run $body; returns their output. */
function herd(string $tmp, string $ns, string $key, string $body): array
{
    @unlink("$tmp/go");
    @unlink("$tmp/count");
    touch("$tmp/count");
    $code = '<?php
        $c = new CacheClient(null, ["namespace" => ' . var_export($ns, true) . ']);
        $c->ping();
        $key = ' . var_export($key, true) . ';
        $compute = function (string $k) {
            $f = fopen(' . var_export("$tmp/count", true) . ', "a");   // one line per compute
            flock($f, LOCK_EX); fwrite($f, "x\n"); fclose($f);
            usleep(300000);
            return ["by" => getmypid(), "key" => $k];
        };
        touch(' . var_export("$tmp/ready.", true) . ' . getmypid());
        while (!file_exists(' . var_export("$tmp/go", true) . ')) usleep(200);
        ' . $body . '
        echo json_encode($v), "\n";';
    $f = cc_tmp_script($code);
    $procs = [];
    for ($i = 0; $i < 8; $i++) {
        $p = proc_open('exec ' . cc_php_cmd($f) . ' 2>&1', [1 => ['pipe', 'w']], $pipes);
        $procs[] = [$p, $pipes[1]];
    }
    $deadline = microtime(true) + 10;
    while (count(glob("$tmp/ready.*")) < 8 && microtime(true) < $deadline) usleep(1000);
    array_map('unlink', glob("$tmp/ready.*"));
    touch("$tmp/go");
    $out = [];
    foreach ($procs as [$p, $pipe]) {
        $out[] = trim(stream_get_contents($pipe));
        fclose($pipe);
        proc_close($p);
    }
    return [count(file("$tmp/count")), $out];
}

echo "-- 8 processes, remember(): one compute, one value\n";
$t = microtime(true);
[$computes, $out] = herd($tmp, $ns, 'hot', '$v = $c->remember($key, $compute, 60);');
var_dump($computes);
var_dump(count(array_unique($out)), json_decode($out[0], true)['key']);
var_dump(microtime(true) - $t < 5);
var_dump($c->get('hot') == json_decode($out[0], true), $c->ttl('hot') > 50);
$s = $c->stats();
var_dump($s['lease_grants'] >= 1, $s['lease_waits'] >= 7);

echo "-- the same without leases (get, compute, set): every process computes\n";
[$computes, $out] = herd($tmp, $ns, 'cold',
    '$v = $c->get($key, $found); if (!$found) { $v = $compute($key); $c->set($key, $v, 60); }');
var_dump($computes > 1);

echo "-- a hit does not compute\n";
$calls = 0;
$f = function ($k) use (&$calls) { $calls++; return "v-$k"; };
var_dump($c->remember('hot', $f, 60) == $c->get('hot'), $calls);

echo "-- another process holds the lease: the wait is bounded, then it computes without storing\n";
$holder = cc_tmp_script('<?php
    $c = new CacheClient(null, ["namespace" => ' . var_export($ns, true) . ']);
    $v = $c->remember("slow", function () { touch(' . var_export("$tmp/holding", true) . '); usleep(3000000); return "holder"; }, 60);
    echo $v;');
$hp = proc_open('exec ' . cc_php_cmd($holder) . ' 2>&1', [1 => ['pipe', 'w']], $hpipes);
$deadline = microtime(true) + 10;
while (!file_exists("$tmp/holding") && microtime(true) < $deadline) usleep(1000);
$t = microtime(true);
var_dump($c->remember('slow', $f, 60, ['wait' => 0.2]));
$el = microtime(true) - $t;
var_dump($el >= 0.19 && $el < 2.5, $calls);        // well before the holder's 3 s
var_dump($c->exists('slow'));                      // not stored by the waiter
$t = microtime(true);
var_dump($c->remember('slow', $f, 60));            // waits for the holder's value
var_dump(microtime(true) - $t < 4, $calls);
echo stream_get_contents($hpipes[1]), "\n";
fclose($hpipes[1]);
proc_close($hp);

echo "-- a compute that throws gives the lease back: the next caller computes at once\n";
try {
    $c->remember('boom', function () { throw new RuntimeException('no'); }, 60, ['lease' => 30]);
} catch (RuntimeException $e) {
    echo $e->getMessage(), "\n";
}
$t = microtime(true);
var_dump($c->remember('boom', $f, 60), microtime(true) - $t < 5); // not the lease's 30 s

echo "-- an unstorable value gives the lease back too\n";
try {
    $c->remember('fn', fn() => function () {}, 60);
} catch (Throwable $e) {
    echo get_class($e), "\n";
}
var_dump($c->remember('fn', $f, 60, ['wait' => 0]));

echo "-- options\n";
foreach ([['lease' => 0], ['lease' => 61], ['wait' => -1], ['wait' => 'x']] as $o) {
    try { $c->remember('o', $f, 1, $o); } catch (ValueError | TypeError $e) { echo get_class($e), ": ", $e->getMessage(), "\n"; }
}
var_dump($c->remember('o', $f, 1, ['lease' => 0.5, 'wait' => 0.1]));
array_map('unlink', glob("$tmp/*"));
rmdir($tmp);
?>
--EXPECTF--
-- 8 processes, remember(): one compute, one value
int(1)
int(1)
string(3) "hot"
bool(true)
bool(true)
bool(true)
bool(true)
bool(true)
-- the same without leases (get, compute, set): every process computes
bool(true)
-- a hit does not compute
bool(true)
int(0)
-- another process holds the lease: the wait is bounded, then it computes without storing
string(6) "v-slow"
bool(true)
int(1)
bool(false)
string(6) "holder"
bool(true)
int(1)
holder
-- a compute that throws gives the lease back: the next caller computes at once
no
string(6) "v-boom"
bool(true)
-- an unstorable value gives the lease back too
%s
string(4) "v-fn"
-- options
ValueError: CacheClient::remember(): Argument #4 ($options) option "lease" must be 0.001..60.000 seconds
ValueError: CacheClient::remember(): Argument #4 ($options) option "lease" must be 0.001..60.000 seconds
ValueError: CacheClient::remember(): Argument #4 ($options) option "wait" must be 0.000..60.000 seconds
TypeError: CacheClient::remember(): Argument #4 ($options) option "wait" must be int|float seconds, string given
string(3) "v-o"
