"""The client stands alone: importing it loads nothing of the server (its settings, storage,
API, embedder) nor the server's heavy dependencies, so an agent can use it anywhere."""

from __future__ import annotations

import json
import subprocess
import sys

SERVER_ONLY = (
    "memfuse_server.config",
    "memfuse_server.api",
    "memfuse_server.service",
    "memfuse_server.storage",
    "memfuse_server.embeddings",
    "memfuse_server.extraction",
    "memfuse_server.jobs",
    "memfuse_server.retrieval",
    "pydantic_settings",
    "numpy",
    "onnxruntime",
    "asyncpg",
    "fastapi",
    "uvicorn",
)

IMPORT = (
    "import json, sys\n"
    "from memfuse_server.client import AsyncClient\n"
    "print(json.dumps(sorted(sys.modules)))\n"
)


def test_importing_the_client_loads_nothing_of_the_server() -> None:
    done = subprocess.run(  # a clean interpreter: -I ignores PYTHON* variables and user site
        [sys.executable, "-I", "-c", IMPORT], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    loaded = json.loads(done.stdout)
    assert "memfuse_server.client.async_client" in loaded  # it did import the client
    unwanted = [
        m for m in loaded if m in SERVER_ONLY or m.startswith(tuple(f"{s}." for s in SERVER_ONLY))
    ]
    assert unwanted == []
