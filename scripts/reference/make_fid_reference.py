#!/usr/bin/env python3
"""Reference data for incant-image-metrics: FID, KID and clean-fid's float resize.

Usage:
    python make_fid_reference.py [OUT_DIR]

Needs numpy, scipy, torch, pytorch-fid, torchmetrics, clean-fid and pillow.
OUT_DIR defaults to crates/incant-image-metrics/tests/data.

Features are not committed: both this script and the Rust tests build them with the same
deterministic generator (see `features` below and tests/common/mod.rs), so only the
generator's parameters and the reference values go into the JSON files.

- fid_reference.json: pytorch-fid's `calculate_frechet_distance` on (mean, np.cov) of the
  generated features (the statistics are taken in float64 from the float32 features).
- kid_reference.json: torchmetrics' `poly_mmd` and clean-fid's `kernel_distance` on fixed
  subsets (the first m rows of each set; clean-fid's random choice of all rows is a
  permutation, which leaves the unbiased MMD unchanged).
- resize_reference.json: PIL's bicubic resize of float ("F" mode) images, the step of
  clean-fid's "clean" resizer, and clean-fid's whole `make_resizer("PIL", False, "bicubic",
  (299, 299))` on one RGB image (sampled pixels).
- npy/*.npy: a 3 x 4 matrix of `splitmix_uniform(51, 12)` saved by numpy in the layouts
  the reader accepts (float32/float64, C/Fortran order, big-endian, format version 2, 1-D).
"""

import json
import sys
from pathlib import Path

import numpy as np

MASK = (1 << 64) - 1
GOLDEN = 0x9E3779B97F4A7C15


def splitmix_uniform(seed, count):
    """The k-th (k = 1..count) output of splitmix64 started at `seed`, as a uniform in [0, 1)."""
    with np.errstate(over="ignore"):
        k = np.arange(1, count + 1, dtype=np.uint64)
        z = np.uint64(seed) + k * np.uint64(GOLDEN)
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        z = z ^ (z >> np.uint64(31))
    return (z >> np.uint64(11)).astype(np.float64) * (2.0 ** -53)


def features(seed, n, d, rho, shift):
    """n x d float32 features: uniform noise, correlated with its left neighbour (wrapping)
    and with a per-row common factor, scaled and shifted per dimension."""
    u = splitmix_uniform(seed, n * (d + 1)).reshape(n, d + 1)
    z = u[:, :d] - 0.5
    common = u[:, d:] - 0.5
    j = np.arange(d)
    scale = 1.0 + (j % 3).astype(np.float64) * 0.5
    offset = shift * ((j % 5).astype(np.float64) - 2.0)
    left = np.roll(z, 1, axis=1)
    x = (z + rho * left + 0.25 * common) * scale + offset
    return x.astype(np.float32)


FID_CASES = [
    # name, set A (seed, n, rho, shift), set B, d
    ("d16_n_over_d", 16, (1, 300, 0.3, 0.0), (2, 200, 0.5, 0.1)),
    ("d64_n_over_d", 64, (3, 1000, 0.2, 0.0), (4, 800, 0.6, 0.05)),
    ("d256_n_under_d", 256, (5, 100, 0.3, 0.0), (6, 120, 0.4, 0.2)),
    ("d512_n_under_d", 512, (7, 300, 0.3, 0.0), (8, 400, 0.3, 0.02)),
    ("d2048_n_over_d", 2048, (9, 2100, 0.3, 0.0), (10, 2200, 0.35, 0.01)),
    ("d64_equal_sets", 64, (11, 500, 0.3, 0.1), (11, 500, 0.3, 0.1)),
]

KID_CASES = [
    # name, d, set A, set B, subset size m (first m rows of each set)
    ("d16_all_rows", 16, (21, 50, 0.3, 0.0), (22, 50, 0.5, 0.1), 50),
    ("d64_first_rows", 64, (23, 300, 0.2, 0.0), (24, 250, 0.4, 0.3), 200),
    ("d2048_all_rows", 2048, (25, 120, 0.3, 0.0), (26, 120, 0.3, 0.05), 120),
    ("d32_equal_sets", 32, (27, 80, 0.3, 0.0), (27, 80, 0.3, 0.0), 80),
]

RESIZE_CASES = [
    # name, seed, (width, height) in, (width, height) out
    ("down_37x23_to_13x17", 31, (37, 23), (13, 17)),
    ("up_5x7_to_19x11", 32, (5, 7), (19, 11)),
    ("down_x_up_y_40x6_to_9x21", 33, (40, 6), (9, 21)),
    ("same_width_12x30_to_12x8", 34, (12, 30), (12, 8)),
    ("down_big_300x200_to_29x31", 35, (300, 200), (29, 31)),
]


