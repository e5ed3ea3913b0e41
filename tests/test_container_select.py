"""Finding a file's container from its content (load.select), ``--format``, stdin, and every
command (reassemble, show, check, diff) on every container."""

from __future__ import annotations

import gzip
import json
import shutil

import orjson
import pytest
from typer.testing import CliRunner

from conftest import DATA
from llmtrace import containers
from llmtrace.cli import app
from llmtrace.errors import UnreadableInput
from llmtrace.loader import load

EXAMPLES = DATA.parent.parent / "examples" / "containers"
ALL = sorted(p for p in EXAMPLES.rglob("*") if p.is_file() and not p.name.startswith(("README", "LICENSE")))


def test_container_names():
    assert sorted(containers.names()) == sorted(["llama-stack", "vcr", "har", "sse", "ndjson", "json-chunks", "websocket",
                                                 "aws-eventstream", "mitmproxy", "otlp", "nock", "claude-agent-sdk",
                                                 "llmtrace-spool"])


@pytest.mark.parametrize("path", ALL, ids=lambda p: str(p.relative_to(EXAMPLES)))
def test_examples_are_detected_from_content_not_extension(tmp_path, path):
    expected = path.parent.name
    renamed = tmp_path / "recording.txt"  # the extension says nothing
    shutil.copy(path, renamed)
    assert load(str(renamed)).container == expected
    assert load(str(path), fmt=expected).container == expected


def test_every_container_and_dialect_pair_in_the_examples():
    pairs = {(load(str(p)).container, ex.dialect) for p in ALL for ex in load(str(p)).exchanges}
    assert pairs >= {
        ("vcr", "openai-chat"), ("vcr", "openai-completions"), ("vcr", "openai-responses"),
        ("vcr", "anthropic-messages"), ("vcr", "gemini"), ("vcr", "opaque"),
        ("har", "openai-chat"), ("har", "anthropic-messages"), ("har", "gemini"),
        ("sse", "openai-chat"), ("sse", "openai-completions"), ("sse", "openai-responses"),
        ("sse", "anthropic-messages"), ("sse", "gemini"),
        ("ndjson", "ollama-chat"), ("ndjson", "ollama-generate"), ("ndjson", "openai-chat"),
        ("json-chunks", "gemini"), ("json-chunks", "anthropic-messages"), ("llama-stack", "openai-chat"),
    }


def _invoke(*args: str, data: bytes | None = None):
    return CliRunner().invoke(app, list(args), input=data)


@pytest.mark.parametrize("path", ALL, ids=lambda p: str(p.relative_to(EXAMPLES)))
def test_every_command_on_every_container(path):
    recording = load(str(path))
    n = len(recording.exchanges)
    run = _invoke("reassemble", str(path))
    assert run.exit_code == 0, run.stderr
    lines = run.stdout.splitlines()
    if n > 1:
        assert len(lines) == n and all(isinstance(orjson.loads(line), (dict, list)) for line in lines)
    else:
        orjson.loads(run.stdout)
    normalized = _invoke("reassemble", "--normalized", "--index", str(n - 1), str(path))
    assert orjson.loads(normalized.stdout)["container"] == recording.container
    show = _invoke("show", "--json", str(path))
    assert show.exit_code == 0, show.stderr
    doc = orjson.loads(show.stdout)
    assert [ex["container"] for ex in doc["exchanges"]] == [recording.container] * n
    assert _invoke("show", str(path)).exit_code == 0
    check = _invoke("check", "--json", str(path))
    assert check.exit_code in (0, 1) and orjson.loads(check.stdout)["error"] is None
    diff = _invoke("diff", str(path), str(path))
    assert diff.exit_code == 0, diff.stdout + diff.stderr


@pytest.mark.parametrize("name", ["vcr/openai-chat.yaml", "har/gemini.har", "ndjson/ollama-chat.ndjson",
                                  "json-chunks/gemini.json", "vcr/langchain-openai-chat.yaml.gz",
                                  "llama-stack/openai-chat.json"])
def test_stdin(name):
    path = EXAMPLES / name
    from_file = _invoke("reassemble", "-n", str(path))
    from_stdin = _invoke("reassemble", "-n", "-", data=path.read_bytes())
    assert from_stdin.exit_code == 0 and from_stdin.stdout == from_file.stdout
    shown = orjson.loads(_invoke("show", "--json", "-", data=path.read_bytes()).stdout)
    assert shown["source"] == "<stdin>"


def test_diff_across_containers_of_the_same_stream():
    # The same chunks recorded three ways differ only in what the text files cannot hold: the request.
    run = _invoke("diff", "--json", str(EXAMPLES / "sse/openai-chat.sse"), str(EXAMPLES / "ndjson/openai-chat.jsonl"))
    assert run.exit_code == 0 and json.loads(run.stdout) == []
    run = _invoke("diff", "--json", "--ignore", "request.messages", "--ignore", "request.params",
                  "--ignore", "request.model", str(EXAMPLES / "vcr/openai-chat.yaml"),
                  str(EXAMPLES / "har/openai-chat-base64.har"))
    assert run.exit_code == 0 and json.loads(run.stdout) == []


def test_unknown_format_and_empty_input(tmp_path):
    run = _invoke("reassemble", "--format", "csv", str(EXAMPLES / "sse/openai-chat.sse"))
    assert run.exit_code == 2 and "unknown format 'csv'" in run.stderr and "json-chunks" in run.stderr
    empty = tmp_path / "empty.sse"
    empty.write_bytes(b"\n\n")
    for fmt in ([], ["--format", "sse"]):
        run = _invoke("reassemble", *fmt, str(empty))
        assert run.exit_code == 2 and "empty file" in run.stderr and run.stdout == ""


def test_utf8_bom_is_ignored(tmp_path):
    path = tmp_path / "bom.json"
    path.write_bytes(b"\xef\xbb\xbf" + (EXAMPLES / "json-chunks/gemini.json").read_bytes())
    assert load(str(path)).container == "json-chunks"


def test_gzipped_file_that_is_broken(tmp_path):
    path = tmp_path / "c.yaml.gz"
    path.write_bytes(gzip.compress((EXAMPLES / "vcr/gemini.yaml").read_bytes())[:-20])
    with pytest.raises(UnreadableInput) as info:
        load(str(path))
    assert "broken gzip data" in info.value.line() and info.value.line().endswith("gzipped file")


@pytest.mark.parametrize("text, message", [
    ("just some notes\n", "not JSON, YAML or SSE (plain text), line 1, column 1 (byte 0)"),
    ("- [a, b\n", "not JSON, YAML or SSE (YAML:"),
    ('{"interactions": [}', "not JSON (unexpected character"),
])
def test_not_a_recording_at_all(tmp_path, text, message):
    path = tmp_path / "x"
    path.write_text(text)
    with pytest.raises(UnreadableInput) as info:
        load(str(path))
    assert message in info.value.line()
