#!/usr/bin/python3
"""Benchmark data for deploy/bench/run (Debian's python3-pandas, python3-numpy).

    /usr/bin/python3 deploy/bench/gen.py N DIR

writes into DIR, skipping files that already exist:
    recruit_df_N_d384.pkl       N-row recruit DataFrame, 384-dim float32 embeddings (protocol 5)
    recruit_records_N_d384.pkl  the same rows as a list of dicts (protocol 4)
    ndarray_N_d768.pkl          an N x 768 float32 ndarray (protocol 5)
    recruit_df_10_d384.pkl      a 10-row DataFrame for the queue-overhead stage

The data comes from the fixture generator's own builders
(internal/pickleload/testdata/generate.py), so the benchmark files are the
same shape as the committed fixtures and `generate.py --bench`.
"""

import os
import pickle
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "internal", "pickleload", "testdata"))

import numpy as np  # noqa: E402

import generate  # noqa: E402


def write(path, dump):
    if os.path.exists(path):
        print("have  " + path)
        return
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        dump(f)
    os.replace(tmp, path)
    print("wrote " + path)


def main(argv):
    if len(argv) != 2:
        sys.exit(__doc__)
    n, out = int(argv[0]), argv[1]
    os.makedirs(out, exist_ok=True)
    df = None

    def frame():
        nonlocal df
        if df is None:
            df = generate.recruit_frame(n, 384, seed=7000 + 384)
        return df

    write(os.path.join(out, "recruit_df_%d_d384.pkl" % n),
          lambda f: frame().to_pickle(f, compression=None, protocol=5))
    write(os.path.join(out, "recruit_records_%d_d384.pkl" % n),
          lambda f: pickle.dump(generate.recruit_records(frame()), f, protocol=4))
    write(os.path.join(out, "ndarray_%d_d768.pkl" % n),
          lambda f: pickle.dump(generate.unit_vectors(np.random.default_rng(9000 + 768), n, 768), f, protocol=5))
    write(os.path.join(out, "recruit_df_10_d384.pkl"),
          lambda f: generate.recruit_frame(10, 384, seed=10).to_pickle(f, compression=None, protocol=5))


if __name__ == "__main__":
    main(sys.argv[1:])
