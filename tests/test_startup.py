"""The CLI's start-up trimming (llmtrace._startup): pydantic plugins off without importing the
plugin discovery machinery, and pydantic's own behaviour whenever plugins are not off.
Each case runs in a fresh interpreter: the stand-in lives in ``sys.modules``."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest


def _python(code: str, **env: str) -> str:
    environ = {k: v for k, v in os.environ.items() if k != "PYDANTIC_DISABLE_PLUGINS"}
    environ.update(env)
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=environ, timeout=60)
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


BUILD_A_MODEL = """
import sys
from llmtrace._startup import disable_pydantic_plugins
disable_pydantic_plugins()
from pydantic import BaseModel, TypeAdapter
class M(BaseModel):
    x: int
assert M(x="3").x == 3 and TypeAdapter(list[int]).validate_python(["1"]) == [1]
from pydantic.plugin._loader import get_plugins
print(list(get_plugins()), "importlib.metadata" in sys.modules)
"""


def test_models_build_without_plugin_discovery():
    assert _python(BUILD_A_MODEL) == "[] False"


def test_the_cli_runs_without_plugin_discovery(tmp_path):
    code = ("import sys, runpy\n"
            "sys.argv = ['llmtrace', '--version']\n"
            "from llmtrace.cli import main\n"
            "try:\n    main()\nexcept SystemExit:\n    pass\n"
            "import os\n"
            "print(os.environ['PYDANTIC_DISABLE_PLUGINS'], 'importlib.metadata' in sys.modules)")
    assert _python(code).splitlines()[-1] == "__all__ False"


@pytest.mark.parametrize("value", ["1", "true", "__all__"])
def test_every_off_value_pydantic_knows_is_honoured(value):
    assert _python(BUILD_A_MODEL, PYDANTIC_DISABLE_PLUGINS=value) == "[] False"


def test_a_user_choice_of_plugins_gets_pydantics_own_loader():
    code = ("import sys\n"
            "from llmtrace._startup import disable_pydantic_plugins, _LoaderStandIn\n"
            "disable_pydantic_plugins()\n"
            "from pydantic.plugin import _loader as loader\n"
            "print(isinstance(loader, _LoaderStandIn), list(loader.get_plugins()))")
    assert _python(code, PYDANTIC_DISABLE_PLUGINS="some_plugin") == "False []"


def test_plugins_turned_back_on_later_reach_the_real_loader():
    code = ("import os, sys\n"
            "from llmtrace._startup import disable_pydantic_plugins\n"
            "disable_pydantic_plugins()\n"
            "stand_in = sys.modules['pydantic.plugin._loader']\n"
            "os.environ['PYDANTIC_DISABLE_PLUGINS'] = ''\n"
            "plugins = list(stand_in.get_plugins())\n"
            "real = sys.modules['pydantic.plugin._loader']\n"
            "print(real is not stand_in, 'importlib.metadata' in sys.modules, "
            "stand_in.PYDANTIC_ENTRY_POINT_GROUP, plugins == list(real.get_plugins()))")
    assert _python(code) == "True True pydantic True"


AIOHTTP_LATER = """
import ssl
real = ssl.SSLContext.set_default_verify_paths
from llmtrace._startup import certificates_loaded, import_aiohttp_loading_certificates_later
import_aiohttp_loading_certificates_later()
assert ssl.SSLContext.set_default_verify_paths is real and "set_default_verify_paths" not in ssl.SSLContext.__dict__
import aiohttp.connector as connector
certificates_loaded()
print(connector._SSL_CONTEXT_VERIFIED.cert_store_stats() == ssl.create_default_context().cert_store_stats(),
      connector._SSL_CONTEXT_VERIFIED.verify_mode == ssl.CERT_REQUIRED)
"""


def test_serve_imports_aiohttp_and_its_contexts_trust_the_system_certificates_once_loaded():
    """serve's import of aiohttp loads the CA certificates in the background: once loaded, the
    default verified context trusts exactly what a default context trusts, and ssl is as it was."""
    assert _python(AIOHTTP_LATER) == "True True"
