--TEST--
new CacheClient() with no socket reaches a cacheserverd started with no options (README's ./scripts/start.sh), as cache-cli does
--SKIPIF--
<?php
if (!getenv('CACHE_CLI') || !is_executable(getenv('CACHE_CLI'))) die('skip cache-cli not built (CACHE_CLI)');
if (trim(shell_exec('unshare -m --propagation private sh -c "mount -t tmpfs none /run && echo ok" 2>/dev/null') ?? '') !== 'ok')
    die('skip needs root and unshare: the default socket lives in /run, which this test replaces by a private tmpfs');
?>
--FILE--
<?php
require __DIR__ . '/setup.inc';
/* A private mount namespace with an empty /run, so the default socket path is ours alone. */
$tmp = sys_get_temp_dir() . '/ccdefault.' . getmypid();
mkdir($tmp);
$q = 'escapeshellarg';
$php = $q(getenv('TEST_PHP_EXECUTABLE') ?: PHP_BINARY) . ' -n -d extension=' . $q(cc_module_path());
$code = '$c = new CacheClient(); $c->set("greeting", "hello from php"); echo $c->get("greeting"), "\n";';
$script = 'mount -t tmpfs none /run || exit 3; cd ' . $q($tmp) . ' || exit 3; ' .
    $q(getenv('CACHESERVERD')) . ' >server.out 2>&1 & pid=$!; ' .
    'for i in $(seq 200); do [ -S /run/cacheserverd/cacheserverd.sock ] && break; sleep 0.05; done; ' .
    "$php -r " . $q($code) . ' 2>&1; ' .
    $q(getenv('CACHE_CLI')) . ' get greeting 2>&1; ' .
    'kill $pid; wait $pid; echo "server exit $?"';
echo shell_exec('unshare -m --propagation private sh -c ' . $q($script) . ' 2>&1');
exec('rm -rf ' . $q($tmp));
?>
--EXPECT--
hello from php
hello from php
server exit 0