def fid_reference():
    from pytorch_fid.fid_score import calculate_frechet_distance

    out = []
    for name, d, a, b in FID_CASES:
        stats = []
        for seed, n, rho, shift in (a, b):
            x = features(seed, n, d, rho, shift).astype(np.float64)
            stats.append((x.mean(axis=0), np.cov(x, rowvar=False)))
        value = calculate_frechet_distance(stats[0][0], stats[0][1], stats[1][0], stats[1][1])
        params = lambda p: {"seed": p[0], "n": p[1], "rho": p[2], "shift": p[3]}
        out.append({"name": name, "dims": d, "a": params(a), "b": params(b), "fid": float(value)})
        print(f"fid {name}: {value!r}")
    return out


def kid_reference():
    import torch
    from cleanfid.fid import kernel_distance
    from torchmetrics.image.kid import poly_mmd

    out = []
    for name, d, a, b, m in KID_CASES:
        xa = features(a[0], a[1], d, a[2], a[3]).astype(np.float64)[:m]
        xb = features(b[0], b[1], d, b[2], b[3]).astype(np.float64)[:m]
        tm = float(poly_mmd(torch.from_numpy(xa), torch.from_numpy(xb), degree=3))
        np.random.seed(0)
        cf = kernel_distance(xa, xb, num_subsets=1, max_subset_size=m)
        params = lambda p: {"seed": p[0], "n": p[1], "rho": p[2], "shift": p[3]}
        out.append({"name": name, "dims": d, "a": params(a), "b": params(b), "subset_size": m,
                    "mmd_torchmetrics": tm, "mmd_cleanfid": cf})
        print(f"kid {name}: torchmetrics {tm!r} clean-fid {cf!r}")
    return out


def float_image(seed, w, h):
    """A float32 h x w image with values in [-20, 275): outside [0, 255] on purpose."""
    return (splitmix_uniform(seed, w * h).reshape(h, w) * 295.0 - 20.0).astype(np.float32)


def resize_reference():
    from PIL import Image
    from cleanfid.resize import make_resizer

    cases = []
    for name, seed, (w, h), (ow, oh) in RESIZE_CASES:
        img = Image.fromarray(float_image(seed, w, h))
        assert img.mode == "F"
        out = np.asarray(img.resize((ow, oh), Image.BICUBIC), dtype=np.float32)
        cases.append({"name": name, "seed": seed, "width": w, "height": h, "out_width": ow,
                      "out_height": oh, "pixels": [float(v) for v in out.reshape(-1)]})
    # clean-fid's whole resizer on one RGB uint8 image: 299 x 299 x 3 float32, sampled.
    w, h = 64, 48
    rgb = (splitmix_uniform(41, w * h * 3).reshape(h, w, 3) * 256.0).astype(np.uint8)
    resized = make_resizer("PIL", False, "bicubic", (299, 299))(rgb)
    flat = resized.reshape(-1)
    stride = 263
    clean = {"seed": 41, "width": w, "height": h, "stride": stride,
             "samples": [float(v) for v in flat[::stride]], "sum": float(flat.astype(np.float64).sum()),
             "min": float(flat.min()), "max": float(flat.max())}
    return {"cases": cases, "cleanfid_rgb": clean}


def npy_samples(out_dir):
    out_dir.mkdir(parents=True, exist_ok=True)
    x = splitmix_uniform(51, 12).reshape(3, 4)
    np.save(out_dir / "c_f4.npy", x.astype("<f4"))
    np.save(out_dir / "fortran_f8.npy", np.asfortranarray(x.astype("<f8")))
    np.save(out_dir / "big_endian_f4.npy", x.astype(">f4"))
    with open(out_dir / "v2_f8.npy", "wb") as f:
        np.lib.format.write_array(f, x.astype("<f8"), version=(2, 0))
    np.save(out_dir / "one_row_f4.npy", x.reshape(-1).astype("<f4"))


def main():
    root = Path(__file__).resolve().parents[2]
    out_dir = Path(sys.argv[1]) if len(sys.argv) > 1 else root / "crates/incant-image-metrics/tests/data"
    out_dir.mkdir(parents=True, exist_ok=True)
    for file, data in (("fid_reference.json", fid_reference()), ("kid_reference.json", kid_reference()),
                       ("resize_reference.json", resize_reference())):
        (out_dir / file).write_text(json.dumps(data, indent=1) + "\n")
        print("wrote", out_dir / file)
    npy_samples(out_dir / "npy")


if __name__ == "__main__":
    main()
