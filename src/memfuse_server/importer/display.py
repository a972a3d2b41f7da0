"""What ``memfuse-server import`` shows: the plan of a dry run, a progress bar, a summary table."""

from __future__ import annotations

from collections.abc import Sequence

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    ProgressColumn,
    Task,
    TextColumn,
    TimeRemainingColumn,
)
from rich.table import Table
from rich.text import Text

from memfuse_server.importer.formats import Conversation
from memfuse_server.importer.run import ImportReport

PLAN_ROWS = 20
ERROR_ROWS = 10


class _Rate(ProgressColumn):
    """Messages per second."""

    def render(self, task: Task) -> Text:
        speed = task.finished_speed or task.speed
        return Text(f"{speed:.1f} msg/s" if speed else "- msg/s")


class ProgressBar:
    """Messages, rate, ETA and errors on the console (stderr); ``label`` says what is done
    ("importing", "exporting"), and ``errors`` False leaves their count out."""

    def __init__(self, console: Console, label: str = "importing", errors: bool = True) -> None:
        errors_column = [TextColumn("errors: {task.fields[errors]}")] if errors else []
        self._progress = Progress(
            TextColumn(label),
            BarColumn(),
            MofNCompleteColumn(),
            _Rate(),
            TextColumn("ETA"),
            TimeRemainingColumn(),
            *errors_column,
            console=console,
        )
        self._task = self._progress.add_task("import", total=None, errors=0, start=False)
        self._errors = 0

    def start(self, total: int) -> None:
        self._progress.update(self._task, total=total)
        self._progress.start_task(self._task)
        self._progress.start()

    def advance(self, ok: bool) -> None:
        self._errors += not ok
        self._progress.update(self._task, advance=1, errors=self._errors)

    def stop(self) -> None:
        self._progress.stop()


def plan_table(conversations: Sequence[Conversation]) -> Table:
    """A dry run's plan: each conversation's user, agent, sessions and messages."""
    table = Table(title="Dry run: nothing was sent")
    for column in ("conversation", "user", "agent", "sessions", "messages"):
        table.add_column(column, justify="right" if column in ("sessions", "messages") else "left")
    for c in conversations[:PLAN_ROWS]:
        table.add_row(c.key, c.user, c.agent, str(len(c.sessions)), str(c.message_count))
    if len(conversations) > PLAN_ROWS:
        table.add_row(f"... {len(conversations) - PLAN_ROWS} more", "", "", "", "")
    sessions = sum(len(c.sessions) for c in conversations)
    messages = sum(c.message_count for c in conversations)
    table.add_row("total", "", "", str(sessions), str(messages), style="bold")
    return table


def summary_table(report: ImportReport) -> Table:
    """What an import did (or had done when it was interrupted)."""
    title = "Import interrupted: run it again to finish" if report.interrupted else "Import"
    table = Table(title=title)
    table.add_column("")
    table.add_column("count", justify="right")
    new = "n/a" if report.new_messages is None else str(report.new_messages)
    rate = report.accepted / report.elapsed_seconds if report.elapsed_seconds > 0 else 0.0
    concurrency = str(report.concurrency)
    if report.adaptive:
        concurrency = f"adaptive, max {report.concurrency}, ended at {report.final_concurrency}"
    rows = [
        ("conversations", str(report.conversations)),
        ("sessions (created)", f"{report.sessions} ({report.created_sessions})"),
        ("messages in the file", str(report.messages)),
        ("accepted by the server", str(report.accepted)),
        ("new on the server", new),
        ("failed", str(len(report.failures))),
        *(
            [("held back (their session stopped at a failure)", str(report.held_back))]
            if report.held_back
            else []
        ),
        *(
            [("knowledge in the file (new)", f"{report.knowledge} ({report.new_knowledge})")]
            if report.knowledge
            else []
        ),
        *(
            [("in flight at Ctrl-C (may be stored)", str(report.cut_off))]
            if report.interrupted
            else []
        ),
        ("time", f"{report.elapsed_seconds:.1f} s"),
        ("throughput", f"{rate:.1f} msg/s"),
        ("concurrency", concurrency),
    ]
    for row in rows:
        table.add_row(*row)
    return table


def print_failures(console: Console, failures: Sequence[tuple[str, str]]) -> None:
    for where, error in failures[:ERROR_ROWS]:
        console.print(f"failed: {where}: {error}", markup=False)
    if len(failures) > ERROR_ROWS:
        console.print(f"... and {len(failures) - ERROR_ROWS} more failures", markup=False)


__all__ = ["ProgressBar", "plan_table", "print_failures", "summary_table"]
