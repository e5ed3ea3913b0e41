"""``serve`` answers websocket sessions: every realtime recording in tests/data and examples is
replayed to a real client (the ``websockets`` library in lock-step with the recording, the
openai SDK's ``realtime.connect`` GA and beta, google-genai's ``aio.live.connect``), the client
captures what it received as a websocket session file, and ``llmtrace diff`` finds it equal to
the original. Out-of-order client events get the provider's error event; ``--match loose``
skips them; a miss on the path or the first event is explained. Everything runs on 127.0.0.1
with bounded timeouts."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time
from pathlib import Path

import aiohttp
import orjson
import pytest
import websockets
import yaml

from llmtrace import reassemble
from llmtrace.loader import load
from llmtrace.server.app import Options, Server

ROOT = Path(__file__).parent
SESSIONS = sorted(p for p in [*ROOT.glob("data/**/*.yaml"), *(ROOT.parent / "examples").glob("**/*.yaml")]
                  if b"direction: sent" in p.read_bytes() and b"kind: message" in p.read_bytes())
OPENAI_GA = ROOT / "data/newformats/E-pydantic-ai/tests__realtime__cassettes__test_openai_ws__test_text_in_audio_out_turn.yaml"
AZURE_BETA = ROOT / "data/newformats/E-pydantic-ai/tests__realtime__cassettes__test_azure_voice_live_ws__test_tool_call_round.yaml"
GEMINI = ROOT / "data/newformats/E-pydantic-ai/tests__realtime__cassettes__test_google_ws__test_text_in_audio_out_turn.yaml"
GEMINI_TOOLS = ROOT / "data/newformats/E-pydantic-ai/tests__realtime__cassettes__test_google_ws__test_tool_call_round.yaml"
ELEVENLABS = ROOT / "data/newformats/E-pydantic-ai/live/tests__realtime__cassettes__test_elevenlabs_ws_frames__test_tool_round_and_followup_turn.yaml"
XAI_DROP = ROOT / "data/newformats/E-pydantic-ai/tests__realtime__cassettes__test_xai_ws__test_session_resumption_after_drop.yaml"
GEMINI_PATH = "/ws/google.ai.generativelanguage.v1beta.GenerativeService.BidiGenerateContent"
TEXT_DELTAS = ("response.text.delta", "response.output_text.delta", "response.audio_transcript.delta",
               "response.output_audio_transcript.delta")
TIMEOUT = 10


def frames_of(path: Path) -> list[dict]:
    return yaml.safe_load(path.read_text())["interactions"]


def ws_path(path: Path) -> str:
    """Where a client of the recording's provider connects."""
    text = path.read_text()
    if "setup:" in text and ("client_content" in text or "clientContent" in text):
        return GEMINI_PATH + "?key=test-key"
    if "conversation_initiation_client_data" in text:
        return "/v1/convai/conversation?agent_id=agent_test"
    if "type: session.start" in text:
        return "/v1/live/sessions"
    return "/v1/realtime"


def connections(frames: list[dict]) -> list[list[dict]]:
    """The recording's connections (split after each close), as the client lives them."""
    out, current = [], []
    for frame in frames:
        current.append(frame)
        if frame.get("kind") == "close":
            out.append(current)
            current = []
    if current:
        out.append(current)
    return out


async def replay_client(base: str, path: str, frames: list[dict], limit: float = TIMEOUT) -> list[dict]:
    """A client that speaks as the recording did: it sends each recorded client frame once it
    has received the server frames recorded before it, and keeps what it receives (with its
    time) and how each connection closed — a websocket session file's interactions."""
    out: list[dict] = []
    t0 = time.monotonic()
    for conn in connections(frames):
        async with websockets.connect(base.replace("http", "ws") + path, open_timeout=30, max_size=None) as ws:
            for frame in conn:
                if frame.get("kind") == "close":
                    try:
                        await asyncio.wait_for(ws.recv(), limit)
                        raise AssertionError("a frame after the recorded end")
                    except websockets.ConnectionClosed as exc:
                        code = exc.rcvd.code if exc.rcvd else 1006
                        out.append({"kind": "close", "code": code, "reason": exc.rcvd.reason if exc.rcvd else ""})
                    continue
                if frame["direction"] == "sent":
                    await ws.send(orjson.dumps(frame["data"]).decode())
                    out.append({"kind": "message", "direction": "sent", "data": frame["data"],
                                "at": round(time.monotonic() - t0, 6)})
                else:
                    got = await asyncio.wait_for(ws.recv(), limit)
                    out.append({"kind": "message", "direction": "received", "data": orjson.loads(got),
                                "at": round(time.monotonic() - t0, 6)})
    return out


def serve(paths, **options) -> Server:
    return Server([load(str(p)) for p in paths], options=Options(**{"speed": None, **options}))


def diff(a: Path, b: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "llmtrace", "diff", str(a), str(b)], capture_output=True,
                          text=True, timeout=60)


