--TEST--
FastCGI worker (php-cgi -b, as PHP-FPM workers): a persistent connection serves many requests, and survives a request that died with a fatal error
--SKIPIF--
<?php
if (!is_executable('/usr/bin/php-cgi') || !is_executable('/usr/bin/cgi-fcgi')) die('skip php-cgi and cgi-fcgi (libfcgi-bin) needed');
?>
--FILE--
<?php
require __DIR__ . '/setup.inc';
$s = new CcServer();
$dir = $s->dir;
$fcgi = "$dir/fcgi.sock";
$script = "$dir/page.php";
file_put_contents($script, '<?php
$c = new CacheClient(' . var_export($s->socket, true) . ', ["persistent" => true]);
if (isset($_GET["fatal"])) { $c->set("before_fatal", 1); undefined_function(); }
echo $c->increment("hits"), " ", getmypid();
');
$cmd = 'PHP_FCGI_CHILDREN=0 PHP_FCGI_MAX_REQUESTS=1000 exec /usr/bin/php-cgi -n -d extension=' .
       escapeshellarg(cc_module_path()) . ' -d display_errors=0 -b ' . escapeshellarg($fcgi);
$cgi = proc_open($cmd, [['file', '/dev/null', 'r'], ['file', "$dir/cgi.out", 'w'], ['file', "$dir/cgi.err", 'w']], $pipes);
for ($i = 0; $i < 500 && !file_exists($fcgi); $i++) usleep(10000);
$request = function (string $query = '') use ($fcgi, $script) {
    $env = 'REQUEST_METHOD=GET SCRIPT_FILENAME=' . escapeshellarg($script) . ' QUERY_STRING=' . escapeshellarg($query);
    $out = shell_exec("env $env /usr/bin/cgi-fcgi -bind -connect " . escapeshellarg($fcgi) . ' 2>&1');
    return trim(substr($out, strpos($out, "\r\n\r\n") + 4));
};
$conns = fn() => (new CacheClient($s->socket))->stats()['connections_total'];
$before = $conns();
$pids = [];
for ($i = 1; $i <= 5; $i++) {
    [$n, $pid] = explode(' ', $request());
    echo $n, "\n";
    $pids[$pid] = true;
}
var_dump(count($pids));                    // one worker process served them all
var_dump($conns() - $before);              // its one persistent connection + our stats client
$request('fatal=1');
[$n] = explode(' ', $request());
echo $n, "\n";                             // the next request still works
var_dump($conns() - $before);
proc_terminate($cgi);
proc_close($cgi);
?>
--EXPECT--
1
2
3
4
5
int(1)
int(2)
6
int(3)
