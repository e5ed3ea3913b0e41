"""The command line's help and shell completion: no ``<bool>`` after a flag, ``-V``, the fault
grammar in ``serve --help``, and bash completion (typer's own) of commands, options and values,
through the environment variables bash sets and through a real bash."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from llmtrace import __version__, containers
from llmtrace.cli import CONTAINER_NAMES, FAULT_GRAMMAR
from llmtrace.server.faults import FAMILIES, KEYS

COMMANDS = ["reassemble", "check", "show", "diff", "scan", "report", "redact", "serve", "record"]
BIN = Path(sys.executable).parent


def llmtrace(*args: str, **env: str) -> subprocess.CompletedProcess:
    environ = {**os.environ, "NO_COLOR": "1", "COLUMNS": "100", **env}
    return subprocess.run([sys.executable, "-m", "llmtrace", *args], capture_output=True, text=True, env=environ,
                          timeout=60)


@pytest.mark.parametrize("command", [None, *COMMANDS])
def test_help_shows_no_python_types_after_flags(command):
    proc = llmtrace(*([command] if command else []), "--help")
    assert proc.returncode == 0, proc.stderr
    assert "<bool>" not in proc.stdout and "list[str]" not in proc.stdout
    assert "--help" in proc.stdout


def test_version_short_and_long():
    assert llmtrace("-V").stdout == llmtrace("--version").stdout == f"llmtrace {__version__}\n"


def test_serve_help_lists_every_fault_one_line_each():
    out = llmtrace("serve", "--help", COLUMNS="120").stdout
    lines = out.splitlines()
    for name in KEYS:
        assert sum(1 for line in lines if line.strip().startswith(name + (":" if KEYS[name] else " "))) == 1, name
    family_line = next(line for line in lines if line.strip().startswith("tool-call-as-text"))
    assert all(family in family_line for family in FAMILIES)
    assert all(name in FAULT_GRAMMAR for name in KEYS)


def test_format_names_are_the_containers():
    assert sorted(CONTAINER_NAMES) == sorted(containers.names())


def complete(words: str, **env: str) -> list[str]:
    """What typer's bash completion answers for the command line ``words`` (the cursor on its
    last word), as bash's completion function asks it."""
    cword = len(words.split()) - (0 if words.endswith(" ") else 1)
    proc = llmtrace(_LLMTRACE_COMPLETE="complete_bash", COMP_WORDS=words, COMP_CWORD=str(cword), **env)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout.split()


@pytest.mark.parametrize("words, expected", [
    ("llmtrace s", ["show", "scan", "serve"]),
    ("llmtrace re", ["reassemble", "report", "redact", "record"]),
    ("llmtrace check --fail-on ", ["error", "warning", "info"]),
    ("llmtrace scan --fail-on w", ["warning"]),
    ("llmtrace serve --match ", ["strict", "loose", "sequence", "closest"]),
    ("llmtrace show --format ", list(CONTAINER_NAMES)),
    ("llmtrace check --format n", ["ndjson", "nock"]),
    ("llmtrace serve --fault d", ["duplicate:", "drop-done"]),
    ("llmtrace serve --fault error", ["error:", "error-in-stream:"]),
    ("llmtrace serve --fault tool-call-as-text:family=", [f"tool-call-as-text:family={f}" for f in FAMILIES]),
    ("llmtrace serve --fault cut:", ["cut:after=", "cut:request="]),
    ("llmtrace scan --js", ["--json", "--jsonl"]),
])
def test_bash_completion_values(words, expected):
    assert complete(words) == expected


def test_every_command_and_option_completes():
    assert complete("llmtrace ") == COMMANDS
    options = complete("llmtrace serve --")
    assert {"--fault", "--match", "--speed", "--skip-bad", "--format", "--help"} <= set(options)


@pytest.mark.skipif(shutil.which("bash") is None, reason="bash is not installed")
def test_completion_installs_and_completes_in_bash(tmp_path):
    env = {**os.environ, "HOME": str(tmp_path), "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}",
           "SHELL": "/bin/bash"}
    installed = subprocess.run(["llmtrace", "--install-completion", "bash"], capture_output=True, text=True,
                               env=env, timeout=60)
    assert installed.returncode == 0, installed.stderr
    bashrc = (tmp_path / ".bashrc").read_text()
    assert "llmtrace" in bashrc
    script = ('source ~/.bashrc\n'
              'COMP_WORDS=(llmtrace check --fail-on w); COMP_CWORD=3\n'
              '_llmtrace_completion llmtrace\n'
              'printf "%s\\n" "${COMPREPLY[@]}"\n'
              'COMP_WORDS=(llmtrace sh); COMP_CWORD=1\n'
              '_llmtrace_completion llmtrace\n'
              'printf "%s\\n" "${COMPREPLY[@]}"\n')
    done = subprocess.run(["bash", "--norc", "-c", script], capture_output=True, text=True, env=env, timeout=60)
    assert done.stdout.split() == ["warning", "show"], done.stderr
