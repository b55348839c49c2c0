--TEST--
Session locking: concurrent requests on one session are serialized with a prompt hand-over (no 150 ms polling); released after a fatal error; bounded wait; expiry of a dead holder's lock
--FILE--
<?php
require __DIR__ . '/setup.inc';
$ns = cc_test_ns();
$c = cc_fresh(['prefix' => 'L:']);
$tmp = sys_get_temp_dir() . '/cclock.' . getmypid();
@mkdir($tmp);
$ini = ['session.save_handler' => 'cacheclient',
        'session.save_path' => cc_socket() . "?prefix=L:&namespace=$ns",
        'session.use_cookies' => '0', 'session.use_strict_mode' => '0',
        'session.serialize_handler' => 'php_serialize', 'display_errors' => '1'];
/** Start a PHP request in the background; returns [proc, stdout pipe]. */
$start = function (string $code, array $extra = []) use ($ini) {
    $f = cc_tmp_script("<?php\n$code");
    $p = proc_open('exec ' . cc_php_cmd($f, $extra + $ini) . ' 2>&1', [1 => ['pipe', 'w']], $pipes);
    return [$p, $pipes[1]];
};
$finish = function (array $r): string {
    $out = stream_get_contents($r[1]);
    fclose($r[1]);
    proc_close($r[0]);
    return $out;
};
$wait_file = function (string $f) {
    $deadline = microtime(true) + 10;
    while (!file_exists($f) && microtime(true) < $deadline) usleep(1000);
};

echo "-- A holds the session for 400 ms; B waits and then sees A's data\n";
/* Both start at once; B waits for A's flag (A has the lock) before session_start(), so the
 * timing does not depend on how fast this process starts them. */
$b = $start('while (!file_exists("' . $tmp . '/a")) usleep(500);
    $t = microtime(true); session_id("s1"); session_start(); $got = microtime(true);
    $_SESSION["by"][] = "B"; printf("%.6f %.6f %s", $t, $got, json_encode($_SESSION["by"]));');
$a = $start('session_id("s1"); session_start(); touch("' . $tmp . '/a");
    usleep(400000); $_SESSION["by"] = ["A"]; $t = microtime(true); session_write_close(); printf("%.6f", $t);');
$released = (float)$finish($a);
[$b_start, $b_got, $b_data] = explode(' ', $finish($b));
var_dump($b_got >= $released);                 // B never had the session while A did
var_dump($b_got - $released < 0.05);           // and got it promptly after A's write and release
var_dump($b_got - $b_start > 0.2);             // it did wait
var_dump($b_data);
var_dump($c->get('s1'));

echo "-- a fatal error in the holder releases the lock at once\n";
$t = microtime(true);
$f = $start('session_id("s2"); session_start(); $_SESSION["x"] = 1; undefined_function();');
echo preg_match('/Fatal error/', $finish($f)) ? "fatal\n" : "no fatal\n";
$g = $start('$t = microtime(true); session_id("s2"); session_start(); printf("%.3f %s", microtime(true) - $t, json_encode($_SESSION));');
[$waited, $data] = explode(' ', $finish($g));
var_dump($waited < 0.5, $data);

echo "-- the wait is bounded by cacheclient.session_lock_wait; session_start() then fails\n";
$i = $start('while (!file_exists("' . $tmp . '/h")) usleep(500);
    session_id("s3"); $t = microtime(true); var_dump(@session_start()); $el = microtime(true) - $t;
    echo error_get_last()["message"] ?? "", "\n"; var_dump($el > 0.15 && $el < 1);',
            ['cacheclient.session_lock_wait' => '0.2']);
$h = $start('session_id("s3"); session_start(); touch("' . $tmp . '/h"); usleep(1500000);');
echo preg_replace('/\d+\.\d+ s/', 'N s', $finish($i));
$finish($h);

echo "-- a holder killed with SIGKILL: its lock expires after cacheclient.session_lock_expire\n";
$k = $start('session_id("s4"); session_start(); file_put_contents("' . $tmp . '/k.tmp", sprintf("%.6f", microtime(true)));
    rename("' . $tmp . '/k.tmp", "' . $tmp . '/k"); sleep(30);', ['cacheclient.session_lock_expire' => '1']);
$wait_file("$tmp/k");
proc_terminate($k[0], 9);
$finish($k);
$locked_at = (float)file_get_contents("$tmp/k");
$l = $start('session_id("s4"); var_dump(session_start()); printf("%.6f", microtime(true));');
[$ok, $got_at] = explode("\n", $finish($l));
echo $ok, "\n";
var_dump($got_at - $locked_at > 0.9 && $got_at - $locked_at < 5);
exec('rm -rf ' . escapeshellarg($tmp));
?>
--EXPECTF--
-- A holds the session for 400 ms; B waits and then sees A's data
bool(true)
bool(true)
bool(true)
string(9) "["A","B"]"
string(%d) "a:1:{s:2:"by";a:2:{i:0;s:1:"A";i:1;s:1:"B";}}"
-- a fatal error in the holder releases the lock at once
fatal
bool(true)
string(7) "{"x":1}"
-- the wait is bounded by cacheclient.session_lock_wait; session_start() then fails
bool(false)
session_start(): Failed to read session data: cacheclient (path: %s)
bool(true)
-- a holder killed with SIGKILL: its lock expires after cacheclient.session_lock_expire
bool(true)
bool(true)
