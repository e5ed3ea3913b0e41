"""Recorders nobody showed us before (issue 23): aiohttp cassettes with pickled header names,
single-exchange JSON with VCR.py's status object, vcrpy 2023 httpx stubs' ``content``. The files
are written here in those shapes (tests/data/recorders/SOURCE.md names what each imitates)."""

from __future__ import annotations

import json
import subprocess
import sys

from conftest import DATA
from llmtrace.loader import load

RECORDERS = DATA / "recorders"


def _cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "llmtrace", *args], capture_output=True, text=True, timeout=60)


def test_aiohttp_cassette_with_istr_header_keys_reads_safely():
    rec = load(str(RECORDERS / "aiohttp-istr.yaml"))
    (ex,) = rec.exchanges
    assert ex.dialect == "openai-chat"
    assert ex.request.headers["Content-Type"] == "application/json"
    assert "Authorization" in ex.request.headers  # the `…/new:` form with `args`
    assert ex.result.choices[0].content == "Hi there"
    assert ex.result.choices[0].finish_reason == "stop"


def test_istr_key_never_constructs_an_object(tmp_path):
    """A tag naming a callable is read as data: the key is its string argument, nothing runs."""
    path = tmp_path / "evil.yaml"
    path.write_text("interactions:\n- request:\n    method: GET\n    uri: http://x/\n    headers:\n"
                    "      ? !!python/object/apply:os.system\n      - echo pwned\n      : [v]\n"
                    "  response:\n    status: {code: 200, message: OK}\n    body: {string: ''}\n")
    ex = load(str(path)).exchanges[0]
    assert ex.request.headers == {"echo pwned": "v"}


def test_single_exchange_json_with_status_object():
    (ex,) = load(str(RECORDERS / "single-exchange.json")).exchanges
    assert ex.response.status == 200
    assert ex.dialect == "anthropic-messages"
    assert ex.response.streaming
    assert ex.result.choices[0].content == "Hello!"
    assert ex.fidelity == "chunks"


def test_single_exchange_json_reassembles():
    out = _cli("reassemble", str(RECORDERS / "single-exchange.json"))
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)["content"] == [{"type": "text", "text": "Hello!"}]


def test_old_httpx_cassette_body_under_content():
    out = _cli("reassemble", str(RECORDERS / "httpx-content-2023.yaml"))
    assert out.returncode == 0, out.stderr
    doc = json.loads(out.stdout)
    assert doc["choices"][0]["message"]["content"] == "Hello"
    (ex,) = load(str(RECORDERS / "httpx-content-2023.yaml")).exchanges
    assert ex.response.status == 200
    assert ex.result.choices[0].finish_reason == "stop"


def test_bedrock_400_exchanges_take_the_dialect_from_the_endpoint():
    """Rule 13: a 400 answered with no events; the body's ``messages`` look like any chat API's."""
    rec = load(str(RECORDERS / "bedrock-400.yaml"))
    assert [ex.dialect for ex in rec.exchanges] == ["bedrock-converse", "bedrock-invoke", "openai-chat"]
    assert all(ex.failed for ex in rec.exchanges)
