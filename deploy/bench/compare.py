#!/usr/bin/python3
"""Compare two benchmark results (latest.json) figure by figure, as Markdown.

    git show c329420:deploy/bench/results/latest.json > /tmp/before.json
    /usr/bin/python3 deploy/bench/compare.py /tmp/before.json deploy/bench/results/latest.json

Prints one row per figure both runs have: before, after and the change
(after / before). Figures only one run has are left out; the memory and
resume stages are new in issue 14, so they have no "before".
"""

import json
import sys


def figures(r):
    out = []  # (name, value, unit, higher is better)
    for l in r.get("load", []):
        n = "load " + l["name"]
        out += [
            (n + ": Go time", l["go"]["median_seconds"], "s", False),
            (n + ": Go read (of it)", l.get("go_read_seconds", 0), "s", False),
            (n + ": Go CPU", l["go"].get("median_cpu_seconds", 0), "s", False),
            (n + ": Go peak RSS", l["go"]["median_peak_rss_bytes"] / 2**20, "MiB", False),
            (n + ": CPython time", l["python"]["median_seconds"], "s", False),
            (n + ": Go / CPython throughput", l["ratio"], "x", True),
            (n + ": same, in CPU time", l.get("cpu_ratio", 0), "x", True),
        ]
    for w in r.get("wire", []):
        out.append(("wire ceiling, " + w["name"], w["stats"]["mb_per_s"], "MB/s", True))
    e = r.get("e2e")
    if e:
        out += [
            ("end to end, warm job", e["warm"]["rows_per_s"], "rows/s", True),
            ("end to end, warm job time", e["warm"]["median_seconds"], "s", False),
            ("end to end, first job of a fresh worker", e["cold"]["rows_per_s"], "rows/s", True),
            ("end to end, worker peak RSS after the first job", e["cold"]["median_peak_rss_bytes"] / 2**20, "MiB", False),
            ("end to end, worker peak RSS over all jobs", e["warm"]["median_peak_rss_bytes"] / 2**20, "MiB", False),
            ("end to end, worker CPU of the warm job", e["warm"].get("median_cpu_seconds", 0), "s", False),
            ("end to end, batch server CPU of the warm job", e.get("median_batch_server_cpu_seconds", 0), "s", False),
        ]
    q = r.get("queue")
    if q:
        m = q["median"]
        out += [
            ("queue: tiny jobs/s (burst)", m["jobs_per_s"], "jobs/s", True),
            ("queue: enqueue→start p50, burst", m["burst_p50_ms"], "ms", False),
            ("queue: enqueue→start p99, burst", m["burst_p99_ms"], "ms", False),
            ("queue: enqueue→start p50, idle", m["idle_p50_ms"], "ms", False),
            ("queue: enqueue→start p99, idle", m["idle_p99_ms"], "ms", False),
        ]
    for s in r.get("scaling", []):
        out.append(("scaling: %d worker(s), 4 files" % s["workers"], s["span"]["rows_per_s"], "rows/s", True))
    return out


def main(before, after):
    with open(before) as f:
        b = json.load(f)
    with open(after) as f:
        a = json.load(f)
    old = {n: (v, u, h) for n, v, u, h in figures(b)}
    print("| figure | before (%s, %s) | after (%s, %s) | after / before |" % (
        b.get("commit", "?"), b["generated_at"][:10], a.get("commit", "?"), a["generated_at"][:10]))
    print("|---|---:|---:|---:|")
    for n, v, u, h in figures(a):
        if n not in old or not old[n][0]:
            continue
        ov = old[n][0]
        fmt = "%.3f" if u in ("s", "x") and max(ov, v) < 10 else "%.0f"
        if u == "ms":
            fmt = "%.1f"
        better = (v >= ov) if h else (v <= ov)
        print("| %s | %s %s | %s %s | %.2f%s |" % (n, fmt % ov, u, fmt % v, u, v / ov, "" if better else " (worse)"))


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit("usage: compare.py BEFORE.json AFTER.json")
    main(sys.argv[1], sys.argv[2])
