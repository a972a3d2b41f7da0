"""A first run that explains itself: each way ``serve`` cannot start is one line and an
exit status of its own, and a stop asked for (Ctrl-C, SIGTERM) is a quiet exit 0.

Every case runs the real ``memfuse-server`` command in a process of its own.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from memfuse_server.startup import Exit
from tests.serverproc import free_port

PASSWORD = "s3cret-pw"


def _env(**settings: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MEMFUSE_")}
    env["MEMFUSE_SERVER__LOG_FORMAT"] = "json"  # log lines are JSON; anything else is for people
    env.update({f"MEMFUSE_{key.upper()}": value for key, value in settings.items()})
    return env


def _command(tmp_path: Path, port: int, settings: dict[str, str]) -> dict[str, Any]:
    """``serve`` on ``port`` over a SQLite file in ``tmp_path`` (unless settings say otherwise)."""
    settings.setdefault("database__url", f"sqlite:///{tmp_path / 'data' / 'memfuse.db'}")
    args = [sys.executable, "-m", "memfuse_server", "serve", "--port", str(port)]
    return {"args": args, "env": _env(**settings), "cwd": tmp_path, "text": True}


def _serve(tmp_path: Path, port: int, **settings: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(**_command(tmp_path, port, settings), capture_output=True, timeout=120)


def _said(stderr: str) -> list[str]:
    """What the command said to people: stderr without the JSON log lines."""
    return [line for line in stderr.splitlines() if line and not line.startswith("{")]


def _one_error_line(result: subprocess.CompletedProcess[str]) -> str:
    said = _said(result.stderr)
    assert "Traceback" not in result.stderr + result.stdout
    assert len(said) == 1, said
    assert said[0].startswith("error: ")
    return said[0]


@pytest.fixture
def taken_port() -> Iterator[int]:
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        yield holder.getsockname()[1]


def test_a_taken_port_is_refused_before_the_model_loads(tmp_path: Path, taken_port: int) -> None:
    # The model is missing too: the port is what the user hears about (the model is checked later).
    result = _serve(tmp_path, taken_port, embedding__model_path=str(tmp_path / "no-model"))
    assert result.returncode == Exit.ADDRESS
    line = _one_error_line(result)
    assert f"Port {taken_port}" in line and "--port" in line


def test_a_data_folder_that_cannot_be_written(tmp_path: Path) -> None:
    (tmp_path / "a-file").write_text("not a folder")
    url = f"sqlite:///{tmp_path / 'a-file' / 'data' / 'memfuse.db'}"
    result = _serve(tmp_path, free_port(), database__url=url)
    assert result.returncode == Exit.DATA_FOLDER
    line = _one_error_line(result)
    assert str(tmp_path / "a-file" / "data") in line and "not writable" in line


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only folders")
def test_a_read_only_data_folder(tmp_path: Path) -> None:
    folder = tmp_path / "ro"
    folder.mkdir(mode=0o555)
    result = _serve(tmp_path, free_port(), database__url=f"sqlite:///{folder / 'memfuse.db'}")
    assert result.returncode == Exit.DATA_FOLDER
    assert "Permission denied" in _one_error_line(result)


def test_a_database_that_is_down_is_named_with_its_password_masked(tmp_path: Path) -> None:
    url = f"postgresql://memfuse:{PASSWORD}@127.0.0.1:{free_port()}/memfuse"
    result = _serve(tmp_path, free_port(), database__url=url)
    assert result.returncode == Exit.DATABASE_DOWN
    line = _one_error_line(result)
    assert "Cannot reach the database" in line and "memfuse:********@127.0.0.1" in line
    assert "reconnects by itself" not in line
    assert PASSWORD not in result.stderr + result.stdout


@pytest.mark.parametrize("where", ["127.0.0.1:54x32", "127.0.0.1:99999", ":5432"])
def test_a_malformed_database_url_is_named_with_its_password_masked(
    tmp_path: Path, where: str
) -> None:
    url = f"postgresql://memfuse:{PASSWORD}@{where}/memfuse"
    result = _serve(tmp_path, free_port(), database__url=url)
    assert result.returncode == Exit.DATABASE_URL
    assert "malformed" in _one_error_line(result)
    assert PASSWORD not in result.stderr + result.stdout


def test_bad_settings_are_one_line_without_their_values(tmp_path: Path) -> None:
    result = _serve(tmp_path, free_port(), server__bogus="1")
    assert result.returncode == Exit.SETTINGS
    assert "server.bogus" in _one_error_line(result)
    url = f"mysql://memfuse:{PASSWORD}@db/memfuse"
    result = _serve(tmp_path, free_port(), database__url=url)
    assert result.returncode == Exit.SETTINGS
    assert "database.url must start with" in _one_error_line(result)
    assert PASSWORD not in result.stderr


def test_a_missing_model_says_what_to_install(tmp_path: Path) -> None:
    result = _serve(tmp_path, free_port(), embedding__model_path=str(tmp_path / "no-model"))
    assert result.returncode == Exit.MODEL
    assert "embedding.model_path" in _one_error_line(result)


def _start(tmp_path: Path, port: int, **settings: str) -> subprocess.Popen[str]:
    """``serve`` in a process group of its own, as a terminal runs it (Ctrl-C reaches all)."""
    return subprocess.Popen(
        **_command(tmp_path, port, settings),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )


def _wait_healthy(proc: subprocess.Popen[str], port: int) -> None:
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline and proc.poll() is None:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/api/v1/health", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            time.sleep(0.1)
    raise AssertionError(f"no health answer; exit {proc.poll()}")


@pytest.mark.parametrize("stop", ["ctrl-c", "sigterm"])
def test_a_running_server_says_where_it_is_and_stops_quietly(tmp_path: Path, stop: str) -> None:
    port = free_port()
    proc = _start(tmp_path, port)
    try:
        _wait_healthy(proc, port)
        base = f"http://127.0.0.1:{port}"
        root = httpx.get(f"{base}/")
        assert (
            root.status_code == 307
            and httpx.URL(base).join(root.headers["location"]).path == "/ui/"
        )
    finally:
        if stop == "ctrl-c":
            os.killpg(proc.pid, signal.SIGINT)  # the whole group, the embedder process too
        else:
            proc.send_signal(signal.SIGTERM)
        _, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 0
    assert "Traceback" not in stderr and "KeyboardInterrupt" not in stderr
    said = "\n".join(_said(stderr))
    assert f"listening on:   {base}" in said
    assert f"data:           {tmp_path / 'data' / 'memfuse.db'}" in said
    assert f"{base}/ui" in said and f"{base}/api/v1/docs" in said and f"{base}/mcp" in said


def test_ctrl_c_while_starting_is_a_quiet_exit(tmp_path: Path) -> None:
    # A database that is down makes the start slow (it retries): Ctrl-C lands in the middle.
    url = f"postgresql://memfuse:{PASSWORD}@127.0.0.1:{free_port()}/memfuse"
    proc = _start(tmp_path, free_port(), database__url=url)
    assert proc.stderr is not None
    for line in proc.stderr:
        if "retrying" in line:
            break
    os.killpg(proc.pid, signal.SIGINT)
    _, rest = proc.communicate(timeout=60)
    assert proc.returncode == 0
    assert "Traceback" not in rest and _said(rest) == []


def test_version() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "memfuse_server", "--version"], capture_output=True, text=True
    )
    assert result.returncode == 0
    assert result.stdout.startswith("memfuse-server ") and result.stdout.split()[1][0].isdigit()
