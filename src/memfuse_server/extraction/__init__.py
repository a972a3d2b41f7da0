"""Extraction: M1 facts and the M2 graph from an episode.

``build_extractor`` is the only place a provider is picked:
``rules`` (default; offline, deterministic) or ``llm`` (any OpenAI-compatible
chat endpoint). What they produce (``Fact``, ``Entity``, ``Relation``, ...) are
domain types in ``memfuse_server.models``.
"""

from __future__ import annotations

from memfuse_server.config import ExtractionSettings
from memfuse_server.extraction.base import Extractor


def build_extractor(settings: ExtractionSettings) -> Extractor:
    if settings.provider == "llm":
        from memfuse_server.extraction.llm import LLMExtractor

        return LLMExtractor(settings.llm)
    from memfuse_server.extraction.rules import RuleExtractor

    return RuleExtractor()


__all__ = ["Extractor", "build_extractor"]
