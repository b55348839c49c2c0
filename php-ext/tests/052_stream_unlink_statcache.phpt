--TEST--
cache:// unlink clears PHP's stat cache, as unlink() of a plain file does: file_exists() after it says false without clearstatcache()
--FILE--
<?php
require __DIR__ . '/setup.inc';
$c = cc_fresh();
stream_context_set_default(['cache' => ['client' => $c, 'chunk_size' => 4096]]);

echo "-- a plain string\n";
file_put_contents('cache://f', 'hello');
var_dump(file_exists('cache://f'), filesize('cache://f')); // stat cached now
var_dump(unlink('cache://f'));
var_dump(file_exists('cache://f'), is_file('cache://f'));

echo "-- a chunked stream\n";
file_put_contents('cache://s', str_repeat('x', 10000));
var_dump(is_file('cache://s'), filesize('cache://s'));
var_dump(unlink('cache://s'));
var_dump(file_exists('cache://s'));

echo "-- the same with a plain file, for comparison\n";
$p = tempnam(sys_get_temp_dir(), 'cc');
var_dump(file_exists($p));
unlink($p);
var_dump(file_exists($p));
?>
--EXPECT--
-- a plain string
bool(true)
int(5)
bool(true)
bool(false)
bool(false)
-- a chunked stream
bool(true)
int(10000)
bool(true)
bool(false)
-- the same with a plain file, for comparison
bool(true)
bool(false)
