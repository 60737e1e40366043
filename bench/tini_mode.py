#!/usr/bin/env python3
"""`make bench`, single-command mode: `phpeek-pm -- CMD` beside tini on the single-child rows
(idle RSS/PSS with one sleep, shutdown of that one child, log throughput straight through).

Uses bench.py's scenarios and namespace plumbing unchanged (every tool as PID 1 of its own PID
namespace, a warm-up then BENCH_RUNS runs, tools interleaved, medians), with three tools:
tini (`tini -- CMD`), phpeek-pm minimal in single-command mode (`phpeek-pm -- CMD`), and
phpeek-pm minimal with a one-process YAML file for reference. Prints a table and writes
bench/results/tini-mode.{md,json}.

    python3 bench/tini_mode.py --bindir DIR     (DIR holds phpeek-pm-minimal and bench-drain;
                                                 bench/run.sh's)
"""

import argparse
import json
import os
import statistics
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import bench  # noqa: E402  (bench.py next to this file)

ROWS = [
    # (scenario, metric, label, unit, format)
    ("idle1", "rss_kib", "idle RSS, 1 sleep", "KiB", "{:.0f}"),
    ("idle1", "pss_kib", "idle PSS, 1 sleep", "KiB", "{:.0f}"),
    ("idle1", "anon_kib", "idle anonymous memory, 1 sleep", "KiB", "{:.0f}"),
    ("idle1", "shutdown_ms", "shutdown, 1 child (SIGTERM → exit)", "ms", "{:.1f}"),
    ("logs", "lines_per_s", f"log throughput ({bench.LOG_LINES} lines)", "lines/s", "{:,.0f}"),
    ("logs", "manager_cpu_ms", "log throughput: manager CPU", "ms", "{:.0f}"),
    ("logs", "manager_peak_rss_kib", "log throughput: manager peak RSS", "KiB", "{:.0f}"),
    ("logs", "lost", "log throughput: lines lost", "", "{:.0f}"),
]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bindir", required=True)
    ap.add_argument("--results", default=os.path.join(HERE, "results"))
    a = ap.parse_args()
    minimal = os.path.join(os.path.abspath(a.bindir), "phpeek-pm-minimal")
    tools = [
        bench.Launcher("tini", "tini", "tini", ["--"]),
        bench.Launcher("phpeek--", "phpeek-pm --", minimal, ["--"]),
        bench.Phpeek("phpeek-yaml", "phpeek-pm (YAML)", minimal),
    ]
    live = [t for t in tools if t.available()]
    for t in tools:
        if not t.available():
            bench.log(f"tini-mode: SKIPPING {t.label}: {t.missing}")
    # The log scenario's reader: bench/drain.c, compiled by bench/run.sh beside the binaries.
    drain = os.path.join(os.path.abspath(a.bindir), "bench-drain")
    scenarios = {"idle1": lambda r: bench.sc_memory_shutdown(r, 1),
                 "logs": lambda r: bench.sc_logs(r, drain=drain)}
    runs = {}
    for name, fn in scenarios.items():
        bench.log(f"tini-mode scenario {name}: warm-up + {bench.RUNS} runs")
        for i in range(bench.RUNS + 1):
            for t in live:
                r = bench.Run(t, "tini-" + name, False)
                try:
                    v = fn(r)
                except (bench.BenchError, OSError) as e:
                    bench.log(f"  {name}/{t.key} run {i}: FAILED: {e}")
                    v = {"note": str(e)}
                finally:
                    r.close()
                if i > 0:
                    runs.setdefault((name, t.key), []).append(v)
    med = {}
    for key, vs in runs.items():
        for metric in {m for v in vs for m in v}:
            nums = [v.get(metric) for v in vs]
            if all(isinstance(x, (int, float)) and not isinstance(x, bool) for x in nums):
                med[(key[0], key[1], metric)] = statistics.median(nums)

    head = ["scenario", "unit"] + [t.label for t in tools] + ["phpeek-pm -- / tini"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for sc, metric, label, unit, fmt in ROWS:
        cells = []
        for t in tools:
            v = med.get((sc, t.key, metric))
            cells.append(fmt.format(v) if v is not None else "n/a")
        ours, theirs = med.get((sc, "phpeek--", metric)), med.get((sc, "tini", metric))
        ratio = f"{ours / theirs:.2f}×" if ours is not None and theirs else "–"
        lines.append("| " + " | ".join([label, unit] + cells + [ratio]) + " |")
    text = "\n".join(lines)
    print("\nsingle-command mode (medians of %d runs, each tool PID 1 of its own namespace):\n"
          % bench.RUNS)
    print(text)
    os.makedirs(a.results, exist_ok=True)
    with open(os.path.join(a.results, "tini-mode.md"), "w") as f:
        f.write(f"<!-- bench/tini_mode.py, {time.strftime('%Y-%m-%d %H:%M')} -->\n{text}\n")
    with open(os.path.join(a.results, "tini-mode.json"), "w") as f:
        json.dump({"runs": {f"{k[0]}/{k[1]}": v for k, v in runs.items()},
                   "loadavg": bench.read("/proc/loadavg", "").strip(),
                   "tini": bench.shutil.which("tini")}, f, indent=1)


if __name__ == "__main__":
    try:
        main()
    finally:
        bench.NS.close_all()
