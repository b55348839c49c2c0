--TEST--
One default socket: the ini default of cacheclient.socket is the socket cacheserverd, cache-cli and libcacheclient use by default (an absolute path, usable from php-fpm)
--SKIPIF--
<?php
$cli = getenv('CACHE_CLI');
if (!$cli || !is_executable($cli)) die('skip cache-cli not built (CACHE_CLI)');
?>
--FILE--
<?php
require __DIR__ . '/setup.inc';
// the compiled-in default: a PHP without any cacheclient.socket setting
$php = escapeshellarg(getenv('TEST_PHP_EXECUTABLE') ?: PHP_BINARY) . ' -n -d extension=' .
    escapeshellarg(cc_module_path());
$ini = trim(shell_exec("$php -r 'echo ini_get(\"cacheclient.socket\");'"));
// cacheserverd --help: "  --socket STR    default: PATH"
$help = shell_exec(escapeshellarg(getenv('CACHESERVERD')) . ' --help');
preg_match('/--socket STR +default: (\S+)/', $help, $m) or print("no socket default in --help:\n$help\n");
$server = $m[1] ?? '';
// cache-cli --help: "server socket (default $CACHE_SOCKET, else PATH)"
preg_match('/else (\S+)\)/', shell_exec(escapeshellarg(getenv('CACHE_CLI')) . ' --help'), $m);
$cli = $m[1] ?? '';
var_dump($ini === $server, $ini === $cli, $ini[0] === '/');
echo $ini, "\n";
?>
--EXPECT--
bool(true)
bool(true)
bool(true)
/run/cacheserverd/cacheserverd.sock
