"""Which source messages a derived item may be tied to when it is saved.

A job reads an episode, extracts from it (an LLM may take seconds), then saves. Meanwhile a
message may be edited or deleted; that change forgets what was derived from the message and
processes its episode again. So a save keeps only the sources that are still stored and,
when it is told what the extractor read, still read the same (role, speaker, text, time): a
source that changed since is as good as gone, and an item left with no source is not saved.

The check and the writes are one transaction, and the source rows are held (shared) until
it ends (``dialect.share_rows``): an edit or deletion, which holds the messages it changes
before it forgets anything (``FOR UPDATE``), either waits for this save and then forgets
what it wrote, or commits first and this save sees the new text. SQLite's single writer
serialises the two by itself.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from memfuse_server.models import EpisodeMessage
from memfuse_server.storage.ops.rows import dt
from memfuse_server.storage.tx import Row, Tx

READ_COLUMNS = "id, role, name, content, created_at"


def as_read(row: Row) -> EpisodeMessage:
    """A message row as an extractor reads it."""
    return EpisodeMessage(
        row["id"], row["role"], row["name"], row["content"], dt(row["created_at"])
    )


async def current_sources(
    tx: Tx, ids: Iterable[str], read: Sequence[EpisodeMessage] | None = None
) -> set[str]:
    """Those of ``ids`` still stored and, if ``read`` is given, still as they were read (an
    id the extractor did not read does not count); their rows held until the end."""
    wanted = sorted(set(ids))
    if not wanted:
        return set()
    rows = await tx.fetch(
        f"SELECT {READ_COLUMNS} FROM messages WHERE id = ANY($1::text[]) ORDER BY id"
        + tx.dialect.share_rows,
        wanted,
    )
    if read is None:
        return {r["id"] for r in rows}
    seen = {m.id: m for m in read}
    return {r["id"] for r in rows if seen.get(r["id"]) == as_read(r)}


__all__ = ["READ_COLUMNS", "as_read", "current_sources"]
