"""Files named by stored data: they must stay inside the folder that holds them."""

from __future__ import annotations

import contextlib
from collections.abc import Iterable
from pathlib import Path


def contained(base: Path, relative: str) -> Path | None:
    """`base / relative` if it stays inside `base` once resolved, else None.

    An absolute path, a `..` or a symbolic link that leads out of `base` resolves outside it: a path
    read from the database (or a payload) never opens, serves or deletes a file elsewhere.
    """
    root = base.resolve()
    path = (root / relative).resolve()
    return path if path.is_relative_to(root) and path != root else None


def remove_files(base: Path, relatives: Iterable[str | None]) -> None:
    """Delete the files named relative to `base` (a path leading outside it is never touched), and each of
    their folders left empty: a camera's pictures of a day, once the last of them is gone.

    Only the files' own folders go, never the ones above (a camera's, written to every day), so a picture
    being saved meanwhile never loses its folder.
    """
    emptied: set[Path] = set()
    for relative in relatives:
        path = contained(base, relative) if relative else None
        if path is not None:
            path.unlink(missing_ok=True)
            emptied.add(path.parent)
    root = base.resolve()
    for folder in emptied - {root}:
        with contextlib.suppress(OSError):  # not empty: another picture of that day keeps it
            folder.rmdir()
