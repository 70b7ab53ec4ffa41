#!/usr/bin/python3
"""CPython baseline of the pickle-load stage: one `pickle.load` of FILE.

    /usr/bin/python3 deploy/bench/pyload.py FILE

prints one JSON object: bytes, rows, seconds (open + pickle.load, with numpy
and pandas imported beforehand so the import is not timed), cpu_seconds
(user + system CPU time of the same), peak_rss_bytes
(VmHWM of this process: includes the interpreter and the pandas import,
reported separately as base_rss_bytes).
"""

import json
import os
import pickle
import sys
import time

import numpy  # noqa: F401  imported before timing, as a loaded service would have it
import pandas  # noqa: F401


def status_bytes(field):
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1]) * 1024
    return 0


def main(path):
    base = status_bytes("VmRSS")
    c0 = time.process_time()
    t0 = time.perf_counter()
    with open(path, "rb") as f:
        obj = pickle.load(f)
    secs = time.perf_counter() - t0
    cpu = time.process_time() - c0
    print(json.dumps({
        "bytes": os.path.getsize(path),
        "rows": len(obj),
        "seconds": secs,
        "cpu_seconds": cpu,
        "peak_rss_bytes": status_bytes("VmHWM"),
        "base_rss_bytes": base,
    }))


if __name__ == "__main__":
    main(sys.argv[1])
