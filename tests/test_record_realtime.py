"""``llmtrace record`` in front of ``llmtrace serve`` for websocket sessions: a real client
(``websockets``, the openai SDK) talks through the recording proxy to serve replaying a realtime
recording from tests/data. Checked: the client gets what serve sends; the written session reads
back ``diff``-equal to the original with ``timing: chunk-times``; it is served again on its
recorded path; close codes (1011, a dropped socket's 1006) are passed on and kept; binary
frames are kept as binary; credentials are masked in the file (headers, ``?key=``, the first
auth message, keys by shape) but reach the upstream; ``--save-as vcr`` refuses a websocket
session with a clear line. Everything runs on 127.0.0.1 with bounded timeouts."""

from __future__ import annotations

import asyncio
import base64
from pathlib import Path

import orjson
import pytest
import websockets
from aiohttp import web

from llmtrace import check
from llmtrace.loader import load
from llmtrace.server.app import Listening
from llmtrace.server.faults import parse
from llmtrace.server.proxy import Options as ProxyOptions
from llmtrace.server.proxy import RecordServer
from llmtrace.server.saving import Saver
from test_serve_realtime import (ELEVENLABS, GEMINI, GEMINI_PATH, OPENAI_GA, XAI_DROP, capture_client, diff,
                                 frames_of, replay_client, serve)

TIMEOUT = 30


def recorder(upstream: str, folder: Path, save_as: str = "har", mask: bool = True, lines: list | None = None):
    return RecordServer(upstream, Saver(folder, save_as, mask), options=ProxyOptions(log=(lines if lines is not None else []).append))


def written(folder: Path) -> list[Path]:
    return sorted(folder.glob("*-WS-*.json"))


def test_a_realtime_session_through_record_reads_back_equal_and_is_served_again(tmp_path):
    frames = frames_of(OPENAI_GA)
    lines: list[str] = []

    async def run():
        async with serve([OPENAI_GA]) as upstream, recorder(upstream.base_url, tmp_path, lines=lines) as proxy:
            return await asyncio.wait_for(replay_client(proxy.base_url, "/v1/realtime?model=gpt-realtime", frames), TIMEOUT)

    captured = asyncio.run(run())
    assert [f["data"] for f in captured if f["direction"] == "received"] == \
        [f["data"] for f in frames if f["direction"] == "received"]
    [session] = written(tmp_path)
    assert session.name == "0001-WS-v1-realtime.json"
    doc = orjson.loads(session.read_bytes())
    assert doc["url"].endswith("/v1/realtime?model=gpt-realtime")
    assert all(type(f["at"]) is float for f in doc["interactions"])
    result = diff(OPENAI_GA, session)
    assert result.returncode == 0, result.stdout + result.stderr
    timed = load(str(session))
    assert timed.container == "websocket"
    assert [ex.result.timeline.timing for ex in timed.exchanges] == ["chunk-times"]
    assert any("(websocket) → 101" in line for line in lines)

    async def again():  # served on the path it was recorded on
        async with serve([session]) as server:
            return await asyncio.wait_for(replay_client(server.base_url, "/v1/realtime?model=gpt-realtime", frames), TIMEOUT)

    assert [f["data"] for f in asyncio.run(again()) if f["direction"] == "received"] == \
        [f["data"] for f in frames if f["direction"] == "received"]


def test_the_openai_sdk_through_record(tmp_path):
    from openai import AsyncOpenAI

    sent = [f["data"] for f in frames_of(OPENAI_GA) if f["direction"] == "sent"]

    async def run():
        async with serve([OPENAI_GA]) as upstream, recorder(upstream.base_url, tmp_path) as proxy:
            client = AsyncOpenAI(api_key="sk-proj-" + "Zq9x" * 12, base_url=proxy.base_url + "/v1", max_retries=0)
            types = []
            async with client.realtime.connect(model="gpt-realtime") as conn:
                types.append((await asyncio.wait_for(conn.recv(), TIMEOUT)).type)
                for event in sent:
                    await conn.send(event)
                while types[-1] != "response.done":
                    types.append((await asyncio.wait_for(conn.recv(), TIMEOUT)).type)
            return types

    types = asyncio.run(run())
    assert types[-1] == "response.done"
    [session] = written(tmp_path)
    text = session.read_text()
    assert "Zq9x" * 12 not in text  # the Authorization header, masked
    assert diff(OPENAI_GA, session).returncode == 0


def test_close_codes_pass_through_and_are_kept(tmp_path):
    frames = frames_of(XAI_DROP)

    async def run():
        async with serve([XAI_DROP]) as upstream, recorder(upstream.base_url, tmp_path) as proxy:
            return await asyncio.wait_for(replay_client(proxy.base_url, "/v1/realtime", frames), TIMEOUT)

    captured = asyncio.run(run())
    assert [(f["code"], f["reason"]) for f in captured if f["kind"] == "close"] == [(1011, "test reconnect")]
    first, second = written(tmp_path)
    closes = [f for f in orjson.loads(first.read_bytes())["interactions"] if f["kind"] == "close"]
    assert [(c["direction"], c["code"], c["reason"]) for c in closes] == [("received", 1011, "test reconnect")]
    assert len(load(str(second)).exchanges) == 1


