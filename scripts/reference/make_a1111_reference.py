#!/usr/bin/env python3
"""Reference data for incant-image-prompt: AUTOMATIC1111's own prompt parser on generated prompts.

Usage:
    python make_a1111_reference.py PATH_TO_PROMPT_PARSER_PY [OUT_JSON]

Pass the path to modules/prompt_parser.py of stable-diffusion-webui (a version whose
get_learned_conditioning_prompt_schedules takes hires_steps; the committed data uses its
default scheduling, without hires steps). The file is
imported as it is (its code is not copied here); it needs `lark` installed
(`pip install lark`); torch is stubbed because the parser functions do not use it.
OUT_JSON defaults to crates/incant-image-prompt/tests/reference/a1111_attention.json.

For every prompt the JSON holds `parse_prompt_attention` (text, weight pairs),
`get_learned_conditioning_prompt_schedules` at STEPS steps, and the `AND` split of
`get_multicond_prompt_list` (text, weight pairs).
"""

import importlib.util
import json
import random
import sys
import types
from pathlib import Path

STEPS = 20
COUNT = 1000
SEED = 1111

WORDS = ["cat", "a dog", "castle", "red hat", "sky", "blue eyes", "masterpiece", "portrait",
         "oil painting", "forest", "sunset", "city", "cyberpunk", "1girl", "best quality",
         "chat noir", "東京", "café", "Ünïcödé", "🌸 flowers", "ANDROID", "BREAKFAST", "_AND_"]


def load_parser(path):
    sys.modules.setdefault("torch", types.ModuleType("torch"))
    spec = importlib.util.spec_from_file_location("a1111_prompt_parser", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def weight(rng):
    return rng.choice(["1.3", "0.5", "1.25", "2", "0", "-1", "+1.5", ".8", "1.", "0.1", "3.12", "1.1", " 1.2 ", "0.9\t"])


def when(rng):
    return rng.choice(["3", "10", "0.25", ".5", "0.75", "25", " 4", "1", "0", "15", "1.5", "2 ", "-3", "0.0"])


def gen(rng, depth=0):
    """One random fragment of A1111 prompt syntax."""
    k = rng.randrange(17 if depth < 3 else 2)
    if k < 2:
        return rng.choice(WORDS)
    inner = lambda: gen(rng, depth + 1)
    return [
        None, None,
        lambda: "(" + inner() + ")",
        lambda: "[" + inner() + "]",
        lambda: "(" + inner() + ":" + weight(rng) + ")",
        lambda: "(" + inner() + ": " + weight(rng) + ")",
        lambda: inner() + " " + inner(),
        lambda: inner() + ", " + inner(),
        lambda: rng.choice(["\\(", "\\)", "\\[", "\\]", "\\\\", "\\n", "\\:"]) + inner(),
        lambda: rng.choice(["(", "[", ")", "]", ":", "(("]) + inner(),
        lambda: inner() + rng.choice([" BREAK ", "BREAK", "\nBREAK\n", " BREAK", "  BREAK  BREAK "]) + inner(),
        lambda: "[" + inner() + ":" + inner() + ":" + when(rng) + "]",
        lambda: "[" + inner() + ":" + when(rng) + "]",
        lambda: "[" + inner() + "::" + when(rng) + "]",
        lambda: "[" + "|".join(inner() if rng.random() < 0.85 else "" for _ in range(rng.randrange(2, 4))) + "]",
        lambda: inner() + " AND " + inner() + rng.choice(["", ":1.2", " :0.5", ": 2", ":-1"]),
        lambda: inner() + rng.choice(["\t", "\u00a0", "  ", "\n"]) + inner(),
    ][k]()


FIXED = ["", " ", "normal text", "an (important) word", "(unbalanced", "\\(literal\\]",
         "(unnecessary)(parens)", "a (((house:1.3)) [on] a (hill:0.5), sun, (((sky))).",
         "BREAK", "a BREAK b", "(a BREAK b)", "a:1.2)", "[[a]]", "a [b:3]", "a [b: 3]",
         "a [[[b]]:2]", "[(a:2):3]", "a [b : c : 1] d", "a[b:[c:d:2]:1]e", "a [unbalanced",
         "a [b:.5] c", "a [{b|d{:.5] c", "((a][:b:c [d:3]", "[a|(b:1.1)]", "a AND b:1.5 AND c",
         "\\\\", "\\", "(a:1.2)(b:1.2)", "[a][b]", "((a)", "a)", "a]", "(a:+1.5)", "(a:-0.5)",
         "[fe|]male", "[fe|||]male", "a [b:1.5] c", "(a: 1.3 )", "a [b:3 ] c", "x AND  \n:2"]


def main():
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    parser = load_parser(sys.argv[1])
    if len(sys.argv) > 2:
        out = Path(sys.argv[2])
    else:
        out = Path(__file__).resolve().parents[2] / "crates/incant-image-prompt/tests/reference/a1111_attention.json"
    rng = random.Random(SEED)
    prompts = list(FIXED)
    while len(prompts) < COUNT:
        p = gen(rng)
        if p not in prompts:
            prompts.append(p)
    cases = []
    for p in prompts:
        try:
            attention = parser.parse_prompt_attention(p)
        except ValueError:
            continue  # A1111 itself raises on a weight such as ":.)"; no reference
        try:
            schedules = parser.get_learned_conditioning_prompt_schedules([p], STEPS)[0]
            schedules = [[int(s), t] for s, t in schedules]
        except Exception:  # should A1111 raise, record no schedule for the prompt
            schedules = None
        _, flat, _ = parser.get_multicond_prompt_list([p])
        indexes, _, _ = parser.get_multicond_prompt_list([p])
        cases.append({
            "prompt": p,
            "attention": [[t, float(w)] for t, w in attention],
            "schedules": schedules,
            "and": [[flat[i], float(w)] for i, w in indexes[0]],
        })
    lines = ",\n".join(json.dumps(case, ensure_ascii=False) for case in cases)
    out.write_text(f'{{"steps": {STEPS}, "cases": [\n{lines}\n]}}\n')
    print(f"{len(cases)} cases written to {out}")


if __name__ == "__main__":
    main()
