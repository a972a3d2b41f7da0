"""``ClientSettings``: how the client and ``memfuse-server import`` reach a server.

They are the ``client`` section of the server's settings (YAML, or ``MEMFUSE_CLIENT__*``), but
live with the client, which uses them without the server's settings (or anything else of the
server) being imported. Pydantic only.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, SecretStr


class ClientSettings(BaseModel):
    """Our Python client and ``memfuse-server import`` (``MEMFUSE_CLIENT__*``)."""

    model_config = ConfigDict(extra="forbid")

    base_url: str = Field(default="http://127.0.0.1:8765", description="the server to talk to")
    api_key: SecretStr = Field(default=SecretStr(""), description="sent as `Bearer <key>`")
    timeout_seconds: float = Field(default=30.0, gt=0, description="one HTTP request")
    max_retries: int = Field(default=3, ge=0, description="on connection errors, 429 and 5xx")
    retry_backoff_seconds: float = Field(
        default=0.5, ge=0, description="first wait; doubles each retry (Retry-After wins)"
    )
    max_concurrency: int = Field(
        default=10, ge=1, le=50, description="bulk insertion: requests in flight (1-50)"
    )
    item_timeout_seconds: float = Field(
        default=30.0, gt=0, description="bulk insertion: one item, its retries included"
    )
    adaptive: bool = Field(
        default=False, description="bulk insertion: AIMD on latency and errors, up to the max"
    )
    keepalive_seconds: float = Field(
        default=15.0,
        ge=0,
        description="reuse an idle connection up to this long; keep it below the server's",
    )
    proxy: str | None = Field(
        default=None,
        description="an HTTP proxy for every request (http://host:port); none: the environment's",
    )
    trust_env: bool = Field(
        default=True,
        description="read HTTP_PROXY, HTTPS_PROXY and NO_PROXY from the environment",
    )
    verify: bool = Field(
        default=True, description="check the server's TLS certificate (off: any certificate)"
    )
    ca_bundle: Path | None = Field(
        default=None,
        description="a PEM file of certificate authorities to trust instead of the system's",
    )


__all__ = ["ClientSettings"]
