"""One bad file must not cost the others (issue 11, item 11): an internal error names the file and
the loop goes on; a malformed URL (``http://[::1/v1``, on which urlsplit raises) is data."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import NamedTuple

import orjson
import pytest
from typer.testing import CliRunner

from conftest import CORPUS, SEED
from llmtrace.cli import app
from llmtrace.urls import split_url, url_path

ENV = {**os.environ, "NO_COLOR": "1", "COLUMNS": "400"}
ENV.pop("FORCE_COLOR", None)
ENV.pop("LLMTRACE_DEBUG", None)
BAD_URL = "http://[::1/v1/chat/completions"
CHAT = CORPUS / "llama-stack/openai-chat-stream/8a174c150228.json"


class Run(NamedTuple):
    returncode: int
    stdout: bytes
    stderr: bytes


def llmtrace(*args: str) -> Run:
    """The command line, in this process."""
    result = CliRunner().invoke(app, list(args), env={"NO_COLOR": "1", "LLMTRACE_DEBUG": "", "COLUMNS": "400"})
    if result.exception and not isinstance(result.exception, SystemExit):
        raise result.exception
    return Run(result.exit_code, result.stdout_bytes, result.stderr_bytes)


def process(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "llmtrace", *args], capture_output=True, env=ENV, timeout=60)


def with_url(src: Path, dest: Path, url: str) -> Path:
    """A copy of a corpus recording whose request URL is ``url``."""
    doc = orjson.loads(src.read_bytes())
    doc["request"]["url"] = url
    dest.write_bytes(orjson.dumps(doc))
    return dest


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    with_url(SEED, tmp_path / "bad-url.json", BAD_URL + "?key=" + "k3y" * 8)
    shutil.copy(CHAT, tmp_path / "good.json")
    return tmp_path


def test_a_bad_ipv6_url_is_data_and_the_folder_is_checked(folder):
    proc = process("check", "--json", str(folder))  # end to end once
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == b""
    docs = [json.loads(line) for line in proc.stdout.splitlines()]
    assert [d["source"] for d in docs] == [str(folder / "bad-url.json"), str(folder / "good.json")]
    assert all(d["error"] is None for d in docs)
    # The recording with the bad URL is checked like any other (the seed's textual tool call).
    assert "tool-call-in-text" in {a["code"] for a in docs[0]["anomalies"]}
    assert docs[1] == json.loads(llmtrace("check", "--json", str(CHAT)).stdout) | {"source": str(folder / "good.json")}


def test_a_bad_ipv6_url_is_shown_with_a_tolerant_host_and_masked(folder):
    proc = llmtrace("show", "--json", str(folder / "bad-url.json"))
    assert proc.returncode == 0, proc.stderr
    request = json.loads(proc.stdout)["exchanges"][0]["request"]
    assert request["host"] == "[::1" and request["endpoint"] == "/v1/chat/completions"
    assert request["url"] == BAD_URL + "?key=***"
    assert "k3y" not in proc.stdout.decode()
    human = llmtrace("show", str(folder / "bad-url.json"))
    assert human.returncode == 0 and "[::1" in human.stdout.decode()
    scan = llmtrace("scan", "--jsonl", "-j", "1", str(folder))
    assert scan.returncode == 0 and [json.loads(r)["host"] for r in scan.stdout.splitlines()][0] == "[::1"
    for command in (["reassemble", str(folder / "bad-url.json")], ["diff", str(folder / "bad-url.json"), str(SEED)]):
        assert llmtrace(*command).returncode in (0, 1), command


@pytest.mark.parametrize("url, parts", [
    ("http://[::1/v1/x?key=1#frag", ("http", "[::1", "/v1/x", "key=1", "frag")),
    ("https://u:p@[fe80::1/p", ("https", "u:p@[fe80::1", "/p", "", "")),
    ("http://h]/a", ("http", "h]", "/a", "", "")),
    ("http://[::1]:8080/v1", ("http", "[::1]:8080", "/v1", "", "")),  # valid: urlsplit's answer
    ("/v1/chat/completions", ("", "", "/v1/chat/completions", "", "")),
])
def test_split_url_never_raises(url, parts):
    assert tuple(split_url(url)) == parts
    assert url_path(url) == parts[2]


def test_url_path_keeps_urlparse_meaning_for_valid_urls():
    assert url_path("http://h/v1/x;params?q") == "/v1/x" and url_path(None) == url_path("") == ""


# --- internal errors name the file -----------------------------------------------------------------


def _boom_on(path: Path):
    """A stand-in for a check that hits a bug on one recording only."""
    from llmtrace.anomalies import detect

    def detect_or_fail(exchange, recording):
        if recording.source == str(path):
            raise KeyError("boom")
        return detect(exchange, recording)

    return detect_or_fail


def test_check_reports_an_internal_error_per_file_and_goes_on(folder, monkeypatch, capfd):
    from llmtrace.commands import check

    monkeypatch.delenv("LLMTRACE_DEBUG", raising=False)
    monkeypatch.setattr(check, "detect", _boom_on(folder / "bad-url.json"))
    assert check.run([str(folder)], as_json=True) == 2
    out, err = capfd.readouterr()
    docs = [json.loads(line) for line in out.splitlines()]
    assert [d["source"] for d in docs] == [str(folder / "bad-url.json"), str(folder / "good.json")]
    assert docs[0]["error"].startswith(f"{folder / 'bad-url.json'}: internal error: KeyError: 'boom'")
    assert docs[1]["error"] is None
    assert err.splitlines() == [f"llmtrace: {docs[0]['error']}"]

    monkeypatch.setenv("COLUMNS", "400")  # long temporary paths on one line
    assert check.run([str(folder)]) == 2
    out, err = capfd.readouterr()
    assert err.startswith(f"llmtrace: {folder / 'bad-url.json'}: internal error: KeyError")
    assert str(folder / "good.json") in out and "1 file checked, 0 clean, 1 failed (internal error): " in out


def test_show_reports_an_internal_error_per_file_and_goes_on(folder, monkeypatch, capfd):
    from llmtrace.commands import show

    real = show.shown
    bad = str(folder / "bad-url.json")

    def shown(recording, exchange):
        if recording.source == bad:
            raise ValueError("broken")
        return real(recording, exchange)

    monkeypatch.delenv("LLMTRACE_DEBUG", raising=False)
    monkeypatch.setattr(show, "shown", shown)
    assert show.run([bad, str(folder / "good.json")], as_json=True) == 2
    out, err = capfd.readouterr()
    assert [json.loads(line)["source"] for line in out.splitlines()] == [str(folder / "good.json")]
    assert err.splitlines() == [f"llmtrace: {bad}: internal error: ValueError: broken "
                                "(set LLMTRACE_DEBUG=1 for the traceback, and please report it)"]


def test_debug_lets_the_internal_error_through(folder, monkeypatch):
    from llmtrace.commands import check

    monkeypatch.setenv("LLMTRACE_DEBUG", "1")
    monkeypatch.setattr(check, "detect", _boom_on(folder / "bad-url.json"))
    with pytest.raises(KeyError):
        check.run([str(folder)], as_json=True)


def test_a_closed_stdout_still_ends_the_command(folder, monkeypatch):
    """BrokenPipeError is about the whole command (its reader went away), not about one file."""
    from llmtrace.commands import check

    def broken(*args):
        raise BrokenPipeError(32, "Broken pipe")

    monkeypatch.delenv("LLMTRACE_DEBUG", raising=False)
    monkeypatch.setattr(check, "detect", broken)
    with pytest.raises(BrokenPipeError):
        check.run([str(folder)], as_json=True)
