--TEST--
session.save_handler=cacheclient: read/write/destroy, TTL from gc_maxlifetime, strict mode, lazy_write, save_path options
--FILE--
<?php
require __DIR__ . '/setup.inc';
$ns = cc_test_ns();
$c = cc_fresh(['prefix' => 'S:']);
$run = function (string $code, array $ini = []) use ($ns) {
    $ini += ['session.save_handler' => 'cacheclient',
             'session.save_path' => cc_socket() . "?prefix=S:&namespace=$ns&persistent=1",
             'session.use_cookies' => '0', 'session.use_strict_mode' => '0',
             'session.gc_maxlifetime' => '120', 'session.serialize_handler' => 'php_serialize'];
    $f = cc_tmp_script("<?php\n$code");
    return shell_exec(cc_php_cmd($f, $ini) . ' 2>&1');
};

echo "-- write, read back in another request\n";
echo $run('session_id("abc123"); session_start(); $_SESSION["n"] = ($_SESSION["n"] ?? 0) + 1; echo session_status(), "\n";');
echo $run('session_id("abc123"); session_start(); $_SESSION["n"]++; echo $_SESSION["n"], "\n";');
var_dump($c->get('abc123'));
$ttl = $c->ttl('abc123');
var_dump($ttl > 100 && $ttl <= 120);
// the lock was released: marked free with a 1 ms TTL, so it is gone by now
usleep(5000);
var_dump($c->exists('abc123.lock') ? $c->get('abc123.lock') : 'no lock item');

echo "-- lazy_write: unchanged data only refreshes the TTL\n";
$c->touch('abc123', 5);
echo $run('session_id("abc123"); session_start(); echo $_SESSION["n"], "\n";', ['session.lazy_write' => '1']);
var_dump($c->ttl('abc123') > 100);

echo "-- destroy\n";
echo $run('session_id("abc123"); session_start(); var_dump(session_destroy());');
var_dump($c->exists('abc123'));

echo "-- strict mode: an unknown id is replaced by a new one\n";
echo $run('session_id("attackerchosen"); session_start(); var_dump(session_id() !== "attackerchosen", strlen(session_id()) >= 22); $_SESSION["x"] = 1;',
          ['session.use_strict_mode' => '1']);
var_dump($c->exists('attackerchosen'));
$c->set('knownid', 'a:1:{s:1:"k";s:1:"v";}');
echo $run('session_id("knownid"); session_start(); var_dump(session_id(), $_SESSION);', ['session.use_strict_mode' => '1']);

echo "-- regenerate id\n";
echo $run('session_id("regen1"); session_start(); $_SESSION["v"] = 1; session_regenerate_id(true); echo strlen(session_id()) > 10 ? "ok" : "bad", "\n";');
var_dump($c->exists('regen1'));

echo "-- bad save_path option, server down\n";
echo $run('var_dump(@session_start());', ['session.save_path' => cc_socket() . '?bogus=1']);
echo $run('var_dump(@session_start());', ['session.save_path' => '/nonexistent/x.sock']);
?>
--EXPECT--
-- write, read back in another request
2
2
string(18) "a:1:{s:1:"n";i:2;}"
bool(true)
string(12) "no lock item"
-- lazy_write: unchanged data only refreshes the TTL
2
bool(true)
-- destroy
bool(true)
bool(false)
-- strict mode: an unknown id is replaced by a new one
bool(true)
bool(true)
bool(false)
string(7) "knownid"
array(1) {
  ["k"]=>
  string(1) "v"
}
-- regenerate id
ok
bool(false)
-- bad save_path option, server down
bool(false)
bool(false)
