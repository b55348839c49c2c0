--TEST--
A call interrupted mid-reply (read timeout) leaves no stale reply behind: the next call never reads it
--SKIPIF--
<?php if (!function_exists('pcntl_fork')) die('skip pcntl needed'); ?>
--FILE--
<?php
require __DIR__ . '/setup.inc';
/* The fake server (setup.inc): GET "slow" answers after 1 s with "stale", any other GET
 * at once with "fresh-<key>". */
$dir = sys_get_temp_dir() . '/ccdirty.' . getmypid();
@mkdir($dir);
$path = "$dir/fake.sock";
$pid = cc_fake_server($path);
foreach ([false, 'dirty'] as $persistent) {
    $c = new CacheClient($path, ['read_timeout' => 0.3, 'persistent' => $persistent]);
    var_dump($c->get('a'));
    try {
        $c->get('slow');
    } catch (CacheClientTimeoutException $e) {
        echo get_class($e), "\n";
    }
    usleep(1200000);                // the stale reply has been sent by now
    var_dump($c->get('b'), $c->get('c'));
}
exec("kill -9 $pid");
pcntl_waitpid($pid, $st);
exec('rm -rf ' . escapeshellarg($dir));
?>
--EXPECT--
string(7) "fresh-a"
CacheClientTimeoutException
string(7) "fresh-b"
string(7) "fresh-c"
string(7) "fresh-a"
CacheClientTimeoutException
string(7) "fresh-b"
string(7) "fresh-c"
