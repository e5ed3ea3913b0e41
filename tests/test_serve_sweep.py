"""Every recording in tests/data and examples/, served: each streamed exchange captured by a
client and read back reassembles to the same messages; each whole body, recorded error and
opaque body comes back with its recorded status and JSON. (The vendors' SDKs on a selection:
tests/test_serve.py.)"""

from __future__ import annotations

from pathlib import Path

import httpx
import orjson
import pytest

from llmtrace.view import normalized_json, provider_json
from llmtrace.errors import UnreadableInput
from llmtrace.loader import load
from llmtrace.server.app import Background, Options, Server
from llmtrace.walk import iter_inputs

ROOT = Path(__file__).resolve().parent.parent


def _recordings():
    """Read as ``serve`` reads them: keeping the recorded stream text (``bodies.keep_raw``), so the
    frames are the recorded bytes wherever the recording has them."""
    from llmtrace.containers import bodies

    out = []
    bodies.keep_raw(True)
    try:
        items = list(iter_inputs([str(ROOT / "tests" / "data"), str(ROOT / "examples")]))
        loaded = []
        for item in items:
            try:
                loaded.append(load(item.path))
            except UnreadableInput:
                continue
    finally:
        bodies.keep_raw(False)
    for recording in loaded:
        if any(ex.request.endpoint and ex.request.method == "POST" for ex in recording.exchanges):
            out.append(recording)
    return out


RECORDINGS = _recordings()


def _suffix(content_type: str) -> str:
    if content_type.startswith("application/vnd.amazon"):
        return ".bin"
    if "ndjson" in content_type:
        return ".ndjson"
    return ".json" if "json" in content_type else ".sse"


@pytest.mark.parametrize("recording", RECORDINGS, ids=[str(Path(r.source).relative_to(ROOT)) for r in RECORDINGS])
def test_every_recorded_exchange_is_served_back(recording, tmp_path):
    mode = "sequence" if len(recording.exchanges) > 1 else "strict"
    with Background(Server([recording], options=Options(speed=None, mode=mode, log=lambda line: None))) as base:
        with httpx.Client(timeout=30) as client:
            for ex in recording.exchanges:
                if not ex.request.endpoint or ex.request.method != "POST":
                    continue
                body = ex.request.body if isinstance(ex.request.body, (dict, list)) else None
                query = "?alt=sse" if "alt=sse" in (ex.request.url or "") else ""
                response = client.post(base + ex.request.endpoint + query, json=body)
                if ex.failed:
                    assert response.status_code == (ex.response.status or 500)
                    continue
                assert response.status_code == (ex.response.status or 200), response.text[:300]
                if not ex.response.streaming:
                    expected = provider_json(ex) if ex.result is not None else ex.response.body
                    assert orjson.loads(response.content) == orjson.loads(orjson.dumps(expected))
                    continue
                capture = tmp_path / f"x{ex.index}{_suffix(response.headers['content-type'])}"
                capture.write_bytes(response.content)
                served = load(str(capture)).exchanges[0]
                assert served.response.chunks == ex.response.chunks or (
                    ex.result is not None and len(served.response.chunks) == len(ex.response.chunks))
                if ex.result is not None:
                    assert normalized_json(served)["choices"] == normalized_json(ex)["choices"]
