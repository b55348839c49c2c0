#!/usr/bin/env python3
"""Turns bench/compare's runs.jsonl into summary.md (table, ratios, targets) and SVG plots.

usage: summary.py RUNS.jsonl OUT_DIR CACHE_BENCH REDIS_VERSION MEMCACHED_VERSION NPROC SCPU CCPU
"""
import json
import os
import subprocess
import sys

runs_path, out, bench, redis_v, mc_v, nproc, scpu, ccpu = sys.argv[1:9]
runs = [json.loads(l) for l in open(runs_path) if l.strip()]
by = {(r["scenario"], r["server"]): r for r in runs}
SERVERS = ["cacheserverd", "redis", "memcached"]
SCEN = [
    ("s1", "1. 1 connection, no pipelining (load on the other CPU)"),
    ("s1same", "1b. 1 connection, no pipelining, load on the server's CPU"),
    ("s2", "2. 8 connections, no pipelining"),
    ("s3", "3. 8 connections, pipeline 16"),
    ("s4m10", "4a. multi-get of 10 keys, 1 connection"),
    ("s4m100", "4b. multi-get of 100 keys, 1 connection"),
    ("s5", "5. open loop at 70% of own peak (scenario 1), 1 connection"),
    ("s6", "6. 100k keys, zipf 0.99, 64..4096 B, 90% get / 10% set, 8 connections"),
]


def ratio(a, b):
    return "%.2f" % (a / b) if b else "n/a"


lines = []
w = lines.append
w("| scenario | cacheserverd ops/s | redis ops/s | memcached ops/s | ratio vs redis | ratio vs memcached |")
w("|---|---|---|---|---|---|")
for key, desc in SCEN:
    r = [by.get((key, s)) for s in SERVERS]
    if not all(r):
        continue
    ops = [x["ops_per_s"] for x in r]
    w("| %s | %.0f | %.0f | %.0f | %s | %s |" % (desc, ops[0], ops[1], ops[2], ratio(ops[0], ops[1]), ratio(ops[0], ops[2])))
w("")
w("Latency in µs (p50 / p99 / p99.9 / max):")
w("")
w("| scenario | cacheserverd | redis | memcached |")
w("|---|---|---|---|")
for key, desc in SCEN:
    cells = []
    for s in SERVERS:
        x = by.get((key, s))
        if x:
            l = x["latency_us"]
            cells.append("%.1f / %.1f / %.1f / %.1f" % (l["p50"], l["p99"], l["p99.9"], l["max"]))
        else:
            cells.append("-")
    w("| %s | %s |" % (desc.split(".")[0] + ".", " | ".join(cells)))
w("")
floors = [r for r in runs if r["scenario"] == "floor"]
for f in floors:
    l = f["latency_us"]
    w("Floor (%s): p50 %.1f µs, p99 %.1f µs, p99.9 %.1f µs (16-byte ping-pong, two processes)." % (f["label"], l["p50"], l["p99"], l["p99.9"]))
w("")
w("Targets:")
w("")
cross = next((f for f in floors if f["label"] == "floor cpu%s-cpu%s" % (ccpu, scpu)), None)
same = next((f for f in floors if f["label"] == "floor cpu%s-cpu%s" % (scpu, scpu)), None)
for scen, fl, where in (("s1", cross, "across CPUs"), ("s1same", same, "same CPU")):
    x = by.get((scen, "cacheserverd"))
    if x and fl:
        rr = x["latency_us"]["p50"] / fl["latency_us"]["p50"]
        w("- native GET p50 at 1 connection %s: %.1f µs = %.2fx the floor (target 1.3x): %s" % (where, x["latency_us"]["p50"], rr, "met" if rr <= 1.3 else "missed"))
for key in ("s1", "s2", "s3", "s6"):
    r = [by.get((key, s)) for s in SERVERS]
    if all(r):
        ok = r[0]["ops_per_s"] >= r[1]["ops_per_s"] and r[0]["ops_per_s"] >= r[2]["ops_per_s"]
        w("- throughput %s: %.2fx redis, %.2fx memcached (target >= 1): %s" % (key, r[0]["ops_per_s"] / r[1]["ops_per_s"], r[0]["ops_per_s"] / r[2]["ops_per_s"], "met" if ok else "missed"))
x = by.get(("s5", "cacheserverd"))
if x:
    l = x["latency_us"]
    ok = l["p99.9"] <= 3 * l["p50"] and l["max"] < 5000
    w("- open loop: p99.9 = %.1fx p50 (target <= 3), max %.2f ms (target < 5): %s" % (l["p99.9"] / l["p50"], l["max"] / 1000, "met" if ok else "missed"))
    fo = by.get(("s5", "floor"))
    if fo:
        fl = fo["latency_us"]
        w("  (the floor on the same schedule: p50 %.1f µs, p99.9 %.1f µs = %.1fx p50, max %.2f ms)" % (fl["p50"], fl["p99.9"], fl["p99.9"] / fl["p50"], fl["max"] / 1000))
errs = sum(r.get("errors", 0) + r.get("mismatches", 0) for r in runs)
w("")
w("Errors and mismatches over all runs: %d." % errs)

plots = []
for key, desc in SCEN:
    sel = [by[(key, s)] for s in SERVERS + ["floor"] if (key, s) in by]
    if not sel:
        continue
    tmp = os.path.join(out, key + ".jsonl")
    with open(tmp, "w") as f:
        for r in sel:
            f.write(json.dumps(r) + "\n")
    svg = os.path.join(out, key + ".svg")
    if subprocess.call([bench, "plot", svg, tmp]) == 0:
        plots.append("- %s: [%s.svg](%s.svg)" % (desc, key, key))
    os.unlink(tmp)

head = [
    "# cache-bench comparison",
    "",
    "Machine: %s CPUs; servers pinned to CPU %s, load to CPU %s (scenario 1b: both on CPU %s)." % (nproc, scpu, ccpu, scpu),
    "Versions: cacheserverd (this tree), %s, %s." % (redis_v, mc_v),
    "Every server: one thread, 256 MiB, Unix socket, persistence off.",
    "",
]
with open(os.path.join(out, "summary.md"), "w") as f:
    f.write("\n".join(head + lines + ["", "Plots:", ""] + plots) + "\n")
print("\n".join(lines))
