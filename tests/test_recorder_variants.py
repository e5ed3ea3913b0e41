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
    assert ex.request.headers["Accept"] == "application/json"  # `…/new:` with a sequence (dd-apm-test-agent's)
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


# --- the general lesson: a chunk of an unforeseen shape is left out, not the whole file ------------

def test_a_chunk_with_an_unforeseen_field_type_is_left_out_and_named(tmp_path):
    """Gemini text as a list where a string belongs: the exchange is kept, read without that chunk;
    ``unread-chunk`` names it and the checks that would judge what it held are skipped."""
    chunks = [{"candidates": [{"content": {"role": "model", "parts": [{"text": "Hel"}]}}]},
              {"candidates": [{"content": {"role": "model", "parts": [{"text": ["?"]}]}}]},
              {"candidates": [{"content": {"role": "model", "parts": [{"text": "lo"}]}, "finishReason": "STOP"}]}]
    path = tmp_path / "odd.sse"
    path.write_text("".join(f"data: {json.dumps(c)}\n\n" for c in chunks))
    out = _cli("check", "--json", str(path))
    assert out.returncode == 0, out.stderr
    doc = json.loads(out.stdout)
    (found,) = doc["anomalies"]
    assert (found["code"], found["severity"], found["chunks"]) == ("unread-chunk", "warning", [1])
    assert found["details"]["unread"] == [{"chunk": 1, "what": "text should be a string"}]
    assert "no-finish" in doc["skipped"] and "empty-response" in doc["skipped"]
    (ex,) = load(str(path)).exchanges
    assert ex.result.choices[0].content == "Hello" and ex.fidelity == "chunks"


def test_one_odd_exchange_does_not_sink_a_cassette(tmp_path):
    good = (RECORDERS / "aiohttp-istr.yaml").read_text()
    odd = good.replace('\\"content\\":\\" there\\"', '\\"content\\":{\\"x\\":1}')
    assert odd != good
    path = tmp_path / "c.yaml"
    path.write_text(odd)
    (ex,) = load(str(path)).exchanges
    assert ex.result.choices[0].content == "Hi" and [c for c, _ in ex.result.observations.unread] == [1]


def test_a_broken_document_is_still_unreadable(tmp_path):
    path = tmp_path / "broken.json"
    path.write_text('{"interactions": 5}')
    out = _cli("check", str(path))
    assert out.returncode == 2 and out.stderr.startswith(f"llmtrace: {path}: ")
