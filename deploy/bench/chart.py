#!/usr/bin/python3
"""Render deploy/bench/results/latest.json as one PNG chart.

    /usr/bin/python3 deploy/bench/chart.py latest.json latest.png

Throughput of every stage in MB/s of pickle bytes, against the wire
ceiling (grpc-go, DataFrame chunks) drawn as a dashed line; the queue
overhead and the machine go in the caption.
"""

import json
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

GO, PY, WIRE, E2E, MEM = "#1f77b4", "#ff7f0e", "#7f7f7f", "#2ca02c", "#9467bd"


def bars(r):
    out = []  # (label, MB/s, colour, note)
    for l in r.get("load", []):
        out.append(("load %s: Go loader" % l["name"], l["go"]["mb_per_s"], GO, "%.2fx CPython" % l["ratio"]))
        out.append(("load %s: CPython pickle.load" % l["name"], l["python"]["mb_per_s"], PY, ""))
    for w in r.get("wire", []):
        out.append(("wire ceiling: %s" % w["name"], w["stats"]["mb_per_s"], WIRE, ""))
    e = r.get("e2e")
    if e:
        out.append(("end to end, 1 worker (%d rows)" % e["rows"], e["warm"]["mb_per_s"], E2E,
                    "%.0f rows/s" % e["warm"]["rows_per_s"]))
    for s in r.get("scaling", []):
        out.append(("scaling: %d worker%s, %d files" % (s["workers"], "s" if s["workers"] > 1 else "", s["files"]),
                    s["span"]["mb_per_s"], E2E, "%.0f rows/s" % s["span"]["rows_per_s"]))
    m = r.get("memory")
    if m:
        for f in m.get("files", []):
            if f.get("job_seconds", 0) <= 0:
                continue
            out.append(("end to end in %d MiB: %s %.1f GB (%d rows)" % (m["limit_bytes"] >> 20, f["shape"], f["bytes"] / 1e9, f["rows"]),
                        f["mb_per_s"], MEM, "peak RssAnon %.0f MiB" % (f["worker"]["peak_rss_anon_bytes"] / 2**20)))
    return out


def main(src, dst):
    with open(src) as f:
        r = json.load(f)
    data = bars(r)
    fig, ax = plt.subplots(figsize=(11, 0.42 * len(data) + 2.2))
    labels = [d[0] for d in data][::-1]
    vals = [d[1] for d in data][::-1]
    cols = [d[2] for d in data][::-1]
    notes = [d[3] for d in data][::-1]
    ax.barh(range(len(data)), vals, color=cols)
    ax.set_yticks(range(len(data)))
    ax.set_yticklabels(labels, fontsize=8)
    top = max(vals) if vals else 1
    for i, (v, n) in enumerate(zip(vals, notes)):
        ax.text(v + top * 0.01, i, "%.0f MB/s%s" % (v, ("  (" + n + ")") if n else ""), va="center", fontsize=7)
    wire = [w for w in r.get("wire", []) if w["name"].startswith("DataFrame")]
    if wire:
        c = wire[0]["stats"]["mb_per_s"]
        ax.axvline(c, color=WIRE, linestyle="--", linewidth=1)
        ax.text(c, len(data) - 0.4, " wire ceiling (DataFrame chunks)", fontsize=7, color=WIRE)
    ax.set_xlim(0, top * 1.35)
    ax.set_xlabel("MB/s of pickle (10^6 bytes/s); higher is better")
    m = r["machine"]
    title = "embedstream: throughput per stage, N = %d (median of %d runs)" % (r["n"], r["runs"])
    ax.set_title(title, fontsize=10)
    cap = "%s, %d CPUs, %s, %s; load average before/after %s / %s" % (
        m["cpu"], m["nproc"], m["go_version"], m.get("python", ""), m["loadavg_before"], m["loadavg_after"])
    q = r.get("queue")
    if q:
        cap += "\nqueue: %.0f jobs/s (%d tiny jobs, %d workers); enqueue-to-start p50/p99 %.1f/%.1f ms idle, %.0f/%.0f ms in the burst" % (
            q["median"]["jobs_per_s"], q["jobs"], q["workers"], q["median"]["idle_p50_ms"], q["median"]["idle_p99_ms"],
            q["median"]["burst_p50_ms"], q["median"]["burst_p99_ms"])
    fig.text(0.01, 0.01, cap, fontsize=7, va="bottom")
    fig.tight_layout(rect=(0, 0.06, 1, 1))
    fig.savefig(dst, dpi=110)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
