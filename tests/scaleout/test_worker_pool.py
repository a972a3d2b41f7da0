"""The pool each kind of process needs on PostgreSQL, and a refusal in one line.

A standalone worker needs what its jobs and its loop hold at once, not the API's
connections: with the defaults 4 x 3 + 1 = 13, where `serve` needs 13 + 4 = 17.
"""

from __future__ import annotations

import time
from pathlib import Path

from memfuse_server.config import load_settings
from memfuse_server.models import ProcessKind
from memfuse_server.storage.postgres.sizing import pool_needs
from tests.pg import PostgresForTests
from tests.serverproc import ServerProcess, WorkerProcess


def test_each_kind_of_process_counts_what_it_runs() -> None:
    defaults = load_settings(environ={})
    assert pool_needs(defaults, ProcessKind.SERVE).total == 17
    assert pool_needs(defaults, ProcessKind.WORKER).total == 13
    api_only = load_settings(environ={"MEMFUSE_WORKER__ENABLED": "false"})
    assert pool_needs(api_only, ProcessKind.SERVE).total == 4
    assert pool_needs(api_only, ProcessKind.WORKER).total == 13  # the worker runs regardless


def _over(postgres: PostgresForTests, tmp_path: Path, overflow: int) -> ServerProcess:
    settings = {"database": {"pool_size": 10, "max_overflow": overflow}}
    (tmp_path / "w").mkdir()
    return ServerProcess(tmp_path / "w", settings, database_url=postgres.create_database())


def test_a_worker_starts_with_the_pool_it_needs(postgres: PostgresForTests, tmp_path: Path) -> None:
    worker = WorkerProcess(_over(postgres, tmp_path, 3)).start()  # 13 connections
    log = tmp_path / "w" / "worker.log"
    try:
        deadline = time.monotonic() + 60
        while "worker started" not in (log.read_text() if log.exists() else ""):
            assert worker.proc is not None and worker.proc.poll() is None, log.read_text()
            assert time.monotonic() < deadline, log.read_text()
            time.sleep(0.1)
    finally:
        worker.stop()


def test_a_worker_with_too_small_a_pool_is_refused_in_one_line(
    postgres: PostgresForTests, tmp_path: Path
) -> None:
    done = _over(postgres, tmp_path, 2).cli("worker")  # 12 connections
    assert done.returncode == 2, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), done.stderr
    assert "13 connections needed" in lines[0] and "Traceback" not in done.stderr
