#!/usr/bin/env python3
"""Reference features for incant-image-metrics' FID Inception v3 on formula weights.

Usage:
    python make_inception_reference.py [OUT_JSON]

Needs numpy, torch, torchvision, pytorch-fid, clean-fid and pillow. OUT_JSON defaults to
crates/incant-image-metrics/tests/data/inception_reference.json.

No weights are downloaded or committed: every tensor of the FID network's state dict gets
values from a formula of its name and shape (`formula_tensor`, mirrored in
tests/inception_reference.rs), and pytorch-fid's `fid_inception_v3` loads that state dict
in place of pt_inception-2015-12-05 (its download is replaced by the formula). The network
is pytorch-fid's own `InceptionV3([3], resize_input=False, normalize_input=False)`, fed
clean-fid's "clean" 299 x 299 resize of two generated RGB images, scaled (x - 128) / 128.
"""

import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from make_fid_reference import splitmix_uniform  # noqa: E402

IMAGES = [(61, 40, 30), (62, 64, 64)]  # seed, width, height


def fnv1a64(text):
    h = 0xCBF29CE484222325
    for byte in text.encode():
        h = ((h ^ byte) * 0x100000001B3) & ((1 << 64) - 1)
    return h


def formula_tensor(name, shape):
    """Values of the state dict entry `name`: He-uniform convolutions, batch norms near 1."""
    count = int(np.prod(shape))
    u = splitmix_uniform(fnv1a64(name), count)
    if name.endswith("conv.weight"):
        fan_in = int(np.prod(shape[1:]))
        v = (2.0 * u - 1.0) * np.sqrt(6.0 / fan_in)
    elif name.endswith("bn.weight") or name.endswith("running_var"):
        v = 0.5 + u
    elif name.endswith("bn.bias") or name.endswith("running_mean"):
        v = 0.2 * (u - 0.5)
    else:
        v = 0.01 * (u - 0.5)
    return v.astype(np.float32).reshape(shape)


def main():
    import torch
    from cleanfid.resize import make_resizer
    from pytorch_fid import inception as fid_inception

    # FID blocks have the same parameters as torchvision's; only their forward differs.
    shapes = fid_inception._inception_v3(num_classes=1008, aux_logits=False, weights=None).state_dict()

    def formula_state_dict(url, progress=True):
        out = {}
        for name, t in shapes.items():
            if t.dtype.is_floating_point:
                out[name] = torch.from_numpy(formula_tensor(name, tuple(t.shape)))
            else:
                out[name] = t.clone()
        return out

    fid_inception.load_state_dict_from_url = formula_state_dict
    model = fid_inception.InceptionV3([3], resize_input=False, normalize_input=False).eval()

    resize = make_resizer("PIL", False, "bicubic", (299, 299))
    batch = []
    for seed, w, h in IMAGES:
        rgb = (splitmix_uniform(seed, w * h * 3).reshape(h, w, 3) * 256.0).astype(np.uint8)
        x = resize(rgb).transpose(2, 0, 1)
        batch.append((x - 128.0) / 128.0)
    x = torch.from_numpy(np.stack(batch).astype(np.float32))
    with torch.no_grad():
        features = model(x)[0].reshape(len(IMAGES), -1).double().numpy()
    print("features", features.shape, "mean", features.mean(), "max", features.max())

    root = Path(__file__).resolve().parents[2]
    out = Path(sys.argv[1]) if len(sys.argv) > 1 else root / "crates/incant-image-metrics/tests/data/inception_reference.json"
    data = {"images": [{"seed": s, "width": w, "height": h} for s, w, h in IMAGES],
            "features": [[float(v) for v in row] for row in features]}
    out.write_text(json.dumps(data) + "\n")
    print("wrote", out)


if __name__ == "__main__":
    main()
