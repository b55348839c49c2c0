<?php
/*
 * Per-operation cost, from PHP, of this extension against APCu, php-memcached and phpredis.
 * Timed: get, set and getMulti(10) of a 32-byte string and of a ~1 KiB nested array.
 * Every client talks over a Unix socket; APCu is in-process shared memory (the floor).
 * Run it through bench/php/run.sh, which starts the servers on temporary sockets.
 *
 *   php bench.php --cacheclient=SOCK [--cacheclient-socket=SOCK] [--memcached=SOCK]
 *                 [--redis=SOCK] [--iterations=N] [--rounds=R] [--markdown]
 * --cacheclient is a server with shm-reads on (the default: hot keys read from its shared-memory
 * region, docs/shm-reads.md); --cacheclient-socket one with shm-reads off, so every read goes
 * through the socket: column "cacheclient socket". Each column's region hits are printed.
 * Prints ns/op (median of R rounds of N operations each) and the ratios.
 */

$opt = getopt('', ['cacheclient:', 'cacheclient-socket:', 'memcached:', 'redis:', 'iterations:',
                   'rounds:', 'markdown']);
$iters = (int)($opt['iterations'] ?? 20000);
$rounds = (int)($opt['rounds'] ?? 5);

/* ---- payloads ---- */
$str32 = str_repeat('0123456789abcdef', 2);                         // 32 bytes
function nested_1k(): array
{
    $v = ['id' => 123456, 'name' => 'Ada Lovelace', 'active' => true, 'score' => 98.5,
          'tags' => ['php', 'cache', 'unix-socket', 'msgpack'],
          'address' => ['street' => '12 Analytical Engine Road', 'city' => 'London', 'zip' => 'NW1 6XE'],
          'history' => []];
    for ($i = 0; strlen(serialize($v)) < 1024; $i++) {
        $v['history'][] = ['at' => 1700000000 + $i, 'event' => "login-$i", 'ok' => $i % 2 === 0];
    }
    return $v;
}
$arr1k = nested_1k();

/* ---- adapters: each returns [name => [get, set, getMulti]] closures ---- */
$backends = [];

if (extension_loaded('apcu') && ini_get('apc.enable_cli')) {
    $backends['APCu'] = [
        'set' => fn($k, $v) => apcu_store($k, $v),
        'get' => fn($k) => apcu_fetch($k),
        'mget' => fn(array $ks) => apcu_fetch($ks),
    ];
}
if (isset($opt['cacheclient'])) {
    $cc = new CacheClient($opt['cacheclient'], ['namespace' => 'bench']);
    $backends['cacheclient'] = [
        'set' => fn($k, $v) => $cc->set($k, $v),
        'get' => fn($k) => $cc->get($k),
        'mget' => fn(array $ks) => $cc->getMulti($ks),
    ];
}
if (isset($opt['cacheclient-socket'])) {
    $ccs = new CacheClient($opt['cacheclient-socket'], ['namespace' => 'bench']);
    $backends['cacheclient socket'] = [
        'set' => fn($k, $v) => $ccs->set($k, $v),
        'get' => fn($k) => $ccs->get($k),
        'mget' => fn(array $ks) => $ccs->getMulti($ks),
    ];
}
if (isset($opt['memcached']) && extension_loaded('memcached')) {
    $mc = new Memcached();
    $mc->setOption(Memcached::OPT_SERIALIZER, Memcached::SERIALIZER_PHP);
    $mc->setOption(Memcached::OPT_COMPRESSION, false);
    $mc->addServer($opt['memcached'], 0);
    $backends['php-memcached'] = [
        'set' => fn($k, $v) => $mc->set($k, $v),
        'get' => fn($k) => $mc->get($k),
        'mget' => fn(array $ks) => $mc->getMulti($ks),
    ];
}
if (isset($opt['redis']) && extension_loaded('redis')) {
    $rd = new Redis();
    $rd->connect($opt['redis']);
    $rd->setOption(Redis::OPT_SERIALIZER, Redis::SERIALIZER_PHP);
    $backends['phpredis'] = [
        'set' => fn($k, $v) => $rd->set($k, $v),
        'get' => fn($k) => $rd->get($k),
        'mget' => fn(array $ks) => $rd->mGet($ks),
    ];
}

/* ---- timing ---- */
/** user + system CPU time of this process, in microseconds */
function cpu_us(array $ru): float
{
    return $ru['ru_utime.tv_sec'] * 1e6 + $ru['ru_utime.tv_usec'] + $ru['ru_stime.tv_sec'] * 1e6 + $ru['ru_stime.tv_usec'];
}

function median(array $xs): float
{
    sort($xs);
    return $xs[intdiv(count($xs), 2)];
}

$payloads = ['32 B string' => $str32, '1 KiB array' => $arr1k];
/* Rounds interleave the clients (A B C D, A B C D, ...) so that noise from the rest of the
 * machine falls on all of them alike; the median round counts. */
