"""Plugins of one kind (detectors, plate readers …): classes keyed by their config's `type`.

Each kind is an ABC whose subclasses add themselves to the kind's `Registry`; the modules that define the
built-in plugins are imported on first use, and one that fails to import is logged, not fatal.
"""

from __future__ import annotations

import importlib
import logging
from collections.abc import Sequence
from typing import Generic, TypeVar

logger = logging.getLogger(__name__)

P = TypeVar("P")


class Registry(Generic[P]):
    """The plugin classes of one kind, by `type` name."""

    def __init__(self, kind: str, modules: Sequence[str]) -> None:
        self.kind = kind  # "detector", "plate reader": what error messages call one
        self._modules = tuple(modules)
        self._classes: dict[str, type[P]] = {}
        self._loaded = False

    def add(self, name: str, cls: type[P]) -> None:
        """Register `cls` under `name` (called from the ABC's __init_subclass__)."""
        self._classes[name] = cls

    def types(self) -> list[str]:
        """The `type` of every plugin that could be loaded."""
        self._load()
        return sorted(self._classes)

    def get(self, name: object) -> type[P]:
        """The plugin class of that `type`; ValueError naming the known ones if there is none."""
        self._load()
        cls = self._classes.get(str(name))
        if cls is None:
            raise ValueError(f"no {self.kind} of type {name!r}; known: {', '.join(self.types())}")
        return cls

    def _load(self) -> None:
        if self._loaded:
            return
        self._loaded = True
        for module in self._modules:
            try:
                importlib.import_module(module)
            except Exception:  # an optional plugin that cannot load must not take the others down
                logger.exception("%s plugin %s could not be loaded", self.kind, module)
