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

Last, whole runs of diffusers' StableDiffusionPipeline (DDIM and Euler, with and without
guidance) start from incant-sd's own initial noise (its generator is ported below) and
incant-sd's conditioning, so the sampling loop, guidance, VAE scaling and uint8 conversion
are compared end to end.

The UNet is run twice: stock, and with GEGLU's GELU switched to the tanh approximation,
which is what candle's UNet computes; the second run isolates that one known deviation.
"""

import hashlib
import json
import math
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
    StableDiffusionPipeline,
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


class NoiseRng:
    """incant-sd's seeded noise (xoshiro256++ seeded by SplitMix64, Box-Muller in f64),
    ported so diffusers can start from the very latents incant-sd draws."""

    M = (1 << 64) - 1

    def __init__(self, seed: int):
        x = seed & self.M
        s = []
        for _ in range(4):
            x = (x + 0x9E3779B97F4A7C15) & self.M
            z = x
            z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & self.M
            z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & self.M
            s.append(z ^ (z >> 31))
        self.s = s
        self.spare = None

    @staticmethod
    def rotl(x: int, k: int) -> int:
        return ((x << k) | (x >> (64 - k))) & NoiseRng.M

    def next_u64(self) -> int:
        s = self.s
        result = (self.rotl((s[0] + s[3]) & self.M, 23) + s[0]) & self.M
        t = (s[1] << 17) & self.M
        s[2] ^= s[0]
        s[3] ^= s[1]
        s[1] ^= s[2]
        s[0] ^= s[3]
        s[2] ^= t
        s[3] = self.rotl(s[3], 45)
        return result

    def uniform(self) -> float:
        return ((self.next_u64() >> 11) + 1.0) * (1.0 / (1 << 53))

    def normal(self) -> float:
        if self.spare is not None:
            z, self.spare = self.spare, None
            return z
        r = math.sqrt(-2.0 * math.log(self.uniform()))
        theta = 2.0 * math.pi * self.uniform()
        self.spare = r * math.sin(theta)
        return r * math.cos(theta)

    def normals(self, n: int) -> np.ndarray:
        return np.array([self.normal() for _ in range(n)], dtype=np.float32)


def pipelines(folder: Path, pad: int) -> list:
    """Whole text-to-image runs of diffusers' StableDiffusionPipeline from incant-sd's
    initial latents and conditioning ("cat" against the negative "dog", one chunk each),
    with GEGLU in candle's tanh form; 32x32 images as uint8."""
    GEGLU.gelu = lambda self, gate: F.gelu(gate, approximate="tanh")
    text = CLIPTextModel.from_pretrained(folder / "text_encoder").eval()
    unet = UNet2DConditionModel.from_pretrained(folder / "unet").eval()
    vae = AutoencoderKL.from_pretrained(folder / "vae").eval()
    config = json.loads((folder / "scheduler" / "scheduler_config.json").read_text())

    def embed(token: int) -> torch.Tensor:
        ids = [49406, token, 49407] + [pad] * 74
        return text(torch.tensor([ids])).last_hidden_state

    # With the tiny merges file incant-sd writes, "cat" is token 513 and "dog" 515.
    cond, uncond = embed(513), embed(515)
    cases = []
    for sampler, cls in (("DDIM", DDIMScheduler), ("Euler", EulerDiscreteScheduler)):
        for cfg in (7.0, 1.0):
            seed, steps = 1234, 3
            pipe = StableDiffusionPipeline(
                vae=vae,
                text_encoder=text,
                tokenizer=None,
                unet=unet,
                scheduler=cls.from_config(config),
                safety_checker=None,
                feature_extractor=None,
                requires_safety_checker=False,
            )
            pipe.set_progress_bar_config(disable=True)
            latents = torch.from_numpy(NoiseRng(seed).normals(4 * 4 * 4).reshape(1, 4, 4, 4))
            image = pipe(
                prompt_embeds=cond,
                negative_prompt_embeds=uncond,
                latents=latents,
                num_inference_steps=steps,
                guidance_scale=cfg,
                height=32,
                width=32,
                output_type="np",
            ).images[0]
            pixels = (image * 255).round().astype(np.uint8)
            cases.append(
                {
                    "sampler": sampler,
                    "cfg_scale": cfg,
                    "seed": seed,
                    "steps": steps,
                    "pixels": [int(v) for v in pixels.ravel()],
                }
            )
    GEGLU.gelu = STOCK_GEGLU_GELU
    return cases


def main() -> None:
    if len(sys.argv) != 3:
        raise SystemExit(__doc__)
    tiny, out_path = Path(sys.argv[1]), Path(sys.argv[2])
    torch.set_grad_enabled(False)
    data = {
        "tool": "diffusers + transformers, float32, CPU",
        "sd1": variant(tiny / "sd1", pad=49407, seed=1),
        "sd2": variant(tiny / "sd2", pad=0, seed=2),
        "pipelines": {
            "sd1": pipelines(tiny / "sd1", pad=49407),
            "sd2": pipelines(tiny / "sd2", pad=0),
        },
        "schedules": schedules(),
    }
    out_path.parent.mkdir(parents=True, exist_ok=True)
    out_path.write_text(json.dumps(data, separators=(",", ":")) + "\n")
    print(f"wrote {out_path} ({out_path.stat().st_size} bytes)")


if __name__ == "__main__":
    main()
