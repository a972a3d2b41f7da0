"""``memfuse-server import FILE``: conversations from a JSON / JSONL file into a running server.

``formats`` reads and checks the file (``chatgpt`` and ``claude`` read those exports,
``exports`` what they share, ``conversation`` what a file is read into), ``run`` inserts it with
the bulk client (idempotently: a re-run adds nothing), ``display`` draws the progress bar and the
summary. ``import_file`` is
what the command calls; it returns the exit status: 0 all imported, 1 some failed or the server
could not be used, 2 the file or an option is wrong, 130 interrupted (run it again to finish).
"""

from __future__ import annotations

import asyncio
from pathlib import Path

from rich.console import Console

from memfuse_server.client import MAX_CONCURRENCY, AsyncClient, MemFuseClientError
from memfuse_server.client.settings import ClientSettings
from memfuse_server.importer.display import (
    ProgressBar,
    plan_table,
    print_failures,
    summary_table,
)
from memfuse_server.importer.formats import Conversation, Defaults, ImportFormatError, load
from memfuse_server.importer.run import ImportOptions, ImportReport, run_import

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130


async def _run(
    settings: ClientSettings,
    conversations: list[Conversation],
    options: ImportOptions,
    report: ImportReport,
    progress: ProgressBar,
) -> None:
    async with AsyncClient(settings=settings) as client:
        await run_import(client, conversations, options, progress, report)


def import_concurrency(settings: ClientSettings, given: int | None, adaptive: bool) -> int:
    """The requests in flight (the most, when adaptive): ``--concurrency``, else the configured
    ``client.max_concurrency``; adaptive without either may go up to the client's maximum
    (finding the level is its job)."""
    if given is not None:
        return given
    if adaptive and "max_concurrency" not in settings.model_fields_set:
        return MAX_CONCURRENCY
    return settings.max_concurrency


def import_file(
    settings: ClientSettings,
    path: Path,
    *,
    concurrency: int | None = None,
    adaptive: bool | None = None,
    dry_run: bool = False,
    defaults: Defaults | None = None,
    out: Console | None = None,
    err: Console | None = None,
) -> int:
    """Import ``path`` (or only check it, with ``dry_run``); the exit status."""
    out = out or Console()
    err = err or Console(stderr=True)
    use_adaptive = settings.adaptive if adaptive is None else adaptive
    limit = import_concurrency(settings, concurrency, use_adaptive)
    if not 1 <= limit <= MAX_CONCURRENCY:
        err.print(f"error: --concurrency must be between 1 and {MAX_CONCURRENCY}, not {limit}.")
        return EXIT_USAGE
    try:
        conversations = load(path, defaults)
    except ImportFormatError as exc:
        err.print(f"error: {path}: {exc.message}", markup=False)
        return EXIT_USAGE
    if dry_run:
        out.print(plan_table(conversations))
        return EXIT_OK
    options = ImportOptions(path, limit, use_adaptive)
    report = ImportReport.of(conversations, options)
    try:
        asyncio.run(_run(settings, conversations, options, report, ProgressBar(err)))
    except KeyboardInterrupt:
        report.interrupted = True
        out.print(summary_table(report))
        return EXIT_INTERRUPTED
    except MemFuseClientError as exc:
        err.print(f"error: {exc.message}", markup=False)
        return EXIT_FAILED
    out.print(summary_table(report))
    print_failures(err, report.failures)
    return EXIT_OK if report.ok else EXIT_FAILED


__all__ = ["Defaults", "ImportFormatError", "import_concurrency", "import_file", "load"]
