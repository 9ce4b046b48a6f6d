"""Reference sentence embeddings from sentence-transformers, for incant's parity test.

Run once with sentence-transformers installed (see PEERS.md) and the models fetched:
    HF_HUB_OFFLINE=1 python scripts/reference/make_embedding_reference.py models/all-MiniLM-L6-v2
Writes crates/incant-engine/tests/reference/minilm_embeddings.json.
"""
import json
import os
import sys

from sentence_transformers import SentenceTransformer

import corpus

here = os.path.dirname(os.path.abspath(__file__))
out = os.path.join(here, "..", "..", "crates", "incant-engine", "tests", "reference", "minilm_embeddings.json")
model = SentenceTransformer(sys.argv[1], device="cpu")
sentences = list(dict.fromkeys(corpus.embedding_sentences()))
vectors = model.encode(sentences, batch_size=32, normalize_embeddings=False, convert_to_numpy=True)
tok = model.tokenizer
data = {
    "tool": "sentence-transformers " + __import__("sentence_transformers").__version__,
    "model": "all-MiniLM-L6-v2",
    "max_seq_length": model.max_seq_length,
    "cases": [
        {
            "text": s,
            "n_tokens": min(len(tok(s)["input_ids"]), model.max_seq_length),
            "embedding": [round(float(x), 7) for x in v],
        }
        for s, v in zip(sentences, vectors)
    ],
}
os.makedirs(os.path.dirname(out), exist_ok=True)
with open(out, "w", encoding="utf-8") as f:
    json.dump(data, f, ensure_ascii=False, separators=(",", ":"))
print(f"{len(sentences)} sentences -> {out}")
