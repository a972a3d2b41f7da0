"""The RoundBuffer: when a session's open round window closes.

The window's state lives in the database (so nothing acknowledged is only in
RAM); this module is the pure policy the store applies inside the write
transaction. A window closes when it reaches ``max_tokens`` tokens (counted
with the embedding model's tokenizer), when a new round would exceed
``max_rounds``, or when the session has been idle for ``idle_seconds`` (the
sweeper closes those). A round starts at each ``user`` message; the replies
that follow belong to it. A single message larger than the token limit forms
an episode of its own.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from memfuse_server.models import Role


@dataclass(frozen=True)
class WindowState:
    """The open window of one session as the database holds it."""

    tokens: int = 0
    rounds: int = 0
    size: int = 0  # messages in the window


@dataclass(frozen=True)
class Incoming:
    """What the policy needs to know of one new message."""

    role: Role
    tokens: int


@dataclass(frozen=True)
class Plan:
    """Where to cut: ``close_before[i]`` closes the window before message ``i``.

    ``close_after_last`` closes it after the last message; ``state`` is the
    open window left at the end.
    """

    close_before: tuple[bool, ...]
    close_after_last: bool
    state: WindowState


@dataclass(frozen=True)
class RoundBuffer:
    max_tokens: int = 800
    max_rounds: int = 5

    def plan(self, state: WindowState, incoming: Sequence[Incoming]) -> Plan:
        """Decide the cut points for a batch of messages appended in order."""
        cuts: list[bool] = []
        for msg in incoming:
            cut = self._must_close_before(state, msg)
            if cut:
                state = WindowState()
            cuts.append(cut)
            state = self._append(state, msg)
        full = state.size > 0 and state.tokens >= self.max_tokens
        return Plan(tuple(cuts), full, WindowState() if full else state)

    def _must_close_before(self, state: WindowState, msg: Incoming) -> bool:
        if state.size == 0:
            return False
        if state.tokens >= self.max_tokens or state.tokens + msg.tokens > self.max_tokens:
            return True
        return msg.role is Role.USER and state.rounds >= self.max_rounds

    @staticmethod
    def _append(state: WindowState, msg: Incoming) -> WindowState:
        starts_round = msg.role is Role.USER or state.size == 0
        return WindowState(
            tokens=state.tokens + msg.tokens,
            rounds=state.rounds + (1 if starts_round else 0),
            size=state.size + 1,
        )


__all__ = ["Incoming", "Plan", "RoundBuffer", "WindowState"]
