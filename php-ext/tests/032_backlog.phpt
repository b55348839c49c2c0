--TEST--
A connect that meets a full listen backlog retries until connect_timeout
--SKIPIF--
<?php if (!function_exists('pcntl_fork')) die('skip pcntl needed'); ?>
--FILE--
<?php
require __DIR__ . '/setup.inc';
$dir = sys_get_temp_dir() . '/ccbacklog.' . getmypid();
@mkdir($dir);
$path = "$dir/fake.sock";

// a server that starts accepting only after 300 ms, with a backlog of 1, filled up first
$pid = cc_fake_server($path, 1, 300);
$fill = [];
for ($i = 0; $i < 4; $i++) {
    $s = @stream_socket_client("unix://$path", $e, $m, 0.05, STREAM_CLIENT_CONNECT | STREAM_CLIENT_ASYNC_CONNECT);
    if ($s) $fill[] = $s;
}
$t = microtime(true);
$c = new CacheClient($path, ['connect_timeout' => 2]);
var_dump($c->get('k'));
$el = microtime(true) - $t;
var_dump($el > 0.1 && $el < 2);            // waited for the accept, did not fail at once

// nobody ever accepts: fails after connect_timeout, not before and not much later
exec("kill -9 $pid");
pcntl_waitpid($pid, $st);
$srv = stream_socket_server("unix://$dir/mute.sock", $e, $m, STREAM_SERVER_BIND | STREAM_SERVER_LISTEN,
    stream_context_create(['socket' => ['backlog' => 1]]));
$fill = [];
for ($i = 0; $i < 4; $i++) {
    $s = @stream_socket_client("unix://$dir/mute.sock", $e, $m, 0.05, STREAM_CLIENT_CONNECT | STREAM_CLIENT_ASYNC_CONNECT);
    if ($s) $fill[] = $s;
}
$t = microtime(true);
try {
    (new CacheClient("$dir/mute.sock", ['connect_timeout' => 0.3, 'read_timeout' => 0.3]))->ping();
} catch (CacheClientConnectionException $e) {
    echo get_class($e), "\n";
}
$el = microtime(true) - $t;
var_dump($el >= 0.25 && $el < 1.5);
exec('rm -rf ' . escapeshellarg($dir));
?>
--EXPECTF--
string(7) "fresh-k"
bool(true)
CacheClient%sException
bool(true)
