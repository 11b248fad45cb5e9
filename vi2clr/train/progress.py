"""Progress bars for long loops, on stderr and only on a terminal: on a TTY a rich bar that stays
on screen when done; elsewhere (``dvc repro`` logs, SLURM) nothing, so the log holds only the
plain per-epoch lines."""

from __future__ import annotations

import sys
from collections.abc import Iterable, Iterator
from typing import TypeVar

T = TypeVar("T")


def progress(items: Iterable[T], description: str, *, enabled: bool = True, total: int | None = None) -> Iterator[T]:
    """``items``, wrapped in a non-transient rich progress bar when ``enabled`` and stderr is a TTY."""
    if not (enabled and sys.stderr.isatty()):
        return iter(items)
    from rich.console import Console
    from rich.progress import track

    return iter(track(items, description=description, total=total, transient=False,
                      console=Console(stderr=True)))
