--TEST--
Interop with cache-cli: it reads what PHP wrote and PHP reads what it wrote (native types, not PHP-serialized strings)
--SKIPIF--
<?php
$cli = getenv('CACHE_CLI');
if (!$cli || !is_executable($cli)) die('skip cache-cli not built (CACHE_CLI)');
if (strpos(shell_exec(escapeshellarg($cli) . ' --help 2>&1') ?? '', '--socket') === false) die('skip cache-cli has no --socket option');
?>
--FILE--
<?php
require __DIR__ . '/setup.inc';
/* cache-cli works in the default namespace: keys here carry the test's name instead. */
$c = new CacheClient(cc_socket());
$p = 't_cli_' . getmypid() . ':';
$cli = function (string ...$args) {
    $cmd = escapeshellarg(getenv('CACHE_CLI')) . ' --socket ' . escapeshellarg(cc_socket());
    foreach ($args as $a) $cmd .= ' ' . escapeshellarg($a);
    return rtrim(shell_exec($cmd . ' 2>&1') ?? '', "\n");
};

echo "-- PHP writes, cache-cli reads\n";
$c->set("{$p}str", 'hello from php');
$c->set("{$p}int", 42);
echo $cli('get', "{$p}str"), "\n";
echo $cli('get', "{$p}int"), "\n";
$c->set("{$p}n", 5);
echo $cli('incr', "{$p}n"), "\n";
var_dump($c->get("{$p}n"));

echo "-- cache-cli writes, PHP reads\n";
$cli('set', "{$p}greeting", 'hello');
var_dump($c->get("{$p}greeting"));
$cli('set', "{$p}num", '41');
var_dump($c->get("{$p}num"));              // bytes, as written
var_dump($c->increment("{$p}num"));        // a canonical decimal string counts as an int
var_dump($c->get("{$p}num"));
$cli('incr', "{$p}visits");
var_dump($c->get("{$p}visits"));
echo "-- a missing key: the same answer from both\n";
echo $cli('incr', "{$p}cli_hits"), "\n";
var_dump($c->increment("{$p}php_hits"));
echo $cli('incr', "{$p}cli_from", '5', '--initial', '100'), "\n";
var_dump($c->increment("{$p}php_from", 5, 100));
$c->deleteByPrefix($p);
?>
--EXPECT--
-- PHP writes, cache-cli reads
hello from php
42
6
int(6)
-- cache-cli writes, PHP reads
string(5) "hello"
string(2) "41"
int(42)
int(42)
int(1)
-- a missing key: the same answer from both
1
int(1)
105
int(105)
