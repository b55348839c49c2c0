#!/usr/bin/env python3
"""Reads Prometheus text (cache-cli stats --prometheus, or GET /metrics) on stdin, checks the
conventions (https://prometheus.io/docs/practices/naming/) and the names cacheserverd promises,
prints "ok" or fails with the line at fault. Expects a GET miss and a GET hit to have been made."""
import re
import sys

text = sys.stdin.read()
types, helps, samples, order = {}, set(), [], []
LABEL = r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"'
for l in text.splitlines():
    m = re.fullmatch(r"# TYPE (cacheserverd_[a-z0-9_]+) (counter|gauge|summary|histogram|untyped)", l)
    if m:
        assert m.group(1) not in types, ("two TYPE lines", l)
        types[m.group(1)] = m.group(2)
        order.append(m.group(1))
        continue
    m = re.fullmatch(r"# HELP (cacheserverd_[a-z0-9_]+) .+", l)
    if m:
        helps.add(m.group(1))
        continue
    m = re.fullmatch(r"(cacheserverd_[a-z0-9_]+)(?:\{((?:%s,?)*)\})? (\S+)" % LABEL, l)
    assert m, ("not a sample", l)
    labels = dict(re.findall(LABEL, m.group(2) or ""))
    name = m.group(1)
    fam = name if name in types else re.sub(r"_(sum|count)$", "", name)
    assert fam in types, ("sample before its TYPE", l)
    assert fam == order[-1], ("family not together", l)
    samples.append((name, labels, float(m.group(len(m.groups()))), types[fam]))

assert types, "no metrics"
assert set(types) == helps, ("TYPE without HELP or HELP without TYPE", set(types) ^ helps)
for name, t in types.items():
    assert not re.search(r"_(us|ms|s)$", name), ("not in base units", name)
    assert (t == "counter") == name.endswith("_total"), ("counters, and only they, end in _total", name, t)
    assert not re.search(r"_p[0-9]+", name), ("a gauge per percentile", name)
assert types["cacheserverd_op_duration_seconds"] == "summary"
get = [s for s in samples if s[0] == "cacheserverd_op_duration_seconds" and s[1].get("op") == "get"]
assert sorted(s[1]["quantile"] for s in get) == ["0.5", "0.99", "0.999"], get
assert all(0 < s[2] < 10 for s in get), ("latency in seconds", get)
assert any(s[0] == "cacheserverd_op_duration_seconds_count" and s[1] == {"op": "get"} and s[2] >= 2
           for s in samples)
assert any(s[0] == "cacheserverd_op_duration_seconds_sum" and s[1] == {"op": "get"} and 0 < s[2] < 10
           for s in samples)
for n, t in (("hits_total", "counter"), ("misses_total", "counter"), ("items", "gauge"),
             ("used_bytes", "gauge"), ("memory_limit_bytes", "gauge"), ("uptime_seconds", "gauge"),
             ("connections_total", "counter"), ("read_bytes_total", "counter")):
    assert types.get("cacheserverd_" + n) == t, (n, types.get("cacheserverd_" + n))
assert any(s[0] == "cacheserverd_ns_misses_total" and s[1] == {"namespace": "default"} and s[2] >= 1
           for s in samples)
print("ok")
