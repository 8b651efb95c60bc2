"""Progress on stderr for long work: shown on a terminal, silent otherwise or with --quiet."""

from __future__ import annotations

import contextlib
import sys

from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn


@contextlib.contextmanager
def progress_bar(quiet: bool = False):
    """Yields a callback progress(done, total, description), or None when nothing is shown."""
    if quiet or not sys.stderr.isatty():
        yield None
        return
    console = Console(file=sys.stderr)
    columns = (TextColumn("{task.description:<26}"), BarColumn(),
               TextColumn("{task.percentage:>3.0f}%"), TimeElapsedColumn())
    with Progress(*columns, console=console, transient=True) as bar:
        tasks: dict[str, int] = {}

        def update(done: int, total: int, description: str) -> None:
            if description not in tasks:
                tasks[description] = bar.add_task(description, total=total)
            bar.update(tasks[description], completed=done, total=total)

        yield update
