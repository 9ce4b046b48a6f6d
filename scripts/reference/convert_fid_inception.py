#!/usr/bin/env python3
"""Convert pytorch-fid's FID Inception weights to safetensors for incant.

Usage:
    python convert_fid_inception.py pt_inception-2015-12-05-6726825d.pth OUT.safetensors

The .pth file is the one pytorch-fid downloads on first use (FID_WEIGHTS_URL in
pytorch_fid/inception.py; look in torch's hub cache, ~/.cache/torch/hub/checkpoints/).
Keys are kept as they are (`Conv2d_1a_3x3.conv.weight`, ...); float tensors are stored as
float32, integer counters (`num_batches_tracked`) are dropped. Needs torch and safetensors.
"""

import sys

import torch
from safetensors.torch import save_file


def main():
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    state = torch.load(sys.argv[1], map_location="cpu", weights_only=True)
    out = {k: v.float().contiguous() for k, v in state.items() if v.dtype.is_floating_point}
    save_file(out, sys.argv[2])
    print(f"wrote {len(out)} tensors to {sys.argv[2]}")


if __name__ == "__main__":
    main()
