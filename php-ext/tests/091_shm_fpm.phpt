--TEST--
Shared-memory reads under php-fpm (a master with a static pool of 8 workers on a Unix socket): 8 workers read and write the same 16 keys, persistent and private clients; no read ever returns a value older than the key's floor loaded before it, and the region answers reads
--SKIPIF--
<?php
// php-fpm of this PHP's version (the extension is built for it): php-fpmX.Y or php-fpm
function cc_fpm_binary(): ?string
{
    $ver = PHP_MAJOR_VERSION . '.' . PHP_MINOR_VERSION;
    $dirs = array_unique(array_merge(['/usr/sbin', '/usr/local/sbin'], explode(':', getenv('PATH') ?: '')));
    foreach (["php-fpm$ver", 'php-fpm'] as $name) {
        foreach ($dirs as $d) {
            $bin = "$d/$name";
            if ($d !== '' && is_file($bin) && is_executable($bin) &&
                str_starts_with((string)shell_exec(escapeshellarg($bin) . ' -n -v 2>/dev/null'), "PHP $ver.")) {
                return $bin;
            }
        }
    }
    return null;
}
if (cc_fpm_binary() === null) die('skip php-fpm ' . PHP_MAJOR_VERSION . '.' . PHP_MINOR_VERSION . ' needed (Debian package php-fpm)');
if (!is_executable('/usr/bin/cgi-fcgi')) die('skip cgi-fcgi needed (Debian package libfcgi-bin)');
?>
--FILE--
<?php
require __DIR__ . '/setup.inc';

const WORKERS = 8;        // php-fpm workers (pm = static), all on one FastCGI socket
const DRIVERS = 8;        // concurrent request loops (cgi-fcgi), so every worker is busy
const PER_DRIVER = 500;   // requests per loop (about 3 s in all)
const KEYS = 16;

$s = new CcServer(['--shm-reads', 'true', '--threads', '2']);
$dir = $s->dir;
$fcgi = "$dir/fcgi.sock";
$script = "$dir/page.php";

/* Every key holds an int: a sequence number taken from the cache itself (INCR of "seq").
 *
 * The floor of key k is the highest sequence a writer has seen acknowledged for k: a
 * writer raises it after its SET returned, a reader loads it before its read, and any value
 * read lower than that floor is a stale read (the region, or the socket, answered a value the
 * server had already replaced when the read started).
 *
 * The floor lives in a file per key, "floor.<k>", under flock: readers take LOCK_SH to read
 * it, writers take LOCK_EX and read-max-write it, so it only ever grows. A writer holds that
 * LOCK_EX across its whole write (INCR, SET, raise the floor): writes of one key are thus
 * serialized, and the key's values only grow with time. Without that, two writers could
 * race (A takes 5, B takes 6, B sets 6 and raises the floor to 6, A sets 5): the key would
 * rightly hold 5 under a floor of 6, a false alarm. Writers of different keys, and all
 * readers (which hold LOCK_SH only while loading the floor, never across the read), run
 * concurrently, so the reads race with SETs of the same key on the server. */
