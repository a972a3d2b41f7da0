"""``pip install`` is enough: a wheel of the project in a fresh virtualenv serves, embeds and
answers with no other command, and without torch (an unpinned torch pulls gigabytes)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from tests.serverproc import free_port

ROOT = Path(__file__).resolve().parents[2]


def _run(*args: str | Path, cwd: Path | None = None) -> str:
    result = subprocess.run(
        [str(a) for a in args], cwd=cwd, env=_clean_env(), capture_output=True, text=True
    )
    assert result.returncode == 0, f"{args}: {result.stdout[-3000:]}\n{result.stderr[-3000:]}"
    return result.stdout


def _clean_env() -> dict[str, str]:
    """The environment of a new user: nothing of this checkout's virtualenv or settings."""
    dropped = ("MEMFUSE_", "PYTHONPATH", "VIRTUAL_ENV", "PYTHONHOME")
    return {k: v for k, v in os.environ.items() if not k.startswith(dropped)}


def _ask(api: httpx.Client, method: str, path: str, body: object) -> dict[str, object]:
    response = api.request(method, path, json=body)
    assert response.status_code in (200, 201), response.text
    data = response.json()["data"]
    assert isinstance(data, dict)
    return data


@pytest.mark.slow
@pytest.mark.timeout(1800)
def test_a_wheel_in_a_fresh_virtualenv_serves_and_answers(tmp_path: Path) -> None:
    wheels = tmp_path / "wheels"
    _run(sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "-w", wheels, ROOT)
    (wheel,) = wheels.glob("memfuse_server-*.whl")
    venv = tmp_path / "venv"
    _run(sys.executable, "-m", "venv", venv)
    _run(venv / "bin" / "pip", "install", "--quiet", wheel)
    probe = "import importlib.util as u; print(u.find_spec('torch') is None)"
    assert _run(venv / "bin" / "python", "-c", probe).strip() == "True"

    home = tmp_path / "home"  # a new user's folder: the data goes to ./data
    home.mkdir()
    port = free_port()
    server = subprocess.Popen(
        [venv / "bin" / "memfuse-server", "serve", "--port", str(port)],
        cwd=home,
        env=_clean_env(),
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        _exchange(f"http://127.0.0.1:{port}/api/v1", server)
    finally:
        server.send_signal(signal.SIGTERM)
        _, said = server.communicate(timeout=120)
    assert server.returncode == 0, said[-3000:]
    assert f"data:           {home / 'data' / 'memfuse.db'}" in said


def _exchange(api_url: str, server: subprocess.Popen[str]) -> None:
    deadline = time.monotonic() + 180
    with httpx.Client(base_url=api_url, timeout=60) as api:
        while True:
            assert server.poll() is None, "the server exited"
            assert time.monotonic() < deadline, "the server did not answer"
            try:
                if api.get("/health").status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.2)
        user = _ask(api, "POST", "/users", {"name": "pip-user"})["user"]
        agent = _ask(api, "POST", "/agents", {"name": "pip-agent"})["agent"]
        body = {"user_id": user["id"], "agent_id": agent["id"], "name": "s"}  # type: ignore[index]
        session = _ask(api, "POST", "/sessions", body)["session"]
        said = [
            {"role": "user", "content": "My cat Miso is afraid of the vacuum cleaner."},
            {"role": "user", "content": "The quarterly tax return is due on the 15th."},
        ]
        _ask(api, "POST", f"/sessions/{session['id']}/messages", {"messages": said})  # type: ignore[index]
        query = {"query": "Which pet is scared of cleaning machines?", "top_k": 1}
        found = _ask(api, "POST", f"/users/{user['id']}/query", query)["results"]  # type: ignore[index]
        assert "Miso" in found[0]["content"]  # type: ignore[index]
