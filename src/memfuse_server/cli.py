"""The command line: ``memfuse-server serve | config``."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Annotated, Any

import typer
import uvicorn

from memfuse_server.config import Settings, load_settings, masked
from memfuse_server.errors import ConfigurationError
from memfuse_server.logs import configure_logging

app = typer.Typer(
    help="memfuse-server: a long-term memory server for LLM agents (MemFuse API).",
    no_args_is_help=True,
    add_completion=False,
)

ConfigOption = Annotated[
    Path | None,
    typer.Option("--config", "-c", help="YAML settings file (default: $MEMFUSE_CONFIG)."),
]


def _settings(config: Path | None, overrides: dict[str, Any] | None = None) -> Settings:
    try:
        return load_settings(config, os.environ, overrides)
    except ConfigurationError as exc:
        typer.echo(f"error: {exc.message}", err=True)
        raise typer.Exit(2) from exc


@app.command()
def serve(
    config: ConfigOption = None,
    host: Annotated[str | None, typer.Option(help="Bind address (server.host).")] = None,
    port: Annotated[int | None, typer.Option(help="Port (server.port).")] = None,
) -> None:
    """Run the HTTP server (and its background tasks) until SIGTERM or Ctrl-C."""
    server_overrides = {k: v for k, v in (("host", host), ("port", port)) if v is not None}
    settings = _settings(config, {"server": server_overrides} if server_overrides else None)
    configure_logging(settings.server.log_format, settings.server.log_level)
    from memfuse_server.api import create_app

    uvicorn.run(
        create_app(settings),
        host=settings.server.host,
        port=settings.server.port,
        log_config=None,
        access_log=False,
        timeout_graceful_shutdown=int(settings.server.graceful_timeout_seconds) or None,
        server_header=False,
    )


@app.command("config")
def show_config(config: ConfigOption = None) -> None:
    """Print the effective settings (defaults, YAML, environment), secrets masked."""
    typer.echo(json.dumps(masked(_settings(config)), indent=2))


def main() -> None:
    app()


__all__ = ["app", "main"]
