"""Reference outputs for incant-sd's parity test: diffusers' UNet2DConditionModel and
AutoencoderKL, transformers' CLIPTextModel, and diffusers' DDIM / Euler / Euler ancestral
schedules, run on the tiny deterministic folders incant-sd writes.

    cargo run -p incant-sd --example write_tiny_sd -- TINY_DIR
    python scripts/reference/make_sd_reference.py TINY_DIR OUT_JSON

TINY_DIR holds `sd1` (quick_gelu text encoder, conv projections) and `sd2` (gelu, linear
projections). For each, the script loads the folder with `from_pretrained` (strict: no
missing or unexpected keys), feeds fixed inputs drawn from numpy's seeded generator and
records inputs, outputs and the sha256 of each weights file, so the Rust test can tell
"the weights changed" from "the forward pass changed". Everything runs in float32 on the CPU.

The UNet is run twice: stock, and with GEGLU's GELU switched to the tanh approximation,
which is what candle's UNet computes; the second run isolates that one known deviation.
"""

import hashlib
import json
import sys
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from diffusers import (
    AutoencoderKL,
    DDIMScheduler,
    EulerAncestralDiscreteScheduler,
    EulerDiscreteScheduler,
    UNet2DConditionModel,
)
from diffusers.models.activations import GEGLU
from transformers import CLIPTextModel

STOCK_GEGLU_GELU = GEGLU.gelu


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def flat(t) -> list:
    a = t.detach().cpu().numpy() if isinstance(t, torch.Tensor) else np.asarray(t)
    return [float(f"{x:.9g}") for x in a.astype(np.float64).ravel()]


def check_loading(info: dict, what: str) -> None:
    bad = {k: v for k, v in info.items() if v and k in ("missing_keys", "unexpected_keys", "mismatched_keys")}
    if bad:
        raise SystemExit(f"{what}: weights do not match the model: {bad}")


def variant(folder: Path, pad: int, seed: int) -> dict:
    rng = np.random.default_rng(seed)
    out: dict = {"sha256": {}}
    for sub, name in [
        ("text_encoder", "model.safetensors"),
        ("unet", "diffusion_pytorch_model.safetensors"),
        ("vae", "diffusion_pytorch_model.safetensors"),
    ]:
        out["sha256"][f"{sub}/{name}"] = sha256(folder / sub / name)

    text, info = CLIPTextModel.from_pretrained(folder / "text_encoder", output_loading_info=True)
    check_loading(info, "text encoder")
    text.eval()
    # Start, a few words, a comma, end, then padding: the shape A1111's chunks have.
    ids = [49406, 320, 1929, 267, 2368, 518, 49407] + [pad] * 70
    with torch.no_grad():
        hidden = text(torch.tensor([ids])).last_hidden_state
    out["text"] = {"ids": ids, "hidden": flat(hidden)}

    unet, info = UNet2DConditionModel.from_pretrained(folder / "unet", output_loading_info=True)
    check_loading(info, "unet")
    unet.eval()
    x = rng.standard_normal((1, 4, 8, 8)).astype(np.float32)
    ctx = rng.standard_normal((1, 77, 32)).astype(np.float32)
    cases = []
    for t in (501.0, 333.0, 999.0):
        case = {"t": t}
        for key, approximate in (("out", "none"), ("out_tanh_geglu", "tanh")):
            # candle's GEGLU uses the tanh approximation of GELU where diffusers uses erf;
            # the second output isolates that one known deviation.
            GEGLU.gelu = lambda self, gate, a=approximate: F.gelu(gate, approximate=a)
            with torch.no_grad():
                y = unet(torch.from_numpy(x), torch.tensor(t), encoder_hidden_states=torch.from_numpy(ctx)).sample
            case[key] = flat(y)
        GEGLU.gelu = STOCK_GEGLU_GELU
        cases.append(case)
    out["unet"] = {"x": flat(x), "ctx": flat(ctx), "cases": cases}

    vae, info = AutoencoderKL.from_pretrained(folder / "vae", output_loading_info=True)
    check_loading(info, "vae")
    vae.eval()
    z = rng.standard_normal((1, 4, 4, 4)).astype(np.float32)
    with torch.no_grad():
        img = vae.decode(torch.from_numpy(z)).sample
    out["vae"] = {"z": flat(z), "out": flat(img)}
    return out


SD15 = dict(
    beta_start=0.00085,
    beta_end=0.012,
    beta_schedule="scaled_linear",
    num_train_timesteps=1000,
    steps_offset=1,
    set_alpha_to_one=False,
    clip_sample=False,
)


def schedules() -> list:
    """Timesteps, sigmas and one step of each sampler on fixed tensors."""
    classes = {"DDIM": DDIMScheduler, "Euler": EulerDiscreteScheduler, "Euler a": EulerAncestralDiscreteScheduler}
    rng = np.random.default_rng(7)
    sample = rng.standard_normal((1, 4, 2, 2)).astype(np.float32)
    model_out = rng.standard_normal((1, 4, 2, 2)).astype(np.float32)
    cases = []
    for sampler, cls in classes.items():
        for spacing in (None, "leading", "linspace", "trailing"):
            for prediction in ("epsilon", "v_prediction"):
                for steps in (1, 4, 7, 16):
                    cfg = dict(SD15, prediction_type=prediction)
                    if spacing is not None:
                        cfg["timestep_spacing"] = spacing
                    if cls is not DDIMScheduler:
                        cfg = {k: v for k, v in cfg.items() if k not in ("set_alpha_to_one", "clip_sample")}
                    s = cls(**cfg)
                    s.set_timesteps(steps)
                    case = {
                        "sampler": sampler,
                        "spacing": spacing,
                        "prediction": prediction,
                        "steps": steps,
                        "timesteps": flat(s.timesteps),
                        "init_noise_sigma": float(s.init_noise_sigma),
                    }
                    if sampler != "DDIM":
                        case["sigmas"] = flat(s.sigmas)
                    if sampler != "Euler a":
                        # One step from the second timestep (the first when there is one).
                        i = min(1, steps - 1)
                        t = s.timesteps[i]
                        if sampler == "Euler":
                            s._step_index = i
                            scaled = s.scale_model_input(torch.from_numpy(sample), t)
                            case["scaled_input"] = flat(scaled)
                        prev = s.step(torch.from_numpy(model_out), t, torch.from_numpy(sample)).prev_sample
                        case["step_index"] = i
                        case["prev_sample"] = flat(prev)
                    cases.append(case)
    return {"sample": flat(sample), "model_out": flat(model_out), "cases": cases}


def main() -> None:
    if len(sys.argv) != 3:
        raise SystemExit(__doc__)
    tiny, out_path = Path(sys.argv[1]), Path(sys.argv[2])
    torch.set_grad_enabled(False)
    data = {
        "tool": "diffusers + transformers, float32, CPU",
        "sd1": variant(tiny / "sd1", pad=49407, seed=1),
        "sd2": variant(tiny / "sd2", pad=0, seed=2),
        "schedules": schedules(),
    }
    out_path.parent.mkdir(parents=True, exist_ok=True)
    out_path.write_text(json.dumps(data, separators=(",", ":")) + "\n")
    print(f"wrote {out_path} ({out_path.stat().st_size} bytes)")


if __name__ == "__main__":
    main()
