"""Reference token ids and greedy generations from llama.cpp, for incant's parity tests.

Uses llama-cpp-python (pinned in PEERS.md: 0.3.36, which builds llama.cpp from source) on the
same GGUF that incant loads:
    python scripts/reference/make_llamacpp_reference.py models/SmolLM2-135M-Instruct.Q4_1.gguf
Writes, under crates/incant-engine/tests/reference/:
- smollm2_tokens.json: ids for every corpus string, with special-token parsing off and on;
- smollm2_greedy.json: for 10 chat prompts (rendered with the GGUF's own template), the
  prompt ids, the first 32 greedy ids, their log-probabilities, and the top-1 id llama.cpp
  predicts at every position of prompt + generation (for teacher-forced agreement).
"""
import json
import math
import os
import sys

import numpy as np
from llama_cpp import Llama, __version__
from jinja2.sandbox import ImmutableSandboxedEnvironment

import corpus

here = os.path.dirname(os.path.abspath(__file__))
out_dir = os.path.join(here, "..", "..", "crates", "incant-engine", "tests", "reference")
path = sys.argv[1]

vocab = Llama(model_path=path, vocab_only=True, verbose=False)
cases = []
for text in dict.fromkeys(corpus.tokenizer_strings()):
    for special in (False, True):
        ids = vocab.tokenize(text.encode("utf-8"), add_bos=True, special=special)
        cases.append({"text": text, "parse_special": special, "ids": ids})
with open(os.path.join(out_dir, "smollm2_tokens.json"), "w", encoding="utf-8") as f:
    json.dump({"tool": f"llama-cpp-python {__version__} Llama.tokenize(add_bos=True)", "cases": cases}, f, ensure_ascii=False)
print(f"{len(cases)} tokenizer cases")

PROMPTS = [
    "What is the capital of France?",
    "Write a haiku about compilers.",
    "Explain what a prompt injection is in one sentence.",
    "List three colours.",
    "Translate 'good morning' into Spanish.",
    "What is 12 times 7?",
    "Give me a name for a pet cat.",
    "Why is the sky blue?",
    "Write one sentence about the sea.",
    "你好！请介绍一下你自己。",
]
template = vocab.metadata["tokenizer.chat_template"]
env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True)
tmpl = env.from_string(template)

llm = Llama(model_path=path, n_threads=2, n_ctx=2048, logits_all=True, verbose=False)
eos = llm.token_eos()
runs = []
for prompt in PROMPTS:
    rendered = tmpl.render(messages=[{"role": "user", "content": prompt}], add_generation_prompt=True)
    ptoks = llm.tokenize(rendered.encode("utf-8"), add_bos=True, special=True)
    llm.reset()
    gen = []
    for t in llm.generate(ptoks, temp=0.0, top_k=1, top_p=1.0, min_p=0.0, repeat_penalty=1.0):
        gen.append(int(t))
        if t == eos or len(gen) == 32:
            break
    # Teacher forcing: one pass over prompt + generation, top-1 at every position.
    seq = ptoks + gen
    llm.reset()
    llm.eval(seq)
    scores = np.array(llm.scores[: len(seq)], dtype=np.float64)
    top1 = [int(i) for i in scores.argmax(axis=1)]
    logprobs = []
    for i, t in enumerate(gen):
        row = scores[len(ptoks) - 1 + i]
        m = row.max()
        logprobs.append(round(float(row[t] - m - math.log(np.exp(row - m).sum())), 5))
    runs.append({"prompt": prompt, "rendered": rendered, "prompt_ids": ptoks, "generated_ids": gen,
                 "generated_text": llm.detokenize(gen).decode("utf-8", "replace"),
                 "generated_logprobs": logprobs, "top1_next": top1})
    print(repr(prompt), "->", repr(runs[-1]["generated_text"][:60]))
with open(os.path.join(out_dir, "smollm2_greedy.json"), "w", encoding="utf-8") as f:
    json.dump({"tool": f"llama-cpp-python {__version__}, n_threads=2, temp=0", "runs": runs}, f, ensure_ascii=False, indent=1)