$results = $client_cpu = [];
foreach ($payloads as $pname => $value) {
    $keys = [];
    $tag = strlen($pname);                     // memcached keys may not contain spaces
    for ($i = 0; $i < 100; $i++) $keys[$i] = "bench:$tag:$i";
    $m = [];
    for ($g = 0; $g < 10; $g++) $m[$g] = array_slice($keys, $g * 10, 10);
    foreach ($backends as $name => $b) {
        foreach ($keys as $k) $b['set']($k, $value);
        if ($b['get']($keys[0]) !== $value || count($b['mget']($m[0])) !== 10) {
            fwrite(STDERR, "$name: $pname did not round-trip\n");
            exit(1);
        }
    }
    $ops = [
        "get $pname" => [fn($b) => fn($i) => $b['get']($keys[$i % 100]), $iters],
        "set $pname" => [fn($b) => fn($i) => $b['set']($keys[$i % 100], $value), $iters],
        "getMulti(10) $pname" => [fn($b) => fn($i) => $b['mget']($m[$i % 10]), intdiv($iters, 4)],
    ];
    foreach ($ops as $op => [$make, $n]) {
        $samples = $cpu = [];
        foreach ($backends as $name => $b) {
            $f = $make($b);
            for ($i = 0; $i < min(1000, $n); $i++) $f($i);        // warm up
        }
        for ($r = 0; $r < $rounds; $r++) {
            foreach ($backends as $name => $b) {
                $f = $make($b);
                $ru = getrusage();
                $t = hrtime(true);
                for ($i = 0; $i < $n; $i++) $f($i);
                $samples[$name][] = (hrtime(true) - $t) / $n;
                $cpu[$name][] = (cpu_us(getrusage()) - cpu_us($ru)) * 1000 / $n;
            }
        }
        foreach ($samples as $name => $xs) $results[$op][$name] = median($xs);
        foreach ($cpu as $name => $xs) $client_cpu[$op][$name] = median($xs);
    }
}

/* ---- report ---- */
$names = array_keys($backends);
$md = isset($opt['markdown']);
$head = array_merge(['operation'], array_map(fn($n) => "$n ns/op", $names));
if (isset($backends['cacheclient'])) {
    foreach ($names as $n) {
        if ($n !== 'cacheclient') $head[] = "$n / cacheclient";
    }
}
$rows = [];
foreach ($results as $op => $byName) {
    $row = [$op];
    foreach ($names as $n) $row[] = number_format($byName[$n], 0, '.', '');
    if (isset($byName['cacheclient'])) {
        foreach ($names as $n) {
            if ($n !== 'cacheclient') $row[] = sprintf('%.2f', $byName[$n] / $byName['cacheclient']);
        }
    }
    $rows[] = $row;
}
printf("# PHP %s, %d rounds x %d ops (getMulti: %d), median ns per operation\n", PHP_VERSION, $rounds, $iters, intdiv($iters, 4));
if ($md) {
    echo '| ', implode(' | ', $head), " |\n";
    echo '|', str_repeat('---|', count($head)), "\n";
    foreach ($rows as $r) echo '| ', implode(' | ', $r), " |\n";
} else {
    $w = array_map(fn($i) => max(array_map(fn($r) => strlen($r[$i]), array_merge([$head], $rows))), array_keys($head));
    foreach (array_merge([$head], $rows) as $r) {
        foreach ($r as $i => $cell) echo str_pad($cell, $w[$i] + 2, ' ', $i ? STR_PAD_LEFT : STR_PAD_RIGHT);
        echo "\n";
    }
}
echo "\n# CPU time of the PHP process per operation (user + system, ns): the client's own cost, without the wait\n";
$head2 = array_merge(['operation'], array_map(fn($n) => "$n", $names));
$rows2 = [];
foreach ($client_cpu as $op => $byName) {
    $row = [$op];
    foreach ($names as $n) $row[] = number_format($byName[$n], 0, '.', '');
    $rows2[] = $row;
}
if ($md) {
    echo '| ', implode(' | ', $head2), " |\n";
    echo '|', str_repeat('---|', count($head2)), "\n";
    foreach ($rows2 as $r) echo '| ', implode(' | ', $r), " |\n";
} else {
    $w = array_map(fn($i) => max(array_map(fn($r) => strlen($r[$i]), array_merge([$head2], $rows2))), array_keys($head2));
    foreach (array_merge([$head2], $rows2) as $r) {
        foreach ($r as $i => $cell) echo str_pad($cell, $w[$i] + 2, ' ', $i ? STR_PAD_LEFT : STR_PAD_RIGHT);
        echo "\n";
    }
}

foreach (['cacheclient' => $cc ?? null, 'cacheclient socket' => $ccs ?? null] as $n => $c) {
    if ($c) {
        $st = $c->shmStats();
        printf("\n# %s: region hits %d, socket reads %d (mapped: %s)\n", $n, $st['hits'],
               $st['socket_reads'], $st['mapped'] ? 'yes' : 'no');
    }
}

/* exit 1 when cacheclient is not faster than php-memcached and phpredis everywhere */
$slower = 0;
foreach ($results as $op => $byName) {
    foreach (['php-memcached', 'phpredis'] as $n) {
        if (isset($byName[$n], $byName['cacheclient']) && $byName['cacheclient'] >= $byName[$n]) {
            fwrite(STDERR, "cacheclient is not faster than $n for $op\n");
            $slower++;
        }
    }
}
exit($slower ? 3 : 0);
