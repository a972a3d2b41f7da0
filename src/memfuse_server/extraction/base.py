"""The Protocol every extractor meets.

An extractor reads the messages of one closed episode (``EpisodeInput``) and
returns **facts** (M1) and **a graph** (M2); the types live in ``models.py``.
``graph`` may be given the episode's facts (the sequential mode runs M1 first
and hands its facts to M2); in the parallel mode it gets ``None`` and works
from the messages alone. Extractors never touch storage.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from memfuse_server.models import EpisodeInput, Fact, Graph


class Extractor(Protocol):
    """Derives M1 facts and the M2 graph from one episode."""

    async def facts(self, episode: EpisodeInput) -> list[Fact]: ...

    async def graph(self, episode: EpisodeInput, facts: Sequence[Fact] | None) -> Graph: ...

    async def aclose(self) -> None: ...


__all__ = ["Extractor"]
