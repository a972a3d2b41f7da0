"""Test doubles for memfuse-server's own tests and for users' tests.

``FakeLLMServer`` is a network-edge double: a real OpenAI-compatible HTTP
server on 127.0.0.1 (chat completions and embeddings) with scripted failures,
delays and odd answers, recording what it is sent (``llm_server``). What it
answers by default comes from ``answers``: deterministic unit vectors
(``fake_embedding``) and extraction JSON derived from the episode it is sent
(``canned_extraction``).
"""

from __future__ import annotations

from memfuse_server.testing.answers import canned_extraction, fake_embedding
from memfuse_server.testing.llm_server import FakeLLMServer, RecordedRequest, Reply

__all__ = ["FakeLLMServer", "RecordedRequest", "Reply", "canned_extraction", "fake_embedding"]
