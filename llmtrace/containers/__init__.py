"""Containers: how a recording is stored. Each container is one module with ``NAME`` (its name
in the contracts.md vocabulary) and either

- ``sniff(doc) -> bool`` and ``read(doc) -> list[(Request, Response)]``: a *document*
  container, read from the file parsed as one JSON (or YAML) document; or
- ``sniff_text(data) -> bool`` and ``read_bytes(data) -> list[(Request, Response)]``: a *text*
  container (raw SSE, NDJSON), read from the file's bytes as a stream, event by event;

``read``/``read_bytes`` return the exchanges in file order, raw chunk payloads in arrival order.
Adding a container means adding a module and listing it in ``_MODULES`` (the order is the
order documents are sniffed in). How a file's container is found from its content is
``llmtrace.loader.select``.
"""

from __future__ import annotations

import functools

from llmtrace.registry import InOrder

_MODULES = ("llama_stack", "websocket", "claude_agent_sdk", "vcr", "har", "otlp", "nock", "json_chunks", "mitmproxy", "spool", "sse_text", "ndjson", "aws_eventstream")


_REGISTRY = InOrder("llmtrace.containers", _MODULES)


def in_order():
    """The container modules in sniffing order, each imported when the iteration reaches it: a
    file that the first container reads imports only that one."""
    return _REGISTRY.in_order()


@functools.cache
def modules() -> tuple:
    """The container modules, in sniffing order (imported on first use, once)."""
    return tuple(in_order())


def names() -> list[str]:
    return [m.NAME for m in modules()]


def by_name(name: str):
    for mod in modules():
        if mod.NAME == name:
            return mod
    return None


def is_text(mod) -> bool:
    """Whether ``mod`` is a text container (read from bytes, not from a parsed document)."""
    # Looked up in the module's namespace: ``hasattr`` on a module that lacks the name builds
    # the AttributeError it then drops (a microsecond, every file).
    return "read_bytes" in vars(mod)
