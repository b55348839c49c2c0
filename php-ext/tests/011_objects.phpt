--TEST--
Objects keep their class (serialize/__serialize/__unserialize), enums are stored as objects
--FILE--
<?php
require __DIR__ . '/setup.inc';

class Point { public function __construct(public int $x = 0, public ?Point $next = null, protected string $p = 'prot', private array $q = [1]) {} }
class Custom {
    public array $log = [];
    public function __construct(public string $v = '') {}
    public function __serialize(): array { return ['v' => strtoupper($this->v)]; }
    public function __unserialize(array $d): void { $this->v = $d['v']; $this->log[] = 'unserialized'; }
}
enum Suit { case Hearts; case Spades; }
enum Status: string { case Active = 'a'; case Gone = 'g'; }

$c = cc_fresh();
$o = new stdClass; $o->a = 1; $o->list = [1, 2]; $o->{'0'} = 'zero';
$c->set('std', $o);
var_dump($c->get('std') == $o, get_class($c->get('std')));

$p = new Point(1, new Point(2));
$c->set('point', $p);
$got = $c->get('point');
var_dump($got == $p, $got->next->x);

$c->set('custom', new Custom('abc'));
var_dump($c->get('custom'));

$c->set('suit', Suit::Hearts);
var_dump($c->get('suit') === Suit::Hearts);
$c->set('status', [Status::Gone, 'x' => Suit::Spades]);
$got = $c->get('status');
var_dump($got[0] === Status::Gone, $got['x'] === Suit::Spades);

// objects nested in arrays keep their class
$c->set('arr', ['p' => new Point(5), 'l' => [new Custom('q')]]);
$got = $c->get('arr');
var_dump(get_class($got['p']), $got['p']->x, $got['l'][0]->v);

// DateTimeImmutable and ArrayObject (internal classes with their own serialization)
$d = new DateTimeImmutable('2024-01-02 03:04:05.678 UTC');
$c->set('date', $d);
var_dump($c->get('date') == $d);
$c->set('ao', new ArrayObject([1, 2]));
var_dump($c->get('ao')->getArrayCopy());
?>
--EXPECTF--
bool(true)
string(8) "stdClass"
bool(true)
int(2)
object(Custom)#%d (2) {
  ["log"]=>
  array(1) {
    [0]=>
    string(12) "unserialized"
  }
  ["v"]=>
  string(3) "ABC"
}
bool(true)
bool(true)
bool(true)
string(5) "Point"
int(5)
string(1) "Q"
bool(true)
array(2) {
  [0]=>
  int(1)
  [1]=>
  int(2)
}
