--TEST--
cache:// stream of 100 MiB (beyond max_value_size): written and read in chunks, never whole in memory
--INI--
memory_limit=64M
--FILE--
<?php
require __DIR__ . '/setup.inc';
$c = cc_fresh();
$ctx = stream_context_create(['cache' => ['client' => $c]]);
stream_context_set_default(['cache' => ['client' => $c]]);
$block = '';
for ($i = 0; $i < 1024; $i++) $block .= pack('N', $i) . str_repeat(chr($i & 0xff), 1020);   // 1 MiB
$w = hash_init('sha256');
$f = fopen('cache://video', 'w', false, $ctx);
for ($i = 0; $i < 100; $i++) {
    $chunk = substr_replace($block, pack('N', $i), 0, 4);
    hash_update($w, $chunk);
    if (fwrite($f, $chunk) !== strlen($chunk)) { echo "short write\n"; break; }
}
var_dump(fclose($f));
var_dump(filesize('cache://video'));

$r = hash_init('sha256');
$f = fopen('cache://video', 'r', false, $ctx);
$n = 0;
while (!feof($f)) {
    $s = fread($f, 65536);
    $n += strlen($s);
    hash_update($r, $s);
}
fclose($f);
var_dump($n, hash_final($r) === hash_final($w));
// copy through stream_copy_to_stream to a local file works as for any stream
$tmp = tempnam(sys_get_temp_dir(), 'ccv');
$in = fopen('cache://video', 'r', false, $ctx);
$out = fopen($tmp, 'w');
var_dump(stream_copy_to_stream($in, $out));
fclose($in); fclose($out);
var_dump(filesize($tmp));
unlink($tmp);
var_dump(memory_get_peak_usage() < 24 * 1024 * 1024);
var_dump(unlink('cache://video', $ctx));
?>
--EXPECT--
bool(true)
int(104857600)
int(104857600)
bool(true)
int(104857600)
int(104857600)
bool(true)
bool(true)