@pytest.mark.parametrize("path", SESSIONS, ids=[p.name.split("__")[-1] for p in SESSIONS])
def test_every_realtime_recording_replays_to_a_client_and_reads_back_equal(path, tmp_path):
    frames = frames_of(path)

    async def run():
        async with serve([path]) as server:
            return await asyncio.wait_for(replay_client(server.base_url, ws_path(path), frames), 60)

    captured = asyncio.run(run())
    received = [f["data"] for f in captured if f.get("direction") == "received"]
    assert received == [f["data"] for f in frames if f.get("direction") == "received"]
    out = tmp_path / "captured.json"
    out.write_bytes(orjson.dumps({"interactions": captured}))
    result = diff(path, out)
    assert result.returncode == 0, result.stdout + result.stderr
    timed = load(str(out))
    assert all(ex.result.timeline.timing == "chunk-times" for ex in timed.exchanges if ex.result is not None
               and ex.response.chunks)


def test_the_session_dropped_in_the_recording_is_dropped_again_and_the_reconnect_served_next():
    frames = frames_of(XAI_DROP)

    async def run():
        async with serve([XAI_DROP]) as server:
            return await replay_client(server.base_url, "/v1/realtime?model=grok-voice-latest", frames)

    captured = asyncio.run(run())
    closes = [f for f in captured if f.get("kind") == "close"]
    assert [(c["code"], c["reason"]) for c in closes] == [(1011, "test reconnect")]


def _openai_events(path: Path) -> tuple[list[dict], list[str]]:
    frames = frames_of(path)
    return [f["data"] for f in frames if f.get("direction") == "sent"], \
        [f["data"]["type"] for f in frames if f.get("direction") == "received"]


def test_openai_sdk_ga_realtime_connect_gets_the_recorded_events_and_transcript():
    from openai import AsyncOpenAI

    sent, expected = _openai_events(OPENAI_GA)
    text = reassemble(load(str(OPENAI_GA)).exchanges[0])

    async def run():
        async with serve([OPENAI_GA], speed=1.0) as server:
            client = AsyncOpenAI(api_key="sk-test", base_url=server.base_url + "/v1", max_retries=0)
            types, transcript = [], ""
            async with client.realtime.connect(model="gpt-realtime") as conn:
                first = await asyncio.wait_for(conn.recv(), TIMEOUT)
                types.append(first.type)
                await conn.session.update(session=sent[0]["session"])
                types.append((await asyncio.wait_for(conn.recv(), TIMEOUT)).type)
                await conn.conversation.item.create(item=sent[1]["item"])
                await conn.response.create()
                while types[-1] != "response.done":
                    event = await asyncio.wait_for(conn.recv(), TIMEOUT)
                    types.append(event.type)
                    if event.type == "response.output_audio_transcript.delta":
                        transcript += event.delta
            return types, transcript

    types, transcript = asyncio.run(run())
    assert types == expected
    done = text["output"][0]["content"][0]
    assert transcript == done["transcript"] != ""


def test_azure_path_with_a_deployment_and_the_websockets_library():
    frames = frames_of(AZURE_BETA)
    model = next(f["data"]["session"]["model"] for f in frames if f["data"].get("type") == "session.created")

    async def run():
        async with serve([AZURE_BETA]) as server:
            path = f"/openai/realtime?api-version=2025-04-01-preview&deployment={model}"
            got = await replay_client(server.base_url, path, frames)
            wrong = f"/openai/realtime?api-version=2025-04-01-preview&deployment=other-deployment"
            with pytest.raises(websockets.InvalidStatus) as refused:
                await replay_client(server.base_url, wrong, frames)
            return got, refused.value

    got, refused = asyncio.run(run())
    assert len(got) == len(frames)
    assert refused.response.status_code == 404
    body = orjson.loads(refused.response.body)
    assert body["error"]["code"] == "no_match"
    assert body["error"]["llmtrace"]["differences"][0] == {"path": "request.model", "recorded": model,
                                                           "received": "other-deployment"}


class TlsServer(Server):
    """``serve`` behind TLS (``context``: the server's), HTTP/1.1, websockets and gRPC alike:
    google-genai's Live client with an API key always speaks ``wss://``; ``record`` reaches an
    ``https`` upstream with ALPN ``h2``."""

    context = None

    @property
    def base_url(self) -> str:
        return super().base_url.replace("http://", "https://")

    def site(self, runner):
        site = super().site(runner)  # aiohttp's, or the one sniffing gRPC's preface
        site._ssl_context = self.context
        return site


