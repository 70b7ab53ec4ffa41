#!/usr/bin/python3
"""Cross-check of internal/picklegen's files with CPython, pandas 1.5.3 and
numpy 1.24 (Debian's /usr/bin/python3), run by python_test.go:

    PYTHONHASHSEED=0 PYTHONPATH=internal/pickleload/testdata \
        /usr/bin/python3 crosscheck.py DIR CASE...

For each CASE, DIR holds CASE.frame.pkl, CASE.records.pkl, CASE.matrix.pkl
written by picklegen. For each file this script

  1. loads it with pandas.read_pickle / pickle.load and writes the canonical
     JSONL generate.py's expectation functions make of the loaded object to
     CASE.<shape>.py.jsonl (the Go test compares it with picklegen's own);
  2. rebuilds the object from the loaded values the way generate.py builds
     it (recruit_frame: pool strings are the pools' own str objects, every
     other str, list and array a new one; recruit_records(df); a fresh
     float32 matrix), pickles that with pandas/CPython, and requires the
     very bytes picklegen wrote.

It prints one line per file and exits 1 if any differs.
"""

import io
import os
import pickle
import pickletools
import sys

import numpy as np
import pandas as pd

import generate as g

POOL = {s: s for s in g.TITLES + g.COMPANIES + g.LOCATIONS + g.SKILLS}


def pool(s):
    if s not in POOL:
        raise AssertionError("not a generate.py pool string: %r" % (s,))
    return POOL[s]


def fresh_frame(df):
    """The DataFrame recruit_frame builds, for the values of df."""
    n = len(df)
    emb = np.array([np.asarray(v) for v in df["embedding"]], dtype=np.float32).reshape(n, -1)
    return pd.DataFrame({
        "recruit_id": ["".join(s) for s in df["recruit_id"]],
        "title": [pool(s) for s in df["title"]],
        "company": [pool(s) for s in df["company"]],
        "description": ["".join(s) for s in df["description"]],
        "location": [None if s is None else pool(s) for s in df["location"]],
        "skills": [[pool(s) for s in lst] for lst in df["skills"]],
        "min_career_years": np.array(df["min_career_years"], dtype=np.int64),
        "created_at": pd.to_datetime(df["created_at"].to_numpy().astype(np.int64)),
        "embedding": list(emb),
    })


def first_difference(got, want):
    i = 0
    while i < min(len(got), len(want)) and got[i] == want[i]:
        i += 1
    ops = []
    for src in (got, want):
        last = None
        try:
            for op, arg, pos in pickletools.genops(src):
                if pos > i:
                    break
                last = (pos, op.name, repr(arg)[:60])
        except Exception as e:  # noqa: BLE001
            last = ("?", repr(e))
        ops.append(last)
    return "first difference at byte %d of %d/%d; opcode there: picklegen %s, python %s" % (
        i, len(got), len(want), ops[0], ops[1])


def same(name, got, want):
    if got == want:
        print("%s: same bytes (%d)" % (name, len(got)))
        return True
    print("%s: DIFFERENT: %s" % (name, first_difference(got, want)))
    return False


def main(argv):
    d, cases = argv[0], argv[1:]
    ok = True
    for case in cases:
        path = lambda shape, ext="pkl": os.path.join(d, "%s.%s.%s" % (case, shape, ext))  # noqa: E731

        data = open(path("frame"), "rb").read()
        df = pd.read_pickle(io.BytesIO(data), compression=None)
        with open(path("frame", "py.jsonl"), "w", encoding="utf-8") as f:
            f.write(g.jsonl(*g.expect_frame(df)))
        fresh = fresh_frame(df)
        buf = io.BytesIO()
        fresh.to_pickle(buf, compression=None, protocol=5)
        ok &= same(case + ".frame", data, buf.getvalue())

        data = open(path("records"), "rb").read()
        records = pickle.loads(data)
        with open(path("records", "py.jsonl"), "w", encoding="utf-8") as f:
            f.write(g.jsonl(*g.expect_records(records)))
        ok &= same(case + ".records", data, pickle.dumps(g.recruit_records(fresh), protocol=4))

        data = open(path("matrix"), "rb").read()
        matrix = pickle.loads(data)
        with open(path("matrix", "py.jsonl"), "w", encoding="utf-8") as f:
            f.write(g.jsonl(*g.expect_matrix(matrix)))
        ok &= same(case + ".matrix", data, pickle.dumps(np.array(matrix, dtype=np.float32, order="C"), protocol=5))
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main(sys.argv[1:])
