"""Start-up trimming for the CLI process (not used when llmtrace is imported as a library).

pydantic looks for plugins the first time it builds a validator (typer builds one per command
parameter; our models build theirs). Its plugin loader imports ``importlib.metadata`` at module
level — about 15 ms of imports (email, zipfile, csv, ...) — even when ``PYDANTIC_DISABLE_PLUGINS``
says there are none to load. llmtrace uses no pydantic plugins, so the CLI disables them and
registers a loader that answers "no plugins" without that import. Whenever plugins are not
disabled (the variable changed, or any other name is asked for) the stand-in hands over to
pydantic's real loader, so behaviour never differs from pydantic's own.
"""

from __future__ import annotations

import importlib
import os
import sys
import types
from enum import Enum
from typing import List, Optional

LOADER = "pydantic.plugin._loader"
DISABLED = ("__all__", "1", "true")  # the values pydantic's loader treats as "no plugins"


def _real_loader() -> types.ModuleType:
    if isinstance(sys.modules.get(LOADER), _LoaderStandIn):
        del sys.modules[LOADER]
    return importlib.import_module(LOADER)


class _LoaderStandIn(types.ModuleType):
    def get_plugins(self):  # noqa: ANN201 - same contract as pydantic's get_plugins
        if os.environ.get("PYDANTIC_DISABLE_PLUGINS") in DISABLED:
            return ()
        return _real_loader().get_plugins()

    def __getattr__(self, name: str):  # noqa: ANN204 - anything else: the real module's
        if name.startswith("__"):
            raise AttributeError(name)
        return getattr(_real_loader(), name)


def disable_pydantic_plugins() -> None:
    """Turn pydantic plugins off for this process (unless the user chose otherwise) and skip
    the plugin discovery imports while they are off."""
    os.environ.setdefault("PYDANTIC_DISABLE_PLUGINS", "__all__")
    if os.environ["PYDANTIC_DISABLE_PLUGINS"] in DISABLED and LOADER not in sys.modules:
        sys.modules[LOADER] = _LoaderStandIn(LOADER)


# aiohttp builds its two default TLS client contexts when ``aiohttp.connector`` is imported, and
# each loads the system's CA certificates: about 170 ms of ``serve``'s 300 ms start, for a
# server that, unless it forwards misses upstream, never opens a TLS connection. ``serve``
# imports aiohttp through ``import_aiohttp_loading_certificates_later``: the contexts are made
# without the certificates, which a background thread then loads into those same contexts
# (OpenSSL reads the file without holding the GIL, so this overlaps serving). Until it is done a
# verified TLS connection fails (no CA is trusted yet) rather than trusting anything; code that
# opens one calls ``certificates_loaded()`` first.
_LOADING: list = []


def import_aiohttp_loading_certificates_later() -> None:
    if "aiohttp.connector" in sys.modules:
        return
    import ssl
    import threading

    made: list = []
    real = ssl.SSLContext.set_default_verify_paths

    def later(context) -> None:
        made.append(context)

    ssl.SSLContext.set_default_verify_paths = later  # type: ignore[method-assign]
    try:
        import aiohttp.connector  # noqa: F401 - imported here for its side effect
    finally:
        del ssl.SSLContext.set_default_verify_paths  # the inherited (C) method again
    if ssl.SSLContext.set_default_verify_paths is not real:  # someone else changed it: load now
        for context in made:
            real(context)
        return
    thread = threading.Thread(target=lambda: [real(context) for context in made], name="llmtrace-certificates",
                              daemon=True)
    thread.start()
    _LOADING.append(thread)


def certificates_loaded() -> None:
    """Wait until aiohttp's default TLS contexts trust the system's CA certificates."""
    while _LOADING:
        _LOADING.pop().join()


# typer (0.2x) turns each command-line value into its parameter's type through a pydantic
# TypeAdapter built on first use: importing typer's adapters (pydantic.types, annotated_types)
# and building one adapter per parameter is about as much work as importing all of typer, rich
# and pydantic together — and every command pays it, even for options left at None. Values that
# need no conversion are answered here: an option not given (None, or nothing for a repeatable
# one), a ``str`` that is a ``str``, a list of them, an Enum member that is already one, an
# ``int`` typed as plain digits for an option without bounds (``serve --port 0``). Each answer
# is the one typer's adapter gives for that value. Anything else (another number, a choice
# typed on the command line, a file, a custom parser) goes to typer's own runtime parameter,
# built then, so conversions and error messages stay typer's.
def _plain_number(value, info) -> bool:
    """An int as typed (a few ASCII digits, no sign or spaces), for an option without bounds."""
    if getattr(info, "min", None) is not None or getattr(info, "max", None) is not None:
        return False
    return type(value) is int or (type(value) is str and 0 < len(value) <= 18 and value.isascii() and value.isdigit())


def answer_plain_values_without_typer_adapters() -> None:
    try:
        from typer import _coercion, core
    except ImportError:  # a typer without this machinery: nothing to trim
        return
    cls = getattr(core, "_TyperParameter", None)
    base = getattr(_coercion, "RuntimeParam", None)
    real = getattr(cls, "get_runtime_param", None)
    if real is None or base is None or getattr(real, "_llmtrace", False):
        return

    class PlainValues(base):
        def _coerce_value(self, value, param, ctx):
            annotation = self.annotation
            if self.parameter_info.parser is None:
                if annotation is str and type(value) is str:
                    return value
                if (annotation == List[str] or annotation == list[str]) and isinstance(value, (list, tuple)) \
                        and all(type(item) is str for item in value):
                    return list(value)
                if isinstance(annotation, type) and issubclass(annotation, Enum) and type(value) is annotation:
                    return value
                if annotation in (int, Optional[int]) and _plain_number(value, self.parameter_info):
                    return int(value)
            return real(param)._coerce_value(value, param=param, ctx=ctx)

    def get_runtime_param(self):
        descriptor = getattr(self, "type_descriptor", None)
        if self._runtime_param is None and descriptor is not None and descriptor.file_annotation is None:
            return PlainValues(parameter_info=descriptor.parameter_info, annotation=descriptor.annotation)
        return real(self)

    get_runtime_param._llmtrace = True
    cls.get_runtime_param = get_runtime_param
