"""The command line: ``memfuse-server serve | worker | migrate | jobs | stats | config | import |
export``."""

from __future__ import annotations

import asyncio
import json
import os
from pathlib import Path
from typing import Annotated, Any

import typer

from memfuse_server import __version__
from memfuse_server.config import Settings, load_settings, masked
from memfuse_server.entry import stop_quietly
from memfuse_server.errors import ConfigurationError, StartupFailed
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


def _version(shown: bool) -> None:
    if shown:
        typer.echo(f"memfuse-server {__version__}")
        raise typer.Exit()


@app.callback()
def _main(
    version: Annotated[
        bool,
        typer.Option("--version", callback=_version, is_eager=True, help="Print the version."),
    ] = False,
) -> None:
    """memfuse-server: a long-term memory server for LLM agents (MemFuse API)."""


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
    worker: Annotated[
        bool, typer.Option("--worker/--no-worker", help="Run the background worker in-process.")
    ] = True,
) -> None:
    """Run the HTTP server (and the background worker) until SIGTERM or Ctrl-C.

    A failure to start is one line on stderr and an exit status of its own (README "CLI").
    """
    stop_quietly()  # until the server has something to close
    overrides: dict[str, Any] = {}
    server = {k: v for k, v in (("host", host), ("port", port)) if v is not None}
    if server:
        overrides["server"] = server
    if not worker:
        overrides["worker"] = {"enabled": False}
    settings = _settings(config, overrides)
    configure_logging(settings.server.log_format, settings.server.log_level)
    from memfuse_server import startup

    try:
        startup.serve(settings)
    except StartupFailed as exc:
        typer.echo(f"error: {exc.message}", err=True)
        raise typer.Exit(exc.exit_code) from exc


@app.command("mcp")
def mcp_stdio(
    config: ConfigOption = None,
    user: Annotated[
        str | None,
        typer.Option(
            help="Act for this user (name or id) only; default: the user each call names."
        ),
    ] = None,
) -> None:
    """Serve the memory tools over MCP on stdin/stdout, for desktop hosts (docs/mcp.md).

    It opens the configured store itself (the same data as a running server with the same
    settings); logs go to stderr, stdout carries only the protocol.
    """
    stop_quietly()  # until there is something to close
    settings = _settings(config)
    configure_logging(settings.server.log_format, settings.server.log_level)
    from memfuse_server.mcp_server.server import run_stdio
    from memfuse_server.startup import run_until_stopped

    run_until_stopped(run_stdio(settings, user))


@app.command("config")
def show_config(config: ConfigOption = None) -> None:
    """Print the effective settings (defaults, YAML, environment), secrets masked."""
    typer.echo(json.dumps(masked(_settings(config)), indent=2))


@app.command("worker")
def run_worker(config: ConfigOption = None) -> None:
    """Run only the background worker (episodes -> M1 facts and M2 graph) until SIGTERM.

    A failure to start is one line on stderr and an exit status of its own, as for ``serve``.
    """
    settings = _settings(config)
    configure_logging(settings.server.log_format, settings.server.log_level)
    from memfuse_server.commands import run_worker_until_signal
    from memfuse_server.startup import check_worker

    try:
        check_worker(settings)
        asyncio.run(run_worker_until_signal(settings))
    except StartupFailed as exc:
        typer.echo(f"error: {exc.message}", err=True)
        raise typer.Exit(exc.exit_code) from exc


@app.command("migrate")
def migrate(config: ConfigOption = None) -> None:
    """Bring the configured database's schema up to date (SQLite or PostgreSQL), then exit.

    Servers and workers also migrate at start; several starting at once take turns.
    """
    from memfuse_server.errors import MemFuseError
    from memfuse_server.storage import migrate_store

    settings = _settings(config)
    try:
        version = asyncio.run(migrate_store(settings))
    except MemFuseError as exc:
        typer.echo(f"error: {exc.message}", err=True)
        raise typer.Exit(1) from exc
    typer.echo(f"database schema at version {version}")


jobs_app = typer.Typer(help="Inspect and re-drive background jobs.", no_args_is_help=True)
app.add_typer(jobs_app, name="jobs")