def self_signed(folder: Path) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1 (its own CA) and its key, made with openssl."""
    key, cert = folder / "key.pem", folder / "cert.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key), "-out", str(cert),
                    "-days", "1", "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1"],
                   check=True, capture_output=True, timeout=60)
    return cert, key


@pytest.fixture(scope="module")
def tls(tmp_path_factory):
    """The server's context and a client's that trusts it."""
    import ssl

    cert, key = self_signed(tmp_path_factory.mktemp("tls"))
    server = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server.load_cert_chain(cert, key)
    return server, ssl.create_default_context(cafile=str(cert))


def _tls_serve(paths, tls) -> Server:
    server = TlsServer([load(str(p)) for p in paths], options=Options(speed=None))
    server.context = tls[0]
    return server


def _genai_client(base: str, tls):
    from google import genai
    from google.genai import types

    return genai.Client(api_key="test-key", http_options=types.HttpOptions(base_url=base, api_version="v1beta",
                                                                           async_client_args={"ssl": tls[1]}))


def test_google_genai_live_connect_gets_the_recorded_turn(tls):
    from google.genai import types

    setup = frames_of(GEMINI)[0]["data"]["setup"]
    recorded = reassemble(load(str(GEMINI)).exchanges[0])

    async def run():
        async with _tls_serve([GEMINI], tls) as server:
            client = _genai_client(server.base_url, tls)
            config = types.LiveConnectConfig(
                response_modalities=["AUDIO"], system_instruction=setup["systemInstruction"]["parts"][0]["text"],
                input_audio_transcription={}, output_audio_transcription={})
            transcript, audio, done = "", b"", False
            async with client.aio.live.connect(model=setup["model"].removeprefix("models/"), config=config) as session:
                await session.send_client_content(turns=types.Content(role="user", parts=[types.Part(text="Say a short greeting.")]),
                                                  turn_complete=True)
                async for message in session.receive():
                    content = message.server_content
                    if content and content.output_transcription:
                        transcript += content.output_transcription.text
                    if content and content.model_turn:
                        audio += b"".join(p.inline_data.data for p in content.model_turn.parts if p.inline_data)
                    if content and content.turn_complete:
                        done = True
                        break
            return transcript, audio, done

    transcript, audio, done = asyncio.run(asyncio.wait_for(run(), 60))
    assert done
    assert transcript == recorded["serverContent"]["outputTranscription"]["text"] == "Hello there."
    assert len(audio) == recorded["serverContent"]["modelTurn"]["parts"][-1]["inlineData"]["size"] > 0


def test_google_genai_with_other_instructions_is_a_miss_naming_the_difference(tls):
    from google.genai import types

    setup = frames_of(GEMINI)[0]["data"]["setup"]

    async def run():
        async with _tls_serve([GEMINI], tls) as server:
            client = _genai_client(server.base_url, tls)
            config = types.LiveConnectConfig(response_modalities=["AUDIO"], system_instruction="Something else entirely.")
            async with client.aio.live.connect(model=setup["model"].removeprefix("models/"), config=config) as session:
                async for message in session.receive():
                    return message

    with pytest.raises(Exception) as failed:
        asyncio.run(asyncio.wait_for(run(), 30))
    assert "1008" in str(failed.value) or "no recorded session" in str(failed.value)


def _lockstep_frames(path: Path) -> tuple[list[dict], list[int]]:
    """The client frames and how many server frames come after each (and before the first)."""
    sent, counts = [], [0]
    for f in frames_of(path):
        if f.get("direction") == "sent":
            sent.append(f["data"])
            counts.append(0)
        elif f.get("kind", "message") == "message":
            counts[-1] += 1
    return sent, counts


def test_elevenlabs_agent_session_with_a_tool_round_over_websockets():
    sent, counts = _lockstep_frames(ELEVENLABS)

    async def run():
        async with serve([ELEVENLABS]) as server:
            url = server.base_url.replace("http", "ws") + "/v1/convai/conversation?agent_id=agent_test"
            calls, answers = [], []
            async with websockets.connect(url, open_timeout=30) as ws:
                for event, count in zip(sent, counts[1:]):
                    await ws.send(orjson.dumps(event).decode())
                    for _ in range(count):
                        data = orjson.loads(await asyncio.wait_for(ws.recv(), TIMEOUT))
                        if data["type"] == "client_tool_call":
                            calls.append(data["client_tool_call"]["tool_name"])
                        if data["type"] == "agent_response":
                            answers.append(data["agent_response_event"]["agent_response"])
            return calls, answers

    calls, answers = asyncio.run(run())
    recorded = [f["data"] for f in frames_of(ELEVENLABS) if f.get("direction") == "received"]
    assert calls == [d["client_tool_call"]["tool_name"] for d in recorded if d["type"] == "client_tool_call"] != []
    assert answers == [d["agent_response_event"]["agent_response"] for d in recorded if d["type"] == "agent_response"]


async def _out_of_order(mode: str):
    sent, counts = _lockstep_frames(OPENAI_GA)
    async with serve([OPENAI_GA], mode=mode) as server:
        async with websockets.connect(server.base_url.replace("http", "ws") + "/v1/realtime?model=gpt-realtime",
                                      open_timeout=30) as ws:
            assert orjson.loads(await asyncio.wait_for(ws.recv(), TIMEOUT))["type"] == "session.created"
            await ws.send(orjson.dumps(sent[0]).decode())
            assert orjson.loads(await asyncio.wait_for(ws.recv(), TIMEOUT))["type"] == "session.updated"
            await ws.send(orjson.dumps({"type": "response.create"}).decode())  # the item was not created yet
            try:
                first = orjson.loads(await asyncio.wait_for(ws.recv(), 0.5))
            except asyncio.TimeoutError:
                first = None
            await ws.send(orjson.dumps(sent[1]).decode())
            await ws.send(orjson.dumps(sent[2]).decode())
            after = [orjson.loads(await asyncio.wait_for(ws.recv(), TIMEOUT)) for _ in range(counts[2] + counts[3])]
            return first, after


def test_an_out_of_order_client_event_gets_the_providers_error_naming_the_expected_type():
    error, after = asyncio.run(_out_of_order("strict"))
    assert error["type"] == "error"
    assert error["error"]["type"] == "invalid_request_error" and error["error"]["code"] == "no_match"
    assert "conversation.item.create" in error["error"]["message"] and error["error"]["expected"] == "conversation.item.create"
    assert [a["type"] for a in after] == [f["data"]["type"] for f in frames_of(OPENAI_GA)
                                          if f.get("direction") == "received"][2:]


def test_loose_matching_skips_the_out_of_order_event():
    nothing, after = asyncio.run(_out_of_order("loose"))
    assert nothing is None
    assert after and all(a["type"] != "error" for a in after)


def test_a_first_event_unlike_any_recorded_one_is_a_miss_explained_and_closed_1008():
    async def run():
        async with serve([OPENAI_GA]) as server:
            async with websockets.connect(server.base_url.replace("http", "ws") + "/v1/realtime", open_timeout=30) as ws:
                await asyncio.wait_for(ws.recv(), TIMEOUT)  # session.created
                await ws.send(orjson.dumps({"type": "session.update", "session": {"instructions": "Be verbose."}}).decode())
                error = orjson.loads(await asyncio.wait_for(ws.recv(), TIMEOUT))
                with pytest.raises(websockets.ConnectionClosed) as closed:
                    await asyncio.wait_for(ws.recv(), TIMEOUT)
                return error, closed.value.rcvd.code

    error, code = asyncio.run(run())
    assert code == 1008
    assert error["error"]["code"] == "no_match"
    assert error["error"]["llmtrace"]["closest"]["file"].endswith(OPENAI_GA.name)
    assert any("messages" in d["path"] for d in error["error"]["llmtrace"]["differences"])


def test_a_path_no_recording_serves_is_refused_with_404():
    async def run():
        async with serve([GEMINI]) as server:
            with pytest.raises(websockets.InvalidStatus) as refused:
                async with websockets.connect(server.base_url.replace("http", "ws") + "/v1/realtime", open_timeout=30):
                    pass
            return refused.value.response

    response = asyncio.run(run())
    assert response.status_code == 404
    assert orjson.loads(response.body)["error"]["code"] == "no_match"


# --- faults -----------------------------------------------------------------------------------------


async def capture_client(base: str, path: str, frames: list[dict], quiet: float = 0.4) -> list[dict]:
    """A client that sends the recorded client frames in order and, after each, takes what comes
    until the server is quiet for ``quiet`` seconds or closes: what it lived, as a session file's
    interactions (whatever a fault did to the stream)."""
    out: list[dict] = []
    t0 = time.monotonic()

    async def take() -> bool:
        while True:
            try:
                got = await asyncio.wait_for(ws.recv(), quiet)
            except asyncio.TimeoutError:
                return True
            except websockets.ConnectionClosed as exc:
                out.append({"kind": "close", "code": exc.rcvd.code if exc.rcvd else 1006,
                            "reason": exc.rcvd.reason if exc.rcvd else ""})
                return False
            out.append({"kind": "message", "direction": "received", "data": orjson.loads(got),
                        "at": round(time.monotonic() - t0, 6)})

    async with websockets.connect(base.replace("http", "ws") + path, open_timeout=30) as ws:
        if not await take():
            return out
        for frame in frames:
            if frame.get("direction") == "sent":
                await ws.send(orjson.dumps(frame["data"]).decode())
                out.append({"kind": "message", "direction": "sent", "data": frame["data"],
                            "at": round(time.monotonic() - t0, 6)})
                if not await take():
                    break
    return out


def _faulted(spec: str, tmp_path: Path, path: Path = OPENAI_GA, url: str = "/v1/realtime",
             quiet: float = 0.4) -> tuple[list[dict], list]:
    from llmtrace import check
    from llmtrace.server.faults import parse

    async def run():
        async with serve([path], faults=(parse(spec),)) as server:
            return await asyncio.wait_for(capture_client(server.base_url, url, frames_of(path), quiet), 60)

    captured = asyncio.run(run())
    out = tmp_path / "captured.json"
    out.write_bytes(orjson.dumps({"interactions": captured}))
    return captured, check(load(str(out)))


def _types(captured: list[dict]) -> list:
    return [f["data"].get("type") if f.get("kind") == "message" else ("close", f["code"])
            for f in captured if f.get("direction") != "sent"]


def test_fault_cut_drops_the_socket_without_a_close_frame_and_check_sees_no_finish(tmp_path):
    captured, found = _faulted("cut:after=8", tmp_path)
    types = _types(captured)
    assert types[-1] == ("close", 1006) and len(types) == 9 + 1
    assert "no-finish" in {a.code for a in found}


def test_fault_error_in_stream_sends_the_providers_error_event_and_check_flags_it(tmp_path):
    captured, found = _faulted("error-in-stream:after=9", tmp_path)
    types = _types(captured)
    assert types[10] == "error" and types[-1] == ("close", 1011)
    assert {"error-in-stream", "no-finish"} <= {a.code for a in found}


def test_fault_duplicate_sends_a_frame_twice_and_check_flags_the_duplicate(tmp_path):
    captured, found = _faulted("duplicate:chunk=8", tmp_path)
    received = [f["data"] for f in captured if f.get("direction") == "received"]
    assert received[8] == received[9] and received[8]["type"] == "response.output_audio_transcript.delta"
    assert "duplicate-chunk" in {a.code for a in found}


def test_fault_drop_done_leaves_out_response_done_and_check_sees_no_finish(tmp_path):
    captured, found = _faulted("drop-done", tmp_path)
    assert "response.done" not in _types(captured)
    assert "no-finish" in {a.code for a in found}


def test_fault_drop_done_on_gemini_leaves_out_turn_complete(tmp_path):
    captured, found = _faulted("drop-done", tmp_path, GEMINI, GEMINI_PATH)
    received = [f["data"] for f in captured if f.get("direction") == "received"]
    assert not any((d.get("serverContent") or {}).get("turnComplete") for d in received)
    assert "no-finish" in {a.code for a in found}


def test_fault_stall_is_seen_by_the_client_and_by_show(tmp_path):
    from llmtrace import timeline

    captured, _ = _faulted("stall:after=9,seconds=0.5", tmp_path, quiet=2.0)
    received = [f for f in captured if f.get("direction") == "received"]
    # Never early: no frame after the stall reaches the client sooner than the stall after it
    # connected (a bound no machine load can break; a gap between two arrivals is not one).
    assert all(f["at"] >= 0.5 for f in received[10:]), [f["at"] for f in received]
    ex = load(str(tmp_path / "captured.json")).exchanges[0]
    stall = timeline.summarize(ex.result, ex.response.timings).longest_stall
    gaps = [b - a for a, b in zip(ex.result.timeline.times, ex.result.timeline.times[1:])]
    assert stall is not None and stall.seconds == pytest.approx(max(gaps), abs=1e-3)  # the longest wait the client saw


def test_fault_error_refuses_the_upgrade_with_the_status():
    from llmtrace.server.faults import parse

    async def run():
        async with serve([OPENAI_GA], faults=(parse("error:status=429"),)) as server:
            with pytest.raises(websockets.InvalidStatus) as refused:
                await capture_client(server.base_url, "/v1/realtime", frames_of(OPENAI_GA))
            return refused.value.response

    response = asyncio.run(run())
    assert response.status_code == 429 and response.headers["retry-after"] == "1"


# --- the Responses API's websocket mode -------------------------------------------------------------

RESPONSES = ROOT / "data/cassettes/pydantic-ai/test_openai_responses--test_openai_responses_phase_streamed_on_part_start.yaml"


def test_responses_websocket_mode_with_the_openai_sdk():
    from openai import AsyncOpenAI

    ex = load(str(RESPONSES)).exchanges[0]
    body = {k: v for k, v in ex.request.body.items() if k != "stream"}
    expected = [c["type"] for c in ex.response.chunks]

    async def run():
        async with serve([RESPONSES]) as server:
            client = AsyncOpenAI(api_key="sk-test", base_url=server.base_url + "/v1", max_retries=0)
            async with client.beta.responses.connect(max_retries=0) as conn:
                await conn.send({"type": "response.create", **body})
                types, text = [], ""
                while not types or types[-1] != "response.completed":
                    event = await asyncio.wait_for(conn.recv(), TIMEOUT)
                    types.append(event.type)
                    if event.type == "response.output_text.delta":
                        text += event.delta
                await conn.send({"type": "response.create", **body, "input": "something never recorded"})
                miss = await asyncio.wait_for(conn.recv(), TIMEOUT)
            return types, text, miss

    types, text, miss = asyncio.run(run())
    assert types == expected
    assert text == (reassemble(ex, normalized=True)["choices"][0]["content"] or "")
    assert miss.type == "error"
    assert miss.error.code == "no_match"


# --- property: whatever a session says, served and captured it reads back equal ----------------------

from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

_TEXT = st.text(st.characters(blacklist_categories=("Cs",)), min_size=1, max_size=12)


def _openai_session(turns: list[list[str]], instructions: str) -> list[dict]:
    frames = [{"kind": "message", "direction": "received",
               "data": {"type": "session.created", "event_id": "e0", "session": {"model": "gpt-realtime"}}},
              {"kind": "message", "direction": "sent", "data": {"type": "session.update",
                                                                  "session": {"instructions": instructions}}}]
    n = 0
    for t, deltas in enumerate(turns):
        frames.append({"kind": "message", "direction": "sent", "data": {"type": "response.create"}})
        events = [{"type": "response.created", "response": {"id": f"r{t}"}}]
        events += [{"type": "response.output_text.delta", "response_id": f"r{t}", "delta": d} for d in deltas]
        events.append({"type": "response.done", "response": {"id": f"r{t}", "status": "completed", "output": [
            {"type": "message", "content": [{"type": "output_text", "text": "".join(deltas)}]}]}})
        for event in events:
            n += 1
            frames.append({"kind": "message", "direction": "received", "data": {**event, "event_id": f"e{n}"}})
    return frames


def _gemini_session(turns: list[list[str]], instructions: str) -> list[dict]:
    frames = [{"kind": "message", "direction": "sent", "data": {"setup": {
        "model": "models/gemini-live", "systemInstruction": {"parts": [{"text": instructions}]}}}},
              {"kind": "message", "direction": "received", "data": {"setupComplete": {}}}]
    for deltas in turns:
        frames.append({"kind": "message", "direction": "sent", "data": {"clientContent": {
            "turns": [{"role": "user", "parts": [{"text": "go"}]}], "turnComplete": True}}})
        frames += [{"kind": "message", "direction": "received",
                    "data": {"serverContent": {"modelTurn": {"parts": [{"text": d}]}}}} for d in deltas]
        frames.append({"kind": "message", "direction": "received", "data": {"serverContent": {"turnComplete": True}}})
    return frames


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(family=st.sampled_from(["openai", "gemini"]), instructions=_TEXT,
       turns=st.lists(st.lists(_TEXT, min_size=1, max_size=5), min_size=1, max_size=3))
def test_any_session_served_and_captured_reads_back_equal(tmp_path, family, instructions, turns):
    import llmtrace

    frames = (_openai_session if family == "openai" else _gemini_session)(turns, instructions)
    original = tmp_path / f"{family}-original.json"
    original.write_bytes(orjson.dumps({"interactions": frames}))
    path = "/v1/realtime" if family == "openai" else GEMINI_PATH

    async def run():
        async with serve([original]) as server:
            return await asyncio.wait_for(replay_client(server.base_url, path, frames), 30)

    captured = tmp_path / f"{family}-captured.json"
    captured.write_bytes(orjson.dumps({"interactions": asyncio.run(run())}))
    a, b = load(str(original)), load(str(captured))
    assert len(a.exchanges) == len(turns)
    assert llmtrace.diff(a, b) == []
    assert [llmtrace.reassemble(ex, normalized=True)["choices"][0]["content"] for ex in b.exchanges] == \
        ["".join(t) for t in turns]


def test_connections_and_refused_events_go_to_the_servers_journal():
    """The journal of ``GET /llmtrace/requests`` (and ``server.requests``) lists the connection
    and, as an entry of its own, the client event it refused."""

    async def run():
        server = serve([OPENAI_GA])
        async with server:
            await _out_of_order_on(server)
            async with aiohttp.ClientSession() as session:
                async with session.get(server.base_url + "/llmtrace/requests") as response:
                    listed = await response.json()
        return listed, server.requests

    async def _out_of_order_on(server):
        sent, _ = _lockstep_frames(OPENAI_GA)
        async with websockets.connect(server.base_url.replace("http", "ws") + "/v1/realtime", open_timeout=30) as ws:
            await asyncio.wait_for(ws.recv(), TIMEOUT)
            await ws.send(orjson.dumps(sent[0]).decode())
            await asyncio.wait_for(ws.recv(), TIMEOUT)
            await ws.send(orjson.dumps({"type": "response.create"}).decode())
            assert orjson.loads(await asyncio.wait_for(ws.recv(), TIMEOUT))["type"] == "error"

    listed, journal = asyncio.run(run())
    assert [{k: e.get(k) for k in ("method", "path")} for e in listed] == \
        [{k: e.get(k) for k in ("method", "path")} for e in journal[:len(listed)]]
    refused = [e for e in journal if e.get("code") == "no_match"]
    assert refused and refused[0]["method"] == "WEBSOCKET" and refused[0]["path"] == "/v1/realtime"
    assert refused[0]["differences"] == [{"path": "client event", "recorded": "conversation.item.create",
                                          "received": "response.create"}]
    [connection] = [e for e in journal if e.get("status") == 101]
    assert connection["matched"]["file"].endswith(OPENAI_GA.name) and connection["frames"] == 2
    assert any(e.get("status") == 101 for e in listed)


def _family(path: Path) -> str:
    from llmtrace.containers.websocket import family_of

    return family_of(frames_of(path))


OPENAI_FAMILY = [p for p in SESSIONS if _family(p) == "openai" and b"session.start" not in p.read_bytes()]


@pytest.mark.parametrize("path", OPENAI_FAMILY, ids=[p.name.split("__")[-1] for p in OPENAI_FAMILY])
def test_every_openai_style_recording_replays_to_the_openai_sdk(path):
    """GA event names through ``client.realtime.connect``, beta (Azure, xAI) through
    ``client.beta.realtime.connect``; the client sends the recorded events as it receives."""
    from openai import AsyncOpenAI

    frames = connections(frames_of(path))[0]
    sent, counts = [], [0]
    for f in frames:
        if f.get("direction") == "sent":
            sent.append(f["data"])
            counts.append(0)
        elif f.get("kind", "message") == "message":
            counts[-1] += 1
    beta = not any(f.get("data", {}).get("type", "").startswith(("response.output_text", "response.output_audio"))
                   for f in frames if isinstance(f.get("data"), dict))
    expected = [f["data"].get("type") for f in frames if f.get("direction") == "received"]
    model = next((f["data"]["session"].get("model") for f in frames if f.get("direction") == "received"
                  and isinstance(f["data"].get("session"), dict)), None) or "gpt-realtime"

    async def run():
        async with serve([path]) as server:
            client = AsyncOpenAI(api_key="sk-test", base_url=server.base_url + "/v1", max_retries=0,
                                 websocket_base_url=server.base_url.replace("http", "ws") + "/v1")
            connect = client.beta.realtime.connect if beta else client.realtime.connect
            types, text = [], ""
            async with connect(model=model) as conn:
                for event, count in zip([None, *sent], counts):
                    if event is not None:
                        await conn.send(event)
                    for _ in range(count):
                        got = await asyncio.wait_for(conn.recv(), TIMEOUT)
                        types.append(getattr(got, "type", None))
                        if types[-1] in TEXT_DELTAS:
                            text += got.delta
            return types, text

    types, text = asyncio.run(run())
    assert types == expected
    assert text == "".join(f["data"]["delta"] for f in frames if f.get("direction") == "received"
                           and f["data"].get("type") in TEXT_DELTAS)


GEMINI_FAMILY = [p for p in SESSIONS if _family(p) == "gemini"]


@pytest.mark.filterwarnings("ignore:Setting `LiveConnectConfig.generation_config` is deprecated")
@pytest.mark.parametrize("path", GEMINI_FAMILY, ids=[str(i) + "-" + p.name.split("__")[-1] for i, p in enumerate(GEMINI_FAMILY)])
def test_every_gemini_live_recording_replays_to_google_genai(path, tls):
    """The recorded ``setup`` as the SDK's ``LiveConnectConfig``, each recorded turn and tool
    response through ``send_client_content`` / ``send_tool_response``, every server message
    read by the SDK."""
    from google.genai import types

    frames = frames_of(path)
    setup = frames[0]["data"]["setup"]
    sent, counts = [], [0]
    for f in frames[1:]:
        if f.get("direction") == "sent":
            sent.append(f["data"])
            counts.append(0)
        else:
            counts[-1] += 1
    counts[0] -= 1  # setupComplete: read by connect
    config = types.LiveConnectConfig.model_validate({k: v for k, v in setup.items() if k != "model"})
    model = setup["model"].rsplit("/models/", 1)[-1].removeprefix("models/")

    async def run():
        async with _tls_serve([path], tls) as server:
            client = _genai_client(server.base_url, tls)
            got = []
            async with client.aio.live.connect(model=model, config=config) as session:
                for event, count in zip([None, *sent], counts):
                    content = event and (event.get("client_content") or event.get("clientContent"))
                    answer = event and (event.get("tool_response") or event.get("toolResponse"))
                    if content:
                        await session.send_client_content(
                            turns=[types.Content.model_validate(t) for t in content.get("turns", [])],
                            turn_complete=content.get("turnComplete", content.get("turn_complete", True)))
                    elif answer:
                        await session.send_tool_response(function_responses=[
                            types.FunctionResponse.model_validate(r) for r in answer["functionResponses"]])
                    for _ in range(count):
                        got.append(await asyncio.wait_for(session._receive(), TIMEOUT))
            return got

    got = asyncio.run(asyncio.wait_for(run(), 60))
    received = [f["data"] for f in frames if f.get("direction") == "received"][1:]  # setupComplete: read by connect
    assert len(got) == len(received)
    text = "".join(p.text or "" for m in got if m.server_content and m.server_content.model_turn
                   for p in m.server_content.model_turn.parts if not p.thought)
    text += "".join(m.server_content.output_transcription.text or "" for m in got
                    if m.server_content and m.server_content.output_transcription)
    recorded = "".join(p.get("text", "") for d in received for p in
                       ((d.get("serverContent") or {}).get("modelTurn") or {}).get("parts", []) if not p.get("thought"))
    recorded += "".join(((d.get("serverContent") or {}).get("outputTranscription") or {}).get("text", "") for d in received)
    assert text == recorded
    calls = [c.name for m in got if m.tool_call for c in m.tool_call.function_calls]
    assert calls == [c["name"] for d in received for c in (d.get("toolCall") or {}).get("functionCalls", [])]


LIVE = ROOT / "data/newformats/E-pydantic-ai/live/tests__realtime__cassettes__test_openai_live_ws__test_text_reaches_the_model_as_context.excerpt.yaml"


def test_openai_sdk_live_connect_gets_the_recorded_voice_turn():
    from openai import AsyncOpenAI

    sent, counts = _lockstep_frames(LIVE)
    expected = [f["data"]["type"] for f in frames_of(LIVE) if f.get("direction") == "received"]
    words = "".join(f["data"]["delta"] for f in frames_of(LIVE) if f.get("direction") == "received"
                    and f["data"]["type"] == "session.output_transcript.delta")

    async def run():
        async with serve([LIVE]) as server:
            client = AsyncOpenAI(api_key="sk-test", base_url=server.base_url + "/v1", max_retries=0)
            types, transcript = [], ""
            async with client.live.connect(max_retries=0) as conn:
                for event, count in zip([None, *sent], counts):
                    if event is not None:
                        await conn.send(event)
                    for _ in range(count):
                        got = await asyncio.wait_for(conn.recv(), TIMEOUT)
                        types.append(got.type)
                        if got.type == "session.output_transcript.delta":
                            transcript += got.delta
            with pytest.raises(websockets.InvalidStatus):  # a Live session is not served as Realtime
                await replay_client(server.base_url, "/v1/realtime", frames_of(LIVE))
            return types, transcript

    types, transcript = asyncio.run(run())
    assert types == expected
    assert transcript == words != ""


def test_odd_frames_in_a_recording_are_served_as_they_are(tmp_path):
    """Untrusted input: frames without data, unknown kinds, times that are no numbers, a
    non-JSON text frame — served without a failure, in order."""
    doc = {"interactions": [
        {"kind": "message", "direction": "sent", "data": {"type": "session.update", "session": {}}, "at": "soon"},
        {"kind": "message", "direction": "received", "data": "plain text, no JSON", "at": None},
        {"kind": "ping", "direction": "received"},
        {"kind": "message", "direction": "received"},
        {"kind": "message", "direction": "received", "data": {"type": "response.created", "event_id": "e1"}},
    ]}
    path = tmp_path / "odd.json"
    path.write_bytes(orjson.dumps(doc))

    async def run():
        async with serve([path], speed=1.0) as server:
            async with websockets.connect(server.base_url.replace("http", "ws") + "/v1/realtime", open_timeout=30) as ws:
                await ws.send(orjson.dumps({"type": "session.update", "session": {}}).decode())
                return [await asyncio.wait_for(ws.recv(), TIMEOUT) for _ in range(3)]

    assert asyncio.run(run()) == ["plain text, no JSON", "null", '{"type":"response.created","event_id":"e1"}']


def test_sequence_matching_serves_the_recorded_sessions_in_order_then_refuses():
    async def run():
        async with serve([XAI_DROP], mode="sequence") as server:
            frames = frames_of(XAI_DROP)
            captured = await replay_client(server.base_url, "/v1/realtime", frames)
            with pytest.raises(websockets.InvalidStatus) as refused:
                await replay_client(server.base_url, "/v1/realtime", frames)
            return captured, refused.value.response

    captured, response = asyncio.run(run())
    assert [f["data"] for f in captured if f.get("direction") == "received"] == \
        [f["data"] for f in frames_of(XAI_DROP) if f.get("direction") == "received"]
    assert response.status_code == 404
    assert orjson.loads(response.body)["error"]["llmtrace"]["differences"][0]["path"].startswith("sequence")


# --- GET /llmtrace/health lists what answers besides HTTP -------------------------------------------


def test_health_lists_the_websocket_paths_and_grpc_methods_the_command_serves(tmp_path):
    """A real ``llmtrace serve`` process: health lists each realtime session's paths (its
    provider's when it kept no URL, the recorded one when it did), the Responses websocket mode,
    and the gRPC methods; every listed websocket path takes an upgrade, every listed gRPC method
    answers, and a path not listed is refused."""
    import httpx

    from llmtrace.server.realtime import FAMILY_PATHS

    grpc = pytest.importorskip("grpc")
    pytest.importorskip("xai_sdk")
    from test_serve_grpc import REASONING, _cassette, _raw_stream

    recorded = tmp_path / "0001-WS-custom-socket.json"  # as ``record`` writes a session: with its URL
    recorded.write_bytes(orjson.dumps({"version": 1, "url": "ws://127.0.0.1:9/custom/socket?model=gpt-realtime",
                                       "interactions": frames_of(XAI_DROP)}))
    proc = subprocess.Popen([sys.executable, "-m", "llmtrace", "serve", "--port", "0", "--speed", "max",
                             str(OPENAI_GA), str(GEMINI), str(ELEVENLABS), str(RESPONSES), str(REASONING), str(recorded)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        base = proc.stdout.readline().strip()
        assert base.startswith("http://127.0.0.1:"), proc.stderr.read() if proc.poll() is not None else base
        health = httpx.get(base + "/llmtrace/health", timeout=TIMEOUT, trust_env=False).json()

        async def upgrades(paths):
            answered = []
            for path in paths:
                try:
                    async with websockets.connect(base.replace("http", "ws") + path, open_timeout=30):
                        answered.append(path)
                except websockets.InvalidStatus as exc:
                    assert exc.response.status_code == 404, (path, exc.response.status_code)
            return answered

        listed = health["websocket_endpoints"]
        answered = asyncio.run(asyncio.wait_for(upgrades([*listed, "/v1/live/sessions", "/v2/other"]), 60))
        called = {method: _raw_stream(base, _cassette(REASONING)["request_stream"]["raw"], method)[1].code()
                  for method in health["grpc_methods"]}
    finally:
        proc.terminate()
        proc.wait(10)
    # the keys it had, as they were
    assert health["status"] == "ok" and health["exchanges"] == len(load(str(RESPONSES)).exchanges) + 1 \
        and health["match"] == "strict"
    assert health["endpoints"] == ["/v1/responses", "/xai_api.Chat/GetCompletion"]
    assert len(health["recordings"]) == 6
    # and what it answers besides HTTP
    assert listed == sorted({*FAMILY_PATHS["openai"], *FAMILY_PATHS["gemini"], *FAMILY_PATHS["elevenlabs"],
                             "/custom/socket", "/v1/responses"})
    assert health["sessions"] == 1 + 1 + 1 + 2  # the xAI session dropped and reconnected: two connections
    assert answered == listed  # every path listed is served, the others (OpenAI Live, here) are not
    assert health["grpc_methods"] == ["/xai_api.Chat/GetCompletion", "/xai_api.Chat/GetCompletionChunk"]
    assert called == {method: grpc.StatusCode.OK for method in health["grpc_methods"]}


def test_health_lists_no_websocket_path_or_grpc_method_when_no_recording_needs_one():
    import httpx

    async def run():
        async with serve([RESPONSES]) as server:
            return await asyncio.to_thread(lambda: httpx.get(server.base_url + "/llmtrace/health",
                                                             timeout=TIMEOUT, trust_env=False).json())

    health = asyncio.run(run())
    assert health["websocket_endpoints"] == ["/v1/responses"] and health["sessions"] == 0
    assert health["grpc_methods"] == []
