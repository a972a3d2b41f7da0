"""SQLite: a database that cannot be written answers 503 with a Retry-After worth waiting
for, and writes work again within a call once it can be written, without a restart.

A connection SQLite opens while the file is read-only stays read-only for good; so does
one opened before, in some states. The runner lets go of a connection that failed that way
and opens a fresh one on its next call. As root the file is made read-only with
``chattr +i`` (root ignores permission bits), otherwise with ``chmod``.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from memfuse_server.config import load_settings
from memfuse_server.errors import Unavailable
from memfuse_server.storage import open_store
from tests.storage.test_store_contract import new_session

ROOT = os.geteuid() == 0


@contextlib.contextmanager
def read_only(*paths: Path) -> Iterator[None]:
    """The files cannot be written (by this process either) until the block ends."""
    present = [p for p in paths if p.exists()]
    if ROOT:
        if shutil.which("chattr") is None:
            pytest.fail("as root, making a file read-only needs chattr (e2fsprogs)")
        subprocess.run(["chattr", "+i", *map(str, present)], check=True)
    else:
        for p in present:
            p.chmod(0o444)
    try:
        yield
    finally:
        if ROOT:
            subprocess.run(["chattr", "-i", *map(str, present)], check=True)
        else:
            for p in present:
                p.chmod(0o644)


async def test_a_connection_opened_read_only_is_replaced_once_writable(tmp_path: Path) -> None:
    db = tmp_path / "m.db"
    settings = load_settings(environ={"MEMFUSE_DATABASE__URL": f"sqlite:///{db}"})
    first = open_store(settings)
    await first.open()  # the schema exists
    await first.close()
    store = open_store(settings)
    with read_only(db):
        await store.open()  # its writer connection opens read-only
        with pytest.raises(Unavailable) as refused:
            await store.create_user("while-read-only", None)
        assert refused.value.retry_after >= 5  # an operator has to act: no retry every second
    try:
        session = await new_session(store)  # the next call writes again
        assert (await store.get_user(session.user_id)).name == "alice"
    finally:
        await store.close()


async def test_a_store_whose_files_turn_read_only_recovers(tmp_path: Path) -> None:
    db = tmp_path / "m.db"
    store = open_store(load_settings(environ={"MEMFUSE_DATABASE__URL": f"sqlite:///{db}"}))
    await store.open()
    try:
        await store.create_user("before", None)
        # not the -shm: SQLite maps it into memory, and an immutable mapped page is a SIGBUS
        with read_only(db, db.with_name("m.db-wal")):
            for i in range(3):
                with contextlib.suppress(Unavailable):  # (with chmod the open files still work)
                    await store.create_user(f"during-{i}", None)
        await store.create_user("after", None)
        assert [u.name for u in await store.find_users("after")] == ["after"]
    finally:
        await store.close()
