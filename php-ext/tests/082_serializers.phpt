--TEST--
serializer "msgpack": plain objects stored as a msgpack map of their properties, read back as the same class; objects with their own serialization keep serialize()
--FILE--
<?php
require __DIR__ . '/setup.inc';

class Point { public function __construct(public int $x = 0, public ?Point $next = null, protected string $p = 'prot', private array $q = [1]) {} }
class Base { private $secret = 'base'; protected $shared = 'b'; }
class Child extends Base {
    private $secret = 'child';
    public readonly int $ro;
    public int $unset;               // uninitialized: left out, as serialize() does
    public function __construct() { $this->ro = 7; }
}
class Custom {
    public $v = 'x';
    public function __serialize(): array { return ['v' => strtoupper($this->v)]; }
    public function __unserialize(array $d): void { $this->v = $d['v'] . '!'; }
}
class Sleepy { public $a = 1; public $b = 2; public function __sleep() { return ['a']; } }
class Wakes { public $n = 1; public function __wakeup() { $this->n++; } }
enum Suit { case Hearts; }

$c = cc_fresh(['serializer' => 'msgpack']);

echo "-- round trips, class kept\n";
$o = new stdClass; $o->a = 1; $o->list = [1, 'two' => 2.5]; $o->bin = "b\xffn";
$o->nested = new stdClass; $o->nested->s = 'deep'; $o->{'0'} = 'zero';
$c->set('std', $o);
$got = $c->get('std');
var_dump($got == $o, get_class($got), get_class($got->nested), $got->{'0'});
$p = new Point(1, new Point(2));
$c->set('point', $p);
$got = $c->get('point');
var_dump($got == $p, $got->next->x, get_class($got->next));
$ch = new Child; $ch->unset = 1; unset($ch->unset);
$c->set('child', $ch);
$got = $c->get('child');
var_dump($got == $ch, $got->ro);
try { $got->unset; } catch (Error $e) { echo get_class($e), ': ', $e->getMessage(), "\n"; }
// private properties of parent and child are both kept
var_dump(str_contains(serialize($got), 's:12:"' . "\0Base\0secret" . '";s:4:"base"'),
         str_contains(serialize($got), 's:13:"' . "\0Child\0secret" . '";s:5:"child"'));
// objects in arrays, arrays in objects
$c->set('arr', ['p' => new Point(5), 'l' => [$o]]);
$got = $c->get('arr');
var_dump(get_class($got['p']), $got['p'] == new Point(5), $got['l'][0] == $o);
// an empty object
$c->set('empty', new stdClass);
var_dump($c->get('empty') == new stdClass);
// any client reads it, whatever its serializer option
var_dump(cc_client()->get('point') == $p);

echo "-- own serialization: serialize() is used (same behaviour as serializer php)\n";
$c->set('custom', new Custom);
var_dump($c->get('custom')->v);
$c->set('sleepy', new Sleepy);
var_dump($c->get('sleepy') == new Sleepy);
$s = new Sleepy; $s->b = 'changed'; $c->set('sleepy2', $s);
var_dump($c->get('sleepy2')->b);             // __sleep left it out: the default again
$c->set('wakes', new Wakes);                     // __wakeup runs on reading, as with unserialize()
var_dump($c->get('wakes')->n);
$c->set('suit', Suit::Hearts);
var_dump($c->get('suit') === Suit::Hearts);
$d = new DateTimeImmutable('2024-01-02 03:04:05.678 UTC');
$c->set('date', $d);
var_dump($c->get('date') == $d);
$c->set('ao', new ArrayObject([1, 2]));
var_dump($c->get('ao')->getArrayCopy() === [1, 2]);

echo "-- refused\n";
$cyc = new stdClass; $cyc->self = $cyc;
try { $c->set('cyc', $cyc); } catch (ValueError $e) { echo get_class($e), ': ', $e->getMessage(), "\n"; }
var_dump($c->exists('cyc'));
$deep = new stdClass; $cur = $deep;
for ($i = 0; $i < 40; $i++) { $cur->n = new stdClass; $cur = $cur->n; }
try { $c->set('deep', $deep); } catch (ValueError $e) { echo get_class($e), "\n"; }
try { $c->set('fn', function () {}); } catch (Exception $e) { echo $e->getMessage(), "\n"; }
try { $c->set('anon', new class {}); } catch (Exception $e) { echo $e->getMessage(), "\n"; }
// the php serializer stores the cycle (by reference) where msgpack cannot
cc_client()->set('cyc', $cyc);
var_dump(cc_client()->get('cyc')->self->self instanceof stdClass);