def test_a_socket_the_upstream_drops_is_dropped_for_the_client_and_recorded_1006(tmp_path):
    async def run():
        async with serve([OPENAI_GA], faults=(parse("cut:after=8"),)) as upstream, \
                recorder(upstream.base_url, tmp_path) as proxy:
            return await asyncio.wait_for(capture_client(proxy.base_url, "/v1/realtime", frames_of(OPENAI_GA)), TIMEOUT)

    captured = asyncio.run(run())
    assert captured[-1] == {"kind": "close", "code": 1006, "reason": ""}
    [session] = written(tmp_path)
    doc = orjson.loads(session.read_bytes())
    assert doc["interactions"][-1]["kind"] == "close" and doc["interactions"][-1]["code"] == 1006
    assert "no-finish" in {a.code for a in check(load(str(session)))}


def test_credentials_are_masked_in_the_url_headers_first_message_and_frames_but_reach_the_upstream(tmp_path):
    google_key = "AIza" + "Sy" + "B1c2D3e4F5g6H7i8J9k0L1m2N3o4P5q6R7"
    xi_key = "sk_" + "9f8e7d6c5b4a39281706f5e4d3c2b1a0" * 2
    token = "sk-proj-" + "Ab12Cd34" * 6
    seen: dict = {}
    first = dict(frames_of(ELEVENLABS)[0]["data"])
    first["dynamic_variables"] = {"user_name": "Ada", "api_key": xi_key}

    async def upstream_handler(request: web.Request):
        seen["url"] = str(request.rel_url)
        seen["header"] = request.headers.get("xi-api-key")
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        msg = await ws.receive()
        seen["first"] = orjson.loads(msg.data)
        await ws.send_str(orjson.dumps({"type": "conversation_initiation_metadata",
                                        "conversation_initiation_metadata_event": {"conversation_id": "c1",
                                                                                  "note": f"Bearer {token}"}}).decode())
        await ws.send_bytes(b"\x00\x01binary\xff")
        await ws.close(code=1000, message=b"done")
        return ws

    class Upstream(Listening):
        def application(self):
            app = web.Application()
            app.router.add_get("/{tail:.*}", upstream_handler)
            return app

    async def run():
        async with Upstream() as upstream, recorder(upstream.base_url, tmp_path) as proxy:
            url = proxy.base_url.replace("http", "ws") + f"/v1/convai/conversation?agent_id=a1&key={google_key}"
            got = []
            async with websockets.connect(url, additional_headers={"xi-api-key": xi_key}, open_timeout=30) as ws:
                await ws.send(orjson.dumps(first).decode())
                try:
                    while True:
                        got.append(await asyncio.wait_for(ws.recv(), TIMEOUT))
                except websockets.ConnectionClosed as exc:
                    got.append(("close", exc.rcvd.code, exc.rcvd.reason))
            return got

    got = asyncio.run(run())
    assert seen["header"] == xi_key and google_key in seen["url"] and seen["first"] == first  # the upstream got them
    assert got[1] == b"\x00\x01binary\xff" and got[2] == ("close", 1000, "done")
    [session] = written(tmp_path)
    text = session.read_text()
    for secret in (google_key, xi_key, token):
        assert secret not in text
    doc = orjson.loads(text)
    assert "key=***" in doc["url"]
    assert doc["interactions"][0]["data"]["dynamic_variables"] == {"user_name": "Ada", "api_key": "***"}
    binary = [f for f in doc["interactions"] if f["kind"] == "binary"]
    assert base64.b64decode(binary[0]["base64"]) == b"\x00\x01binary\xff"
    assert "unmasked-secret" not in {a.code for a in check(load(str(session)))}


def test_the_served_binary_frame_goes_out_as_binary(tmp_path):
    doc = {"url": "ws://x/v1/convai/conversation", "interactions": [
        {"kind": "message", "direction": "sent", "data": {"type": "conversation_initiation_client_data"}, "at": 0.0},
        {"kind": "binary", "direction": "received", "base64": base64.b64encode(b"\x00audio\xff").decode(), "at": 0.01}]}
    path = tmp_path / "binary.json"
    path.write_bytes(orjson.dumps(doc))

    async def run():
        async with serve([path]) as server:
            async with websockets.connect(server.base_url.replace("http", "ws") + "/v1/convai/conversation",
                                          open_timeout=30) as ws:
                await ws.send(orjson.dumps({"type": "conversation_initiation_client_data"}).decode())
                return await asyncio.wait_for(ws.recv(), TIMEOUT)

    assert asyncio.run(run()) == b"\x00audio\xff"


def test_save_as_vcr_refuses_a_websocket_session_with_a_clear_line(tmp_path):
    lines: list[str] = []

    async def run():
        async with serve([GEMINI]) as upstream, recorder(upstream.base_url, tmp_path, "vcr", lines=lines) as proxy:
            with pytest.raises(websockets.InvalidStatus) as refused:
                await replay_client(proxy.base_url, GEMINI_PATH, frames_of(GEMINI))
            return refused.value.response

    response = asyncio.run(run())
    assert response.status_code == 501 and b"--save-as har" in response.body
    assert any("cannot be saved in a VCR cassette" in line for line in lines)
    assert written(tmp_path) == []
