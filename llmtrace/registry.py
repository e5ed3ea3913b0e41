"""The modules of a registry package (the containers) in their fixed order, each imported
when an iteration first reaches it: a command that reads one file imports the modules up to the
one that reads it, and a scan of thousands imports them all once."""

from __future__ import annotations

import importlib
import threading


class InOrder:
    """``in_order()``: the modules ``package.name`` for ``names``, in that order, imported as
    the iteration reaches them; once every one is imported, a plain tuple."""

    def __init__(self, package: str, names: tuple[str, ...]) -> None:
        self._package = package
        self._names = names
        self._imported: list = []
        self._all: tuple | None = None
        self._lock = threading.Lock()  # two threads sniffing at once import each module once, in order

    def in_order(self):
        return self._all if self._all is not None else self._importing()

    def _importing(self):
        imported = self._imported
        n = 0
        while n < len(self._names):
            if n == len(imported):
                with self._lock:
                    if n == len(imported):
                        imported.append(importlib.import_module(f"{self._package}.{self._names[n]}"))
                        if len(imported) == len(self._names):
                            self._all = tuple(imported)
            yield imported[n]
            n += 1
