"""What the CLI leaves out at start-up (issue 26): only the command named is built, values that
need no converting skip typer's pydantic adapters, containers and dialects are imported as far
as sniffing goes — and none of it changes what typer or llmtrace answer."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
import typer.main
from typer import _coercion

from conftest import SEED
from llmtrace.cli import FailOn, _app_for, app


def test_only_the_named_command_is_built():
    only = _app_for(["reassemble", str(SEED)])
    assert [typer.main.get_command_name(c.callback.__name__) for c in only.registered_commands] == ["reassemble"]
    assert len(app.registered_commands) == 9  # the app itself is untouched
    for args in ([], ["--help"], ["--version"], ["nope"], ["-V", "reassemble"]):
        assert _app_for(args) is app, args


def test_completion_builds_the_whole_app(monkeypatch):
    monkeypatch.setenv("_LLMTRACE_COMPLETE", "complete_bash")
    assert _app_for(["reassemble", "x"]) is app


def _params(command: str) -> dict:
    group = typer.main.get_command(app)
    return {p.name: p for p in group.commands[command].params}


@pytest.mark.parametrize("command, name, value", [
    ("reassemble", "file", "a.json"),
    ("reassemble", "fmt", "vcr"),
    ("reassemble", "fmt", None),
    ("scan", "paths", ("a", "b")),
    ("scan", "paths", ["a"]),
    ("scan", "storage_option", ()),
    ("scan", "storage_option", None),
    ("check", "fail_on", FailOn.error),
    ("scan", "fail_on", None),
    ("scan", "jobs", None),
    ("scan", "jobs", "3"),  # bounded (min=1): typer's own conversion
    ("serve", "port", "0"),
    ("serve", "port", "08080"),
    ("serve", "port", 8000),  # the default
    ("serve", "port", "+1"),  # not plain digits: typer's own
    ("serve", "port", "\u0663"),  # a digit, not ASCII: typer's own (an error)
    ("serve", "port", "x"),
    ("serve", "seed", "123456789012345678"),
    ("serve", "seed", None),
    ("reassemble", "index", "2"),
    ("check", "fail_on", "warning"),  # typed on the command line: typer's own
])
def test_plain_values_are_what_typers_adapters_give(command, name, value):
    """Each value answered without an adapter equals typer's own answer for it, type included."""
    param = _params(command)[name]
    ours = param.get_runtime_param()
    theirs = _coercion.build_runtime_param(param.type_descriptor)
    got, expected = _answer(ours, value, param), _answer(theirs, value, param)
    assert got == expected and type(got) is type(expected)


def _answer(runtime, value, param):
    """The converted value, or the message of the error it raised (typer's BadParameter)."""
    try:
        return runtime.coerce(value, param=param, ctx=None)
    except Exception as exc:  # noqa: BLE001 - compared, message and all
        return f"{type(exc).__name__}: {exc}"


def test_bad_values_get_typers_messages():
    for args, says in ((["reassemble", "--index", "x", str(SEED)], "Invalid value for '--index' / '-i'"),
                       (["check", "--fail-on", "bad", str(SEED)], "'bad' is not one of 'error', 'warning', 'info'")):
        proc = _run("from llmtrace.cli import main; main()", *args)
        assert proc.returncode == 2 and says in proc.stderr, proc.stderr


def _run(code: str, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "NO_COLOR": "1", "COLUMNS": "200"}
    return subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, env=env, timeout=120)


IMPORTED = ("import sys; sys.argv = ['llmtrace', *sys.argv[1:]]\n"
            "from llmtrace.cli import main\n"
            "try:\n    main()\nexcept SystemExit:\n    pass\n"
            "print(sorted(m for m in sys.modules if m.startswith(('llmtrace.dialects.', 'llmtrace.containers.')) "
            "or m in ('typer._adapters', 'llmtrace.protobuf')), file=sys.stderr)")


def test_a_small_reassemble_imports_what_its_file_needs():
    """The seed (a Llama Stack recording of OpenAI chat chunks): its container and the dialects
    sniffed before ``openai-chat``, no adapter (no value needed converting), no protobuf."""
    imported = eval(_run(IMPORTED, "reassemble", str(SEED)).stderr.strip().splitlines()[-1])
    assert "typer._adapters" not in imported and "llmtrace.protobuf" not in imported
    assert "llmtrace.containers.llama_stack" in imported and "llmtrace.containers.ndjson" not in imported
    assert "llmtrace.dialects.openai_chat" in imported and "llmtrace.dialects.gemini" not in imported
    # A number on the command line: plain digits need no adapter, a bounded option gets typer's.
    plain = eval(_run(IMPORTED, "reassemble", "--index", "0", str(SEED)).stderr.strip().splitlines()[-1])
    assert "typer._adapters" not in plain
    converted = eval(_run(IMPORTED, "scan", "-j", "1", str(SEED)).stderr.strip().splitlines()[-1])
    assert "typer._adapters" in converted
