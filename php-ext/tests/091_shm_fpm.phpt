--TEST--
Shared-memory reads under FastCGI (php-cgi -b with 8 children, as a PHP-FPM pool): 8 workers read and write the same 16 keys, persistent and private clients; no read ever returns a value older than the key's floor loaded before it, and the region answers reads
--SKIPIF--
<?php
if (!is_executable('/usr/bin/php-cgi') || !is_executable('/usr/bin/cgi-fcgi')) die('skip php-cgi and cgi-fcgi (libfcgi-bin) needed');
?>
--FILE--
<?php
require __DIR__ . '/setup.inc';

const WORKERS = 8;        // php-cgi children (PHP_FCGI_CHILDREN), all on one FastCGI socket
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

$cmd = 'PHP_FCGI_CHILDREN=' . WORKERS . ' PHP_FCGI_MAX_REQUESTS=100000 exec /usr/bin/php-cgi -n -d extension=' .
       escapeshellarg(cc_module_path()) . ' -d display_errors=1 -d error_reporting=-1 -b ' . escapeshellarg($fcgi);
$cgi = proc_open($cmd, [['file', '/dev/null', 'r'], ['file', "$dir/cgi.out", 'w'], ['file', "$dir/cgi.err", 'w']], $pipes);
for ($i = 0; $i < 500 && !file_exists($fcgi); $i++) usleep(10000);

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
proc_terminate($cgi);
proc_close($cgi);

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
