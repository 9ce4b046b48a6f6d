#!/usr/bin/env python3
"""Writes the reference data for crates/incant-clip: tiny random CLIP models saved by
transformers, test PNGs, their pixel values after CLIP preprocessing, and the text and image
features that transformers' `CLIPModel` computes on them.

Usage (any venv with torch, transformers, pillow, numpy, open_clip_torch, torchmetrics):
    VENV/bin/python scripts/reference/make_clip_model_reference.py crates/incant-clip/tests/data

Three models, each a folder in transformers' layout (config.json, model.safetensors,
preprocessor_config.json) plus reference.json:
- quick_gelu: OpenAI's layout (quick_gelu, the legacy eos_token_id 2, so the text is pooled at
  the argmax of the ids), a 512-token vocabulary fed ids directly;
- gelu: OpenCLIP ViT-H/14's activation (exact erf GELU), pooling at the first eos_token_id
  (300, not the largest id, so the two pooling rules differ), layer_norm_eps 1e-6, a 512-token
  vocabulary fed ids directly;
- full_vocab: the real 49,408-token vocabulary (hidden size 4, weights stored as float16 to
  stay small), fed the ids of OpenAI's tokenizer (open_clip's copy of `simple_tokenizer`, whose
  `tokenize` truncates to 77 tokens and keeps the end marker), with CLIP scores computed by
  torchmetrics' own `clip_score` on the same images and captions.

Images are preprocessed by `CLIPImageProcessorPil` (transformers' PIL backend, the one that
reproduces OpenAI's PIL bicubic preprocessing) with size and crop set to 32; extra filters
(bilinear, lanczos) and a padding crop are recorded for one image each. Everything is seeded,
so a rerun writes the same files.
"""
import json
import os
import sys
import tempfile

import numpy as np
import torch
from PIL import Image
from transformers import CLIPConfig, CLIPModel
from transformers.models.clip.image_processing_pil_clip import CLIPImageProcessorPil


def features(out):
    """transformers 5 returns a model output from get_*_features; 4.x returned the tensor."""
    return out if isinstance(out, torch.Tensor) else out.pooler_output


def rounded(t):
    """A tensor as nested lists rounded to 6 decimals (far below the 1e-4 tolerance)."""
    return np.round(t.detach().double().numpy(), 6).tolist()


