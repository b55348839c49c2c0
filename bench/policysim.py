#!/usr/bin/env python3
"""bench/policysim.py: what hit ratio eviction policies can reach on bench/hitratio's load.

A trace-driven simulation, no server: 120,000 keys of 512..8192 bytes (plus 120 bytes of
overhead each) in 64 MiB, zipf 0.99 (rank r is key r*2654435761 mod N, as cache-bench
scrambles it), every key written once first, then 90% GET / 10% SET; with --fill-misses a
GET that misses is followed by a SET of its key (cache-aside). Prints the object hit ratio
of: exact LRU; CLOCK with a 1-bit (SIEVE-like) and a 2-bit frequency; S3-FIFO (10% small
queue, ghost queue); W-TinyLFU with exact frequencies (1% window); and the static optimum
(the most-read keys that fit, known in advance), which no online policy reaches.
    bench/policysim.py [--ops N] [--fill-misses] [--seed S]
"""
import argparse
import bisect
import itertools
import random
from collections import OrderedDict

N = 120000
CAP = 64 * 1024 * 1024


def trace(ops, seed):
    rnd = random.Random(seed)
    size = [rnd.randint(512, 8192) + 120 for _ in range(N)]
    w = [1.0 / (r + 1) ** 0.99 for r in range(N)]
    tot = sum(w)
    cdf = list(itertools.accumulate(x / tot for x in w))
    keyof = [(r * 2654435761) % N for r in range(N)]
    reqs = []
    for _ in range(ops):
        r = min(bisect.bisect_left(cdf, rnd.random()), N - 1)
        reqs.append((keyof[r], rnd.random() < 0.9))
    return size, reqs


class LRU:
    def __init__(self, size):
        self.size, self.d, self.b = size, OrderedDict(), 0

    def get(self, k):
        if k in self.d:
            self.d.move_to_end(k)
            return True
        return False

    def set(self, k):
        if k in self.d:
            self.d.move_to_end(k)
            return
        self.d[k] = 1
        self.b += self.size[k]
        while self.b > CAP:
            v, _ = self.d.popitem(last=False)
            self.b -= self.size[v]


class Clock:
    """CLOCK with frequency counters up to maxf; small > 0 adds S3-FIFO's small queue and
    ghost (Yang et al., SOSP'23)."""

    def __init__(self, size, maxf=1, small=0.0):
        self.size, self.maxf, self.small = size, maxf, small
        self.main, self.sq, self.ghost, self.f = OrderedDict(), OrderedDict(), OrderedDict(), {}
        self.b = self.sb = 0

    def get(self, k):
        if k in self.f:
            self.f[k] = min(self.f[k] + 1, self.maxf)
            return True
        return False

    def set(self, k):
        if k in self.f:
            return
        self.f[k] = 0
        if self.small and k not in self.ghost:
            self.sq[k] = 1
            self.sb += self.size[k]
        else:
            self.ghost.pop(k, None)
            self.main[k] = 1
        self.b += self.size[k]
        while self.b > CAP:
            self.evict()

    def evict(self):
        if self.sq and (self.sb > self.small * CAP or not self.main):
            k, _ = self.sq.popitem(last=False)
            self.sb -= self.size[k]
            if self.f[k] > 0:
                self.f[k] = 0
                self.main[k] = 1
                return
            self.b -= self.size[k]
            del self.f[k]
            self.ghost[k] = 1
            if len(self.ghost) > len(self.main):
                self.ghost.popitem(last=False)
            return
        k, _ = self.main.popitem(last=False)
        if self.f[k] > 0:
            self.f[k] -= 1
            self.main[k] = 1
            return
        self.b -= self.size[k]
        del self.f[k]


class WTinyLFU:
    """A 1% LRU window; its victim enters the LRU main part only if it was requested more
    often than main's victim (exact counts: the best a frequency sketch can do)."""

    def __init__(self, size, window=0.01):
        self.size, self.w = size, window
        self.win, self.main, self.freq = OrderedDict(), OrderedDict(), {}
        self.wb = self.mb = 0

    def get(self, k):
        self.freq[k] = self.freq.get(k, 0) + 1
        for d in (self.win, self.main):
            if k in d:
                d.move_to_end(k)
                return True
        return False

    def set(self, k):
        if k in self.win or k in self.main:
            return
        self.win[k] = 1
        self.wb += self.size[k]
        while self.wb > self.w * CAP:
            c, _ = self.win.popitem(last=False)
            self.wb -= self.size[c]
            while c is not None and self.main and self.mb + self.size[c] > (1 - self.w) * CAP:
                v = next(iter(self.main))
                if self.freq.get(c, 0) > self.freq.get(v, 0):
                    del self.main[v]
                    self.mb -= self.size[v]
                else:
                    c = None
            if c is not None:
                self.main[c] = 1
                self.mb += self.size[c]


def run(cache, reqs, fill):
    for k in range(N):
        cache.set(k)
    hits = misses = 0
    for k, is_get in reqs:
        if not is_get:
            cache.set(k)
        elif cache.get(k):
            hits += 1
        else:
            misses += 1
            if fill:
                cache.set(k)
    return 100.0 * hits / (hits + misses)


def static_optimum(size, reqs):
    reads = {}
    for k, is_get in reqs:
        if is_get:
            reads[k] = reads.get(k, 0) + 1
    used = hit = 0
    for k, n in sorted(reads.items(), key=lambda kv: -kv[1]):
        if used + size[k] <= CAP:
            used += size[k]
            hit += n
    return 100.0 * hit / sum(reads.values())


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--ops", type=int, default=600000)
    ap.add_argument("--fill-misses", action="store_true")
    ap.add_argument("--seed", type=int, default=1)
    a = ap.parse_args()
    size, reqs = trace(a.ops, a.seed)
    print("policysim: %d requests, %s" % (a.ops, "cache-aside" if a.fill_misses else "misses not filled"))
    for name, make in [("LRU", lambda: LRU(size)),
                       ("CLOCK, 1 bit (SIEVE-like)", lambda: Clock(size, 1)),
                       ("CLOCK, 2-bit frequency", lambda: Clock(size, 3)),
                       ("S3-FIFO (10% small, ghost)", lambda: Clock(size, 3, 0.1)),
                       ("W-TinyLFU (exact counts)", lambda: WTinyLFU(size))]:
        print("%-28s %6.2f%%" % (name, run(make(), reqs, a.fill_misses)), flush=True)
    print("%-28s %6.2f%%" % ("static optimum", static_optimum(size, reqs)))


if __name__ == "__main__":
    main()
