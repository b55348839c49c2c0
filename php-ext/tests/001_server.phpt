--TEST--
The test server answers; the extension and its classes are loaded
--FILE--
<?php
require __DIR__ . '/setup.inc';
var_dump(extension_loaded('cacheclient'));
$c = cc_client();
var_dump($c->ping());
var_dump(is_subclass_of('CacheClientTimeoutException', 'CacheClientConnectionException'));
var_dump(is_subclass_of('CacheClientException', 'RuntimeException'));
foreach (['Connection', 'Protocol', 'Server', 'Serialization'] as $k) {
    var_dump(is_subclass_of("CacheClient{$k}Exception", 'CacheClientException'));
}
var_dump((new ReflectionClass('CacheClient'))->isFinal());
var_dump(in_array('cache', stream_get_wrappers()));
?>
--EXPECT--
bool(true)
bool(true)
bool(true)
bool(true)
bool(true)
bool(true)
bool(true)
bool(true)
bool(true)
bool(true)
