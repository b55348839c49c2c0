--TEST--
TTL conventions: ttl() is null for no expiry and false for a miss; a TTL above 30 days is an absolute Unix time (memcached's rule), one in the past expires the write at once
--FILE--
<?php
require __DIR__ . '/setup.inc';
$c = cc_fresh();
$between = fn($v, $lo, $hi) => is_float($v) && $v > $lo && $v <= $hi;

echo "-- ttl(): seconds, null = no expiry, false = no such key\n";
$c->set('forever', 1);
$c->set('soon', 1, 10);
var_dump($c->ttl('forever'), $c->ttl('missing'), $between($c->ttl('soon'), 9, 10));

echo "-- relative up to 30 days\n";
$c->set('month', 1, 2592000);
var_dump($between($c->ttl('month'), 2591990, 2592000));

echo "-- above 30 days: an absolute Unix time, int or float\n";
$c->set('abs', 1, time() + 60);
var_dump($between($c->ttl('abs'), 58, 60));
$c->set('absf', 1, microtime(true) + 30.5);
var_dump($between($c->ttl('absf'), 29.5, 30.502));   // ms rounding
var_dump($c->touch('forever', time() + 100), $between($c->ttl('forever'), 98, 100));
var_dump($c->increment('cnt', 1, 0, time() + 50), $between($c->ttl('cnt'), 48, 50));
$c->append('log', 'x', time() + 40);
var_dump($between($c->ttl('log'), 38, 40));
$c->setMulti(['m1' => 1, 'm2' => 2], time() + 70);
var_dump($between($c->ttl('m2'), 68, 70));
$c->remember('rem', fn() => 'computed', time() + 80);
var_dump($between($c->ttl('rem'), 78, 80));
$ctx = stream_context_create(['cache' => ['client' => $c, 'ttl' => time() + 90]]);
file_put_contents('cache://file', 'data', 0, $ctx);
var_dump($between($c->ttl('file'), 88, 90));

echo "-- an absolute time in the past expires the write at once\n";
$c->set('old', 'v');
var_dump($c->set('old', 'new', time() - 10), $c->get('old', $found), $found);
var_dump($c->set('never', 'v', 2592001), $c->exists('never'));      // 1970-01-31: past
$c->set('r', 'v');
var_dump($c->replace('r', 'new', time() - 1), $c->exists('r'));
var_dump($c->replace('r', 'new', time() - 1));                      // no longer there
$c->set('t', 'v');
var_dump($c->touch('t', time() - 1), $c->exists('t'), $c->touch('t', time() - 1));
$c->setMulti(['a' => 1, 'b' => 2]);
var_dump($c->setMulti(['a' => 1, 'b' => 2], time() - 1), $c->getMulti(['a', 'b']));
$c->set('now', 'v');
var_dump($c->set('now', 'v', time()), $c->exists('now'));          // "now" is not the future
// add, cas, increment, append: written with the shortest TTL (1 ms), gone right after
var_dump($c->add('added', 'v', time() - 1), $c->add('added2', 'v', 1));
$c->set('cas', 'v');
$ver = $c->getWithVersion('cas')['version'];
var_dump($c->cas('cas', $ver, 'w', time() - 1));
var_dump($c->increment('ctr', 5, 0, time() - 1));
var_dump($c->append('stream', 'abc', time() - 1));
usleep(20000);
var_dump($c->exists('added'), $c->exists('cas'), $c->exists('ctr'), $c->exists('stream'));
// remember computes and returns, and nothing stays stored
var_dump($c->remember('rem2', fn() => 'computed', time() - 1), $c->exists('rem2'));

echo "-- out of range\n";
$try = function (string $what, callable $f) {
    try { $f(); echo "$what: no error\n"; }
    catch (Throwable $e) { echo "$what: ", get_class($e), ": ", $e->getMessage(), "\n"; }
};
$try('101 years ahead', fn() => $c->set('k', 1, time() + 101 * 366 * 86400));
$try('float far ahead', fn() => $c->touch('k', 1e18));
$try('negative', fn() => $c->set('k', 1, -5));
$try('stream context', fn() => fopen('cache://k', 'w', false,
    stream_context_create(['cache' => ['client' => $c, 'ttl' => 1e18]])));
var_dump($c->exists('k'));
?>
--EXPECT--
-- ttl(): seconds, null = no expiry, false = no such key
NULL
bool(false)
bool(true)
-- relative up to 30 days
bool(true)
-- above 30 days: an absolute Unix time, int or float
bool(true)
bool(true)
bool(true)
bool(true)
int(1)
bool(true)
bool(true)
bool(true)
bool(true)
bool(true)
-- an absolute time in the past expires the write at once
bool(true)
NULL
bool(false)
bool(true)
bool(false)
bool(true)
bool(false)
bool(false)
bool(true)
bool(false)
bool(false)
bool(true)
array(0) {
}
bool(true)
bool(false)
bool(true)
bool(true)
bool(true)
int(5)
int(3)
bool(false)
bool(false)
bool(false)
bool(false)
string(8) "computed"
bool(false)
-- out of range
101 years ahead: ValueError: CacheClient::set(): Argument #3 ($ttl) must be a number of seconds 0..2592000 (30 days), or a Unix time (seconds) at most 100 years ahead
float far ahead: ValueError: CacheClient::touch(): Argument #2 ($ttl) must be a number of seconds 0..2592000 (30 days), or a Unix time (seconds) at most 100 years ahead
negative: ValueError: CacheClient::set(): Argument #3 ($ttl) must be a finite number of seconds >= 0
stream context: ValueError: ttl must be a number of seconds 0..2592000 (30 days), or a Unix time (seconds) at most 100 years ahead
bool(false)
