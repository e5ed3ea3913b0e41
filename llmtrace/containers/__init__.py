"""Containers: how a recording is stored. Each container is one module with

- ``NAME``: its name (contracts.md vocabulary);
- ``sniff(doc) -> bool``: whether a parsed JSON document is in this container;
- ``read(doc) -> list[(Request, Response)]``: the exchanges it holds, raw chunk payloads in
  arrival order.

Adding a container means adding a module and listing it in ``_MODULES``.
"""

from __future__ import annotations

import importlib

_MODULES = ("llama_stack",)


def modules():
    return [importlib.import_module(f"llmtrace.containers.{name}") for name in _MODULES]


def names() -> list[str]:
    return [m.NAME for m in modules()]


def by_name(name: str):
    for mod in modules():
        if mod.NAME == name:
            return mod
    return None
