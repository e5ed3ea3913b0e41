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
