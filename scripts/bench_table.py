#!/usr/bin/env python3
"""Turns `go test -bench` output (several interleaved rounds) into the README's ratio tables.

For each benchmark, the median ns/op and allocs/op of every implementation (the impl=
element of the sub-benchmark name), and the ratio of its median to the baseline's median
from the same run. Usage: scripts/bench_table.py /tmp/gantry-bench.txt
"""
import re
import statistics
import sys
from collections import defaultdict

BASELINES = ["raw", "otelhttp", "static", "gokit-endpointcache", "bare"]
line_re = re.compile(r"^(Benchmark\S+?)(?:-\d+)?\s+\d+\s+([\d.]+) ns/op(?:.*?\s([\d.]+) B/op\s+([\d.]+) allocs/op)?")

def split(name):
    parts = name.split("/")
    impl = next((p[5:] for p in parts if p.startswith("impl=")), None)
    rest = [p for p in parts if not p.startswith("impl=")]
    return "/".join(rest).removeprefix("Benchmark"), impl

def main(path):
    ns, allocs = defaultdict(list), defaultdict(list)
    for line in open(path):
        m = line_re.match(line.strip())
        if not m:
            continue
        group, impl = split(m.group(1))
        if impl is None:
            continue
        ns[(group, impl)].append(float(m.group(2)))
        if m.group(4) is not None:
            allocs[(group, impl)].append(float(m.group(4)))
    groups = defaultdict(list)
    for (g, i) in ns:
        if i not in groups[g]:
            groups[g].append(i)
    print("| benchmark | implementation | ns/op (median) | allocs/op | vs baseline | runs |")
    print("|---|---|---:|---:|---|---:|")
    for g in groups:
        impls = groups[g]
        base = next((b for b in BASELINES if b in impls), impls[0])
        bmed = statistics.median(ns[(g, base)])
        for i in [base] + [x for x in impls if x != base]:
            med = statistics.median(ns[(g, i)])
            a = allocs.get((g, i))
            al = f"{statistics.median(a):g}" if a else "-"
            if i == base:
                ratio = "baseline"
            elif i == "bare":
                ratio = "no middleware"
            elif bmed < 10:  # a ratio to a few-nanosecond no-op says nothing
                ratio = f"+{med - bmed:,.0f} ns over {base}"
            else:
                ratio = f"{med / bmed:.2f}x {base}"
            print(f"| {g} | {i} | {med:,.1f} | {al} | {ratio} | {len(ns[(g, i)])} |")

if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "/tmp/gantry-bench.txt")
