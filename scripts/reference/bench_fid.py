#!/usr/bin/env python3
"""pytorch-fid's FID on the features that incant-image-metrics' fid_bench example generates.

Usage:
    python bench_fid.py [N] [DIMS]        (defaults 10000 2048)

Builds the same two generated sets as crates/incant-image-metrics/examples/fid_bench.rs,
takes their statistics with numpy (mean, np.cov rowvar=False, float64) and times
`calculate_frechet_distance` (scipy.linalg.sqrtm) and clean-fid's `kernel_distance`
(100 subsets of 1,000; its own random subsets, so KID agrees only within its spread). Prints one JSON line; compare its `fid`
and `fid_s` with the example's output from the same machine.
"""

import json
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from make_fid_reference import features  # noqa: E402


def main():
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 10000
    d = int(sys.argv[2]) if len(sys.argv) > 2 else 2048
    from pytorch_fid.fid_score import calculate_frechet_distance

    a = features(101, n, d, 0.3, 0.0).astype(np.float64)
    b = features(102, n, d, 0.35, 0.01).astype(np.float64)
    t = time.perf_counter()
    sa = (a.mean(axis=0), np.cov(a, rowvar=False))
    sb = (b.mean(axis=0), np.cov(b, rowvar=False))
    stats_s = time.perf_counter() - t
    t = time.perf_counter()
    value = calculate_frechet_distance(sa[0], sa[1], sb[0], sb[1])
    fid_s = time.perf_counter() - t
    from cleanfid.fid import kernel_distance
    np.random.seed(0)
    t = time.perf_counter()
    kid = kernel_distance(a, b, num_subsets=100, max_subset_size=1000)
    kid_s = time.perf_counter() - t
    print(json.dumps({"n": n, "dims": d, "fid": float(value), "stats_s": round(stats_s, 3),
                      "fid_s": round(fid_s, 3), "kid_cleanfid": kid, "kid_s": round(kid_s, 3)}))


if __name__ == "__main__":
    main()