def randomize(model, seed):
    """Replaces transformers' tiny init (std 0.02) by larger random weights so every layer
    matters to the result."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if "layer_norm" in name or "layrnorm" in name or "layernorm" in name:
                base = 1.0 if name.endswith("weight") else 0.0
                p.copy_(base + 0.1 * torch.randn(p.shape, generator=g))
            elif name == "logit_scale":
                continue
            else:
                p.copy_(0.3 * torch.randn(p.shape, generator=g))


def make_images(out_dir):
    """Deterministic test PNGs: smooth patterns plus noise, several shapes."""
    rng = np.random.default_rng(7)
    shapes = {"wide": (37, 45), "tall": (96, 64), "square": (32, 32), "small": (20, 24), "large": (150, 200)}
    paths = {}
    for name, (h, w) in shapes.items():
        y, x = np.mgrid[0:h, 0:w].astype(np.float64)
        r = 127 + 120 * np.sin(x / (w / 6.0) + y / (h / 3.0))
        g = 255 * (x / max(w - 1, 1))
        b = 255 * ((x * y) % 97) / 96.0
        img = np.stack([r, g, b], axis=-1) + rng.normal(0, 12, (h, w, 3))
        img = np.clip(np.round(img), 0, 255).astype(np.uint8)
        path = os.path.join(out_dir, f"{name}.png")
        Image.fromarray(img, "RGB").save(path)
        paths[name] = path
    return paths


def processor(**kw):
    return CLIPImageProcessorPil(size={"shortest_edge": 32}, crop_size={"height": 32, "width": 32}, **kw)


def pixel_values(proc, path):
    img = Image.open(path).convert("RGB")
    return proc(images=[img], return_tensors="pt")["pixel_values"]


def tiny_config(act, text_hidden, text_heads, vision_hidden, vision_heads, vocab, eos, eps, proj):
    return CLIPConfig(
        text_config=dict(
            vocab_size=vocab, hidden_size=text_hidden, intermediate_size=2 * text_hidden + 3,
            num_hidden_layers=2, num_attention_heads=text_heads, max_position_embeddings=77,
            hidden_act=act, layer_norm_eps=eps, eos_token_id=eos, bos_token_id=49406 if vocab > 49406 else vocab - 2,
            pad_token_id=1,
        ),
        vision_config=dict(
            hidden_size=vision_hidden, intermediate_size=2 * vision_hidden + 5, num_hidden_layers=2,
            num_attention_heads=vision_heads, image_size=32, patch_size=8, hidden_act=act,
            layer_norm_eps=eps,
        ),
        projection_dim=proj,
    )


def id_sequences(vocab, eos, seed):
    """Random id sequences [bos, words..., eos] of several lengths, 77 included."""
    g = torch.Generator().manual_seed(seed)
    bos = vocab - 2
    seqs = []
    for n in [1, 5, 12, 40, 75]:
        words = torch.randint(0, vocab - 3, (n,), generator=g).tolist()
        seqs.append([bos] + words + [eos])
    # An eos in the middle followed by more words: the legacy rule pools at the max id, the
    # new rule at the first eos; both are what transformers does.
    words = torch.randint(0, vocab - 3, (6,), generator=g).tolist()
    seqs.append([bos] + words[:3] + [eos] + words[3:] + [eos])
    # No eos at all (what slicing a long caption gives): argmax pools at the largest id, the
    # eos rule at position 0.
    seqs.append([bos] + torch.randint(0, vocab - 3, (9,), generator=g).tolist())
    return seqs


def write_variant(out_dir, name, config, seed, images, seqs=None, dtype=torch.float32):
    folder = os.path.join(out_dir, name)
    os.makedirs(folder, exist_ok=True)
    torch.manual_seed(seed)
    model = CLIPModel(config).eval()
    randomize(model, seed)
    model.to(dtype).save_pretrained(folder, safe_serialization=True)
    processor().save_pretrained(folder)
    # Reload in float32 (an upcast of the stored weights) so the reference is what a float32
    # consumer of these files computes.
    model = CLIPModel.from_pretrained(folder, dtype=torch.float32).eval()
    ref = {"images": {}, "texts": []}
    with torch.no_grad():
        for img_name in images:
            pv = pixel_values(processor(), images[img_name])
            ref["images"][img_name] = rounded(features(model.get_image_features(pixel_values=pv))[0])
        for ids in seqs or []:
            t = torch.tensor([ids])
            ref["texts"].append({"ids": ids, "embedding": rounded(features(model.get_text_features(input_ids=t))[0])})
    return folder, model, ref


class FeatureModel(torch.nn.Module):
    """Adapts transformers 5's get_*_features (a model output) to the tensors torchmetrics expects."""

    def __init__(self, model):
        super().__init__()
        self.model = model
        self.config = model.config

    def get_image_features(self, *a, **k):
        return features(self.model.get_image_features(*a, **k))

    def get_text_features(self, *a, **k):
        return features(self.model.get_text_features(*a, **k))


def hf_tokenizer_files(tmp):
    """vocab.json and merges.txt for transformers' CLIPTokenizer, built from the same BPE file
    as OpenAI's tokenizer (open_clip ships it)."""
    from open_clip.tokenizer import SimpleTokenizer

    st = SimpleTokenizer()
    vocab = {k: v for k, v in st.encoder.items() if v < 49406}
    vocab["<|startoftext|>"] = 49406
    vocab["<|endoftext|>"] = 49407
    with open(os.path.join(tmp, "vocab.json"), "w") as f:
        json.dump(vocab, f)
    merges = sorted(st.bpe_ranks.items(), key=lambda kv: kv[1])
    with open(os.path.join(tmp, "merges.txt"), "w") as f:
        f.write("#version: 0.2\n")
        for (a, b), _ in merges[: 49152 - 256 - 2]:
            f.write(f"{a} {b}\n")


