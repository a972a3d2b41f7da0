"""Token counts come from the model's own tokenizer, untruncated."""

from __future__ import annotations

from pathlib import Path

from memfuse_server.config import EmbeddingSettings
from memfuse_server.embeddings import build_token_counter
from memfuse_server.embeddings.tokens import ModelTokenCounter


def test_counts_without_special_tokens(model_dir: Path) -> None:
    counter = ModelTokenCounter(model_dir)
    # [caroline, moved, from, sweden, four, years, ago, .]
    assert counter.count("Caroline moved from Sweden four years ago.") == 8
    assert counter.count("a") == 1


def test_empty_text_has_no_tokens(model_dir: Path) -> None:
    assert ModelTokenCounter(model_dir).count("") == 0


def test_long_texts_are_counted_in_full(model_dir: Path) -> None:
    counter = ModelTokenCounter(model_dir)
    sentence = "Sentence number seven talks about the weather in Lisbon."
    one = counter.count(sentence)
    assert counter.count(" ".join([sentence] * 100)) == 100 * one > 512


def test_built_from_settings(model_dir: Path) -> None:
    counter = build_token_counter(EmbeddingSettings(model_path=str(model_dir)))
    assert counter.count("What is the capital of France?") == 7