file_put_contents($script, '<?php
const KEYS = ' . KEYS . ';
$dir = ' . var_export($dir, true) . ';
$i = (int)($_GET["i"] ?? 0);
$write = $i % 5 === 0;                           // 20% writes
$persistent = $i % 2 === 1;                      // half the requests on the worker\'s persistent connection
$multi = !$write && intdiv($i, 2) % 2 === 1;     // half the reads getMulti of 4 keys
$c = new CacheClient(' . var_export($s->socket, true) . ', ["namespace" => "fpm", "persistent" => $persistent]);

function floor_load(string $dir, int $k): int
{
    $fp = fopen("$dir/floor.$k", "r");
    flock($fp, LOCK_SH);
    $v = (int)stream_get_contents($fp);
    flock($fp, LOCK_UN);
    fclose($fp);
    return $v;
}

$h0 = $c->shmStats()["hits"];
$reads = 0;
$fails = [];
try {
    if ($write) {
        $k = random_int(0, KEYS - 1);
        $fp = fopen("$dir/floor.$k", "c+");
        flock($fp, LOCK_EX);
        $seq = $c->increment("seq");
        $c->set("k$k", $seq);
        // the SET returned: raise the floor (read-max-write, under the lock)
        $floor = max((int)stream_get_contents($fp), $seq);
        ftruncate($fp, 0);
        rewind($fp);
        fwrite($fp, (string)$floor);
        fflush($fp);
        flock($fp, LOCK_UN);
        fclose($fp);
    } else {
        $keys = $multi ? array_rand(range(0, KEYS - 1), 4) : [random_int(0, KEYS - 1)];
        $floors = [];
        foreach ($keys as $k) $floors[$k] = floor_load($dir, $k);   // BEFORE the read
        if ($multi) {
            $got = $c->getMulti(array_map(fn($k) => "k$k", $keys));
        } else {
            $v = $c->get("k{$keys[0]}", $found);
            $got = $found ? ["k{$keys[0]}" => $v] : [];
        }
        foreach ($floors as $k => $floor) {
            $reads++;
            $op = $multi ? "getMulti" : "get";
            if (!array_key_exists("k$k", $got)) {
                $fails[] = "MISS key=k$k floor=$floor op=$op";  // every key is set before the workers start, never deleted
            } elseif (!is_int($got["k$k"]) || $got["k$k"] < $floor) {
                $fails[] = "STALE key=k$k value=" . var_export($got["k$k"], true) . " floor=$floor op=$op";
            }
        }
    }
} catch (Throwable $e) {
    $fails[] = "ERROR " . get_class($e) . ": " . $e->getMessage();
}
$st = $c->shmStats();
foreach ($fails as $f) echo "FAIL $f pid=", getmypid(), " persistent=", (int)$persistent, " i=$i\n";
// hits: this request\'s region hits (a persistent client\'s counts run across requests)
printf("RESP pid=%d persistent=%d write=%d reads=%d hits=%d fails=%d worker_hits=%d mapped=%d\n",
       getmypid(), $persistent, $write, $reads, $st["hits"] - $h0, count($fails), $st["hits"], $st["mapped"]);
');

// every key set, and its floor written, before the workers start
$c = new CacheClient($s->socket, ['namespace' => 'fpm']);
for ($k = 0; $k < KEYS; $k++) {
    $seq = $c->increment('seq');
    $c->set("k$k", $seq);
    file_put_contents("$dir/floor.$k", (string)$seq);
}

/* A php-fpm master of its own (config, socket, pid file and log in the test's directory), in
 * the foreground, with a static pool of WORKERS workers that load the extension under test. No
 * php.ini (-n): the extension and the INI settings come with -d, as for the CLI. As root (the
 * CI runs the tests as root) php-fpm refuses to run a pool as root unless given -R. */
function cc_fpm_binary(): ?string
{
    $ver = PHP_MAJOR_VERSION . '.' . PHP_MINOR_VERSION;
    $dirs = array_unique(array_merge(['/usr/sbin', '/usr/local/sbin'], explode(':', getenv('PATH') ?: '')));
    foreach (["php-fpm$ver", 'php-fpm'] as $name) {
        foreach ($dirs as $d) {
            $bin = "$d/$name";
            if ($d !== '' && is_file($bin) && is_executable($bin) &&
                str_starts_with((string)shell_exec(escapeshellarg($bin) . ' -n -v 2>/dev/null'), "PHP $ver.")) {
                return $bin;
            }
        }
    }
    return null;
}
$conf = "$dir/php-fpm.conf";
file_put_contents($conf, "[global]
pid = $dir/php-fpm.pid
error_log = $dir/php-fpm.log
log_level = notice
daemonize = no

[cc091]
listen = $fcgi
listen.mode = 0600
pm = static
pm.max_children = " . WORKERS . "
pm.max_requests = 0
catch_workers_output = yes
decorate_workers_output = no
");
$root = function_exists('posix_getuid') ? posix_getuid() === 0 : trim((string)shell_exec('id -u')) === '0';
$cmd = 'exec ' . escapeshellarg(cc_fpm_binary()) . ' -n -d extension=' . escapeshellarg(cc_module_path()) .
       ' -d display_errors=1 -d error_reporting=-1 -y ' . escapeshellarg($conf) . ' -F' . ($root ? ' -R' : '');
$fpm = proc_open($cmd, [['file', '/dev/null', 'r'], ['file', "$dir/fpm.out", 'w'], ['file', "$dir/fpm.err", 'w']], $pipes);
$fpm_pid = proc_get_status($fpm)['pid'];
// the master listens before it forks the workers; requests queue on the socket until they accept
for ($i = 0; $i < 500 && !file_exists($fcgi) && proc_get_status($fpm)['running']; $i++) usleep(10000);
if (!file_exists($fcgi)) {
    echo "FAIL: php-fpm did not start: ", @file_get_contents("$dir/fpm.err"), @file_get_contents("$dir/php-fpm.log"), "\n";
}

$t0 = microtime(true);
$drivers = [];
for ($d = 0; $d < DRIVERS; $d++) {
    $loop = 'i=0; while [ $i -lt ' . PER_DRIVER . ' ]; do ' .
        'REQUEST_METHOD=GET SCRIPT_FILENAME=' . escapeshellarg($script) . ' QUERY_STRING="i=$i" ' .
        '/usr/bin/cgi-fcgi -bind -connect ' . escapeshellarg($fcgi) . ' 2>&1; echo; i=$((i + 1)); done';
    $drivers[] = proc_open(['/bin/sh', '-c', $loop], [['file', '/dev/null', 'r'], ['file', "$dir/driver.$d", 'w'],
                           ['file', "$dir/driver.$d.err", 'w']], $pipes);
}
foreach ($drivers as $p) proc_close($p);
$elapsed = microtime(true) - $t0;
// stop the master gracefully (SIGQUIT), harder if it lingers, and wait for it: it reaps its workers
foreach ([3 => 5.0, 15 => 5.0, 9 => 5.0] as $sig => $wait) {
    proc_terminate($fpm, $sig);
    for ($t = microtime(true); proc_get_status($fpm)['running'] && microtime(true) - $t < $wait; ) usleep(10000);
    if (!proc_get_status($fpm)['running']) break;
    fprintf(STDERR, "091: php-fpm still running %.0f s after signal %d\n", $wait, $sig);
}
proc_close($fpm);

$tot = ['requests' => 0, 'writes' => 0, 'reads' => 0, 'hits' => 0, 'hits_persistent' => 0,
        'hits_private' => 0, 'fails' => 0];
$pids = [];
$fails = [];
$other = [];
for ($d = 0; $d < DRIVERS; $d++) {
    foreach (file("$dir/driver.$d", FILE_IGNORE_NEW_LINES) as $line) {
        $line = rtrim($line, "\r");
        if (preg_match('/^RESP pid=(\d+) persistent=(\d) write=(\d) reads=(\d+) hits=(\d+) fails=(\d+)/', $line, $m)) {
            $tot['requests']++;
            $tot['writes'] += $m[3];
            $tot['reads'] += $m[4];
            $tot['hits'] += $m[5];
            $tot[$m[2] ? 'hits_persistent' : 'hits_private'] += $m[5];
            $tot['fails'] += $m[6];
            $pids[$m[1]] = true;
        } elseif (str_starts_with($line, 'FAIL ')) {
            $fails[] = $line;
        } elseif ($line !== '' && !preg_match('/^(Content-type|X-Powered-By|Status):/i', $line)) {
            $other[] = $line;
        }
    }
}
// the failures first (key, value read, floor), so a diff shows them
foreach (array_slice($fails, 0, 20) as $f) echo $f, "\n";
foreach (array_slice($other, 0, 10) as $o) echo "unexpected output: $o\n";
if (getenv('CC_TEST_VERBOSE')) fprintf(STDERR, "091: %.1f s\n", $elapsed);
printf("requests=%d writes=%d reads=%d region_hits=%d (persistent %d, private %d) stale_or_missing=%d workers=%d\n",
       $tot['requests'], $tot['writes'], $tot['reads'], $tot['hits'], $tot['hits_persistent'],
       $tot['hits_private'], count($fails), count($pids));
var_dump($tot['requests'] === DRIVERS * PER_DRIVER, $tot['fails'] === 0 && $fails === [] && $other === []);
var_dump($tot['hits'] > 0, $tot['hits_persistent'] > 0, $tot['hits_private'] > 0);   // else it proves nothing
var_dump(count($pids) === WORKERS);
// no process left behind: the master is gone (reaped above), and so are the workers that answered
for ($t = microtime(true); microtime(true) - $t < 5; usleep(10000)) {
    $left = array_values(array_filter(array_keys($pids), fn($p) => file_exists("/proc/$p")));
    if ($left === []) break;
}
if ($left !== []) echo "php-fpm workers left running: ", implode(' ', $left), "\n";
var_dump($left === [] && !file_exists("/proc/$fpm_pid"));
// the server agrees with the last floors
$ok = true;
for ($k = 0; $k < KEYS; $k++) $ok = $ok && $c->get("k$k") === (int)file_get_contents("$dir/floor.$k");
var_dump($ok);
?>
--EXPECTF--
requests=4000 writes=800 reads=%d region_hits=%d (persistent %d, private %d) stale_or_missing=0 workers=8
bool(true)
bool(true)
bool(true)
bool(true)
bool(true)
bool(true)
bool(true)
bool(true)