def full_vocab_scores(model, images, captions, ref):
    """torchmetrics' clip_score on the images and captions, pairwise and as a batch."""
    from open_clip import tokenize
    from torchmetrics.functional.multimodal import clip_score
    from transformers import CLIPProcessor, CLIPTokenizer

    ids = tokenize(captions, context_length=77)
    texts = []
    with torch.no_grad():
        for row, caption in zip(ids.tolist(), captions):
            end = row.index(49407) + 1
            seq = row[:end]
            emb = rounded(features(model.get_text_features(input_ids=torch.tensor([seq])))[0])
            texts.append({"caption": caption, "ids": seq, "embedding": emb})
    ref["captions"] = texts

    with tempfile.TemporaryDirectory() as tmp:
        hf_tokenizer_files(tmp)
        tok = CLIPTokenizer(os.path.join(tmp, "vocab.json"), os.path.join(tmp, "merges.txt"))
        proc = CLIPProcessor(image_processor=processor(), tokenizer=tok)
        wrapped = FeatureModel(model)
        tensors = {
            n: torch.from_numpy(np.array(Image.open(p).convert("RGB"))).permute(2, 0, 1).contiguous()
            for n, p in images.items()
        }
        cases = []
        short = [c for c in captions if len(tokenize([c], context_length=1000)[0].nonzero()) <= 77]
        names = list(tensors)

        def score(imgs, caps):
            s = clip_score([tensors[n] for n in imgs], caps, lambda: (wrapped, proc))
            cases.append({"images": imgs, "captions": caps, "score": float(s.detach())})

        # Every pair on its own (a negative cosine is clamped to 0), then batches: the clamp
        # applies to the batch mean, not to each pair.
        for img in names:
            for caption in short:
                score([img], [caption])
        score([names[i % len(names)] for i in range(len(short))], short)
        score(names[:2] * 2, [short[0], short[0], short[3], short[3]])
        # A positive mean over pairs of which one is negative (clamping each pair would differ).
        score(["wide", "square", "small"], [short[3], short[2], short[0]])
    ref["torchmetrics_clip_score"] = cases


def main():
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    out_dir = sys.argv[1]
    img_dir = os.path.join(out_dir, "images")
    os.makedirs(img_dir, exist_ok=True)
    images = make_images(img_dir)
    model_images = {k: images[k] for k in ["wide", "tall", "square", "small"]}

    pre = {"size": 32, "crop": 32, "cases": []}
    for name, path in images.items():
        pre["cases"].append({"image": name, "resample": 3, "pixel_values": rounded(pixel_values(processor(), path)[0])})
    for resample in [1, 2]:  # lanczos, bilinear
        pre["cases"].append(
            {"image": "large", "resample": resample, "pixel_values": rounded(pixel_values(processor(resample=resample), images["large"])[0])}
        )
    # A crop larger than the resized image: transformers pads with zeros before cropping.
    pad = CLIPImageProcessorPil(size={"shortest_edge": 16}, crop_size={"height": 24, "width": 20})
    pre["padded"] = {"image": "wide", "size": 16, "crop_height": 24, "crop_width": 20,
                     "pixel_values": rounded(pixel_values(pad, images["wide"])[0])}
    # For the record: the torchvision backend (transformers 5's default CLIPImageProcessor).
    from transformers import CLIPImageProcessor

    tv = CLIPImageProcessor(size={"shortest_edge": 32}, crop_size={"height": 32, "width": 32})
    diffs = []
    for name, path in images.items():
        a = pixel_values(processor(), path)
        b = tv(images=[Image.open(path).convert("RGB")], return_tensors="pt")["pixel_values"]
        diffs.append(float((a - b).abs().max()))
    pre["torchvision_backend_max_abs_diff"] = max(diffs)
    with open(os.path.join(out_dir, "preprocess_reference.json"), "w") as f:
        json.dump(pre, f)

    cfg = tiny_config("quick_gelu", 32, 4, 24, 2, vocab=512, eos=2, eps=1e-5, proj=16)
    folder, _, ref = write_variant(out_dir, "quick_gelu", cfg, 1, model_images, id_sequences(512, 511, 11))
    json.dump(ref, open(os.path.join(folder, "reference.json"), "w"))

    # eos 300 is not the largest id, so the two pooling rules pick different positions.
    cfg = tiny_config("gelu", 36, 3, 40, 5, vocab=512, eos=300, eps=1e-6, proj=24)
    folder, _, ref = write_variant(out_dir, "gelu", cfg, 2, model_images, id_sequences(512, 300, 12))
    json.dump(ref, open(os.path.join(folder, "reference.json"), "w"))

    cfg = tiny_config("quick_gelu", 4, 2, 16, 2, vocab=49408, eos=2, eps=1e-5, proj=8)
    folder, model, ref = write_variant(out_dir, "full_vocab", cfg, 4, model_images, None, dtype=torch.float16)
    captions = [
        "a photo of a cat",
        "an astronaut riding a horse on the moon, oil painting, trending on artstation",
        "Café de Flore in Paris at night",
        "a red sports car",
        # Over 75 tokens: truncated to 75 plus the start and end markers.
        "a very long prompt " + ", ".join(f"detail number {i}" for i in range(40)),
    ]
    full_vocab_scores(model, model_images, captions, ref)
    json.dump(ref, open(os.path.join(folder, "reference.json"), "w"))
    print("torchvision backend vs PIL backend, max |diff|:", pre["torchvision_backend_max_abs_diff"])


if __name__ == "__main__":
    main()
