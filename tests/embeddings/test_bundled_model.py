"""The bundled model is the official all-MiniLM-L6-v2, with its license beside it."""

from __future__ import annotations

import hashlib

from memfuse_server.embeddings.local import resolve_model_path

# sha256 of model.safetensors in the sentence-transformers/all-MiniLM-L6-v2 revision
OFFICIAL_WEIGHTS = "53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db"


def test_the_bundled_weights_are_the_official_ones() -> None:
    folder = resolve_model_path("")
    digest = hashlib.sha256()
    with (folder / "model.safetensors").open("rb") as weights:
        for block in iter(lambda: weights.read(1 << 20), b""):
            digest.update(block)
    assert digest.hexdigest() == OFFICIAL_WEIGHTS


def test_the_weights_come_with_their_apache_license() -> None:
    folder = resolve_model_path("")
    assert "Apache License" in (folder / "LICENSE").read_text()
    assert "all-MiniLM-L6-v2" in (folder / "NOTICE").read_text()