@jobs_app.command("dead")
def jobs_dead(
    config: ConfigOption = None,
    limit: Annotated[int, typer.Option(help="At most this many.")] = 100,
) -> None:
    """List dead letters (jobs that failed worker.max_attempts times) with their last error."""
    from memfuse_server.commands import with_store

    letters = asyncio.run(with_store(_settings(config), lambda s: s.dead_letters(limit)))
    typer.echo(json.dumps(letters, indent=2))


@jobs_app.command("retry")
def jobs_retry(
    config: ConfigOption = None,
    job_id: Annotated[
        list[int] | None, typer.Option("--id", help="Only this dead letter (repeatable).")
    ] = None,
) -> None:
    """Put dead letters (all, or those given with --id) back in the queue."""
    from memfuse_server.commands import with_store

    count = asyncio.run(with_store(_settings(config), lambda s: s.retry_dead_jobs(job_id)))
    typer.echo(f"{count} job(s) queued again")


@app.command("stats")
def stats(
    config: ConfigOption = None,
    url: Annotated[
        str | None,
        typer.Option(help="Server base URL (client.base_url; default http://127.0.0.1:8765)."),
    ] = None,
    api_key: Annotated[str | None, typer.Option(help="Admin API key (client.api_key).")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="JSON instead of a table.")] = False,
) -> None:
    """Print the running server's statistics (queue, layers, worker and its throttle, embedder);
    with no server answering, the background queue's figures from the database.

    The names are those of ``GET /api/v1/stats``.
    """
    from memfuse_server.commands import print_stats, server_stats, with_store

    settings = _settings(config)
    view = server_stats(settings.client, url, api_key)
    if view is None:
        typer.echo(
            "No server answered: the queue from the database (a running server also shows its "
            "worker, throttle and embedder).",
            err=True,
        )
        queue = asyncio.run(with_store(settings, lambda s: s.queue_stats()))
        view = queue.named()
    if as_json:
        typer.echo(json.dumps(view, indent=2))
    else:
        print_stats(view)


@app.command("import")
def import_conversations(
    file: Annotated[
        Path,
        typer.Argument(
            help="A JSON or JSONL file of conversations, or a ChatGPT or Claude export"
            " (conversations.json, or the export's zip file)."
        ),
    ],
    config: ConfigOption = None,
    url: Annotated[
        str | None,
        typer.Option(help="Server base URL (client.base_url; default http://127.0.0.1:8765)."),
    ] = None,
    api_key: Annotated[
        str | None, typer.Option(help="API key, sent as Bearer (client.api_key).")
    ] = None,
    concurrency: Annotated[
        int | None,
        typer.Option(
            help="Requests in flight, 1-50 (client.max_concurrency; default 10, or up to 50"
            " with --adaptive)."
        ),
    ] = None,
    adaptive: Annotated[
        bool | None,
        typer.Option(
            "--adaptive/--fixed",
            help="AIMD picks the concurrency, up to --concurrency (50 when not given).",
        ),
    ] = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Check the file and show the plan; send nothing.")
    ] = False,
    user: Annotated[str, typer.Option(help="User for conversations that name none.")] = "default",
    agent: Annotated[
        str, typer.Option(help="Agent for conversations that name none.")
    ] = "assistant",
) -> None:
    """Import conversations (docs/import.md); interrupted or re-run, it adds no duplicates."""
    from memfuse_server.client.async_client import client_settings
    from memfuse_server.importer import Defaults, import_file

    settings = client_settings(_settings(config).client, base_url=url, api_key=api_key)
    status = import_file(
        settings,
        file,
        concurrency=concurrency,
        adaptive=adaptive,
        dry_run=dry_run,
        defaults=Defaults(user=user, agent=agent),
    )
    raise typer.Exit(status)


@app.command("export")
def export_memory(
    user: Annotated[str, typer.Option(help="The user (by name) whose memory to export.")],
    out: Annotated[
        Path | None, typer.Option(help="The file to write (default: standard output).")
    ] = None,
    with_derived: Annotated[
        bool,
        typer.Option(
            "--with-derived", help="Also the facts, entities and relations derived from them."
        ),
    ] = False,
    config: ConfigOption = None,
) -> None:
    """Export a user's memory as JSON Lines (docs/export.md), from the configured store;
    `memfuse-server import` reads it back into any server."""
    from memfuse_server.exporter.command import export_user

    status = export_user(_settings(config), user, out, with_derived=with_derived)
    raise typer.Exit(status)


def main() -> None:
    app()


__all__ = ["app", "main"]
