"""Files named by stored data: they must stay inside the folder that holds them."""

from __future__ import annotations

from pathlib import Path


def contained(base: Path, relative: str) -> Path | None:
    """`base / relative` if it stays inside `base` once resolved, else None.

    An absolute path, a `..` or a symbolic link that leads out of `base` resolves outside it: a path
    read from the database (or a payload) never opens, serves or deletes a file elsewhere.
    """
    root = base.resolve()
    path = (root / relative).resolve()
    return path if path.is_relative_to(root) and path != root else None