echo "-- allowed_classes applies as for serialize()\n";
$r = cc_client(['allowed_classes' => false])->get('point');
var_dump(get_class($r));
$r = cc_client(['allowed_classes' => ['Point']])->get('std');
var_dump(get_class($r));
$r = cc_client(['allowed_classes' => ['stdClass']])->get('arr');
var_dump(get_class($r['p']), get_class($r['l'][0]));

echo "-- values written by other clients\n";
cc_raw_set('typed', cc_mp_object('Point', 3, cc_mp(['x' => 'not an int'])));
try { $c->get('typed'); } catch (Throwable $e) { echo get_class($e), ': ', $e->getMessage(), "\n"; }
cc_raw_set('c_wrote', cc_mp_object('stdClass', 3, cc_mp(['name' => 'from C', 'n' => [1, 2]])));
var_dump($c->get('c_wrote'));
cc_raw_set('unknown', cc_mp_object('NoSuchClass', 3, cc_mp(['k' => 1])));
var_dump(get_class($c->get('unknown')));
cc_raw_set('notmap', cc_mp_object('stdClass', 3, cc_mp([1, 2])));
try { $c->get('notmap'); } catch (CacheClientSerializationException $e) { echo $e->getMessage(), "\n"; }
cc_raw_set('trailing', cc_mp_object('stdClass', 3, cc_mp(['a' => 1]) . "\xc0"));
try { $c->get('trailing'); } catch (CacheClientSerializationException $e) { echo $e->getMessage(), "\n"; }
cc_raw_set('badclass', cc_mp_object('Bad"Name', 3, cc_mp(['a' => 1])));
try { @$c->get('badclass'); } catch (CacheClientSerializationException $e) { echo $e->getMessage(), "\n"; }

echo "-- options\n";
try { cc_client(['serializer' => 'json']); } catch (ValueError $e) { echo $e->getMessage(), "\n"; }
ini_set('cacheclient.serializer', 'msgpack');
$ini = cc_client();
try { $ini->set('cyc', $cyc); } catch (ValueError $e) { echo "ini serializer msgpack: ", get_class($e), "\n"; }
$ini->set('std_ini', $o);
var_dump($ini->get('std_ini') == $o);
ini_set('cacheclient.serializer', 'bogus');
try { cc_client(); } catch (ValueError $e) { echo get_class($e), "\n"; }
ini_restore('cacheclient.serializer');
$c->flush();
?>
--EXPECTF--
-- round trips, class kept
bool(true)
string(8) "stdClass"
string(8) "stdClass"
string(4) "zero"
bool(true)
int(2)
string(5) "Point"
bool(true)
int(7)
Error: Typed property Child::$unset must not be accessed before initialization
bool(true)
bool(true)
string(5) "Point"
bool(true)
bool(true)
bool(true)
bool(true)
-- own serialization: serialize() is used (same behaviour as serializer php)
string(2) "X!"
bool(true)
int(2)
int(2)
bool(true)
bool(true)
bool(true)
-- refused
ValueError: CacheClient: values nested deeper than 32 levels cannot be stored (or an object contains itself)
bool(false)
ValueError
Serialization of 'Closure' is not allowed
Serialization of 'class@anonymous' is not allowed
bool(true)
-- allowed_classes applies as for serialize()
string(22) "__PHP_Incomplete_Class"
string(22) "__PHP_Incomplete_Class"
string(22) "__PHP_Incomplete_Class"
string(8) "stdClass"
-- values written by other clients
TypeError: Cannot assign string to property Point::$x of type int
object(stdClass)#%d (2) {
  ["name"]=>
  string(6) "from C"
  ["n"]=>
  array(2) {
    [0]=>
    int(1)
    [1]=>
    int(2)
  }
}
string(22) "__PHP_Incomplete_Class"
CacheClient: an object of class stdClass stored with the msgpack serializer holds no property map
CacheClient: trailing bytes after the properties of an object of class stdClass
CacheClient: %s
-- options
CacheClient: serializer must be "php", "igbinary" or "msgpack", "json" given
ini serializer msgpack: ValueError
bool(true)
ValueError
