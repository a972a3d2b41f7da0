"""Run a real memfuse-server process on a free port, for tests and benchmarks."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import yaml

from tests.pg import database_for_server


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class ServerProcess:
    """One server process over a data folder; can be killed and started again."""

    data_dir: Path
    settings: dict[str, Any] = field(default_factory=dict)
    env: dict[str, str] = field(default_factory=dict)
    port: int = field(default_factory=free_port)
    args: list[str] = field(default_factory=list)  # extra `serve` options, e.g. --no-worker
    proc: subprocess.Popen[bytes] | None = None
    # PostgreSQL instead of the SQLite file in data_dir (MEMFUSE_TEST_BACKEND=postgres: a fresh one)
    database_url: str | None = field(default_factory=database_for_server)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def api(self) -> str:
        return f"{self.base_url}/api/v1"

    def _config_file(self) -> Path:
        url = self.database_url or f"sqlite:///{self.data_dir / 'memfuse.db'}"
        tree: dict[str, Any] = {"database": {"url": url}}
        for section, values in self.settings.items():
            tree.setdefault(section, {}).update(values)
        path = self.data_dir / "config.yaml"
        path.write_text(yaml.safe_dump(tree))
        return path

    def start(self, timeout: float = 60.0) -> ServerProcess:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        env = {k: v for k, v in os.environ.items() if not k.startswith("MEMFUSE_")}
        env.update(self.env)
        with (self.data_dir / "server.log").open("ab") as log:  # the child keeps its own copy
            self.proc = self._spawn(env, log)
        self._wait_healthy(timeout)
        return self

    def _spawn(self, env: dict[str, str], log: Any) -> subprocess.Popen[bytes]:
        return subprocess.Popen(
            [
                sys.executable,
                "-m",
                "memfuse_server",
                "serve",
                "--config",
                str(self._config_file()),
                "--port",
                str(self.port),
                *self.args,
            ],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )

    def _wait_healthy(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self.proc is not None
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited with {self.proc.returncode}:\n{self.log()}")
            try:
                if httpx.get(f"{self.api}/health", timeout=1.0).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        raise RuntimeError(f"server did not become healthy in {timeout}s:\n{self.log()}")

    def log(self) -> str:
        path = self.data_dir / "server.log"
        return path.read_text(errors="replace")[-5000:] if path.exists() else ""

    def kill(self, sig: int = signal.SIGKILL) -> int:
        assert self.proc is not None
        self.proc.send_signal(sig)
        code = self.proc.wait(timeout=60)
        self.proc = None
        return code

    def cli(self, *args: str) -> subprocess.CompletedProcess[str]:
        """Run another ``memfuse-server`` command over the same settings."""
        env = {k: v for k, v in os.environ.items() if not k.startswith("MEMFUSE_")}
        env.update(self.env)
        command = [
            sys.executable,
            "-m",
            "memfuse_server",
            *args,
            "--config",
            str(self._config_file()),
        ]
        return subprocess.run(command, env=env, capture_output=True, text=True, timeout=120)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.kill(signal.SIGTERM)


@dataclass
class WorkerProcess:
    """A standalone ``memfuse-server worker`` over a server's settings."""

    server: ServerProcess
    proc: subprocess.Popen[bytes] | None = None

    def start(self) -> WorkerProcess:
        env = {k: v for k, v in os.environ.items() if not k.startswith("MEMFUSE_")}
        env.update(self.server.env)
        config = self.server._config_file()
        with (self.server.data_dir / "worker.log").open("ab") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "memfuse_server", "worker", "--config", str(config)],
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        return self

    def kill(self, sig: int = signal.SIGKILL) -> int:
        assert self.proc is not None
        self.proc.send_signal(sig)
        code = self.proc.wait(timeout=60)
        self.proc = None
        return code

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.kill(signal.SIGTERM)
