"""Realtime websocket sessions (pydantic-ai's ``interactions: [{kind, direction, data}]``): one
exchange per model response, folded by ``openai-realtime`` (OpenAI GA/beta, Azure, Azure Voice
Live, xAI) or ``gemini-live``. Every real session in tests/data/newformats/E-pydantic-ai is
checked against an independent reading of its frames."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest
import yaml

from llmtrace.anomalies import detect
from llmtrace.view import provider_json
from llmtrace.loader import load

DATA = Path(__file__).parent / "data" / "newformats" / "E-pydantic-ai"
SESSIONS = sorted(DATA.glob("*.yaml"))
TEXT_DELTAS = ("response.text.delta", "response.output_text.delta", "response.audio_transcript.delta",
               "response.output_audio_transcript.delta")


def _frames(path: Path) -> list[dict]:
    return yaml.safe_load(path.read_text())["interactions"]


def _expected(path: Path) -> list[dict]:
    """What each model response said, read straight from the frames (not through llmtrace)."""
    turns: list[dict] = []
    current = None
    gemini = any("setup" in (f.get("data") or {}) for f in _frames(path))
    for frame in _frames(path):
        data = frame.get("data") if frame.get("kind") == "message" else None
        if frame.get("kind") == "close" and current is not None:
            current = None
        if not isinstance(data, dict):
            continue
        if gemini:
            if frame["direction"] == "sent":
                current = None
                continue
            if current is None and ("serverContent" in data or "toolCall" in data):
                current = {"text": "", "tools": [], "done": False}
                turns.append(current)
            if current is None:
                continue
            content = data.get("serverContent") or {}
            current["text"] += (content.get("outputTranscription") or {}).get("text", "")
            current["text"] += "".join(p.get("text", "") for p in (content.get("modelTurn") or {}).get("parts", [])
                                       if not p.get("thought"))
            current["tools"] += [c["name"] for c in (data.get("toolCall") or {}).get("functionCalls", [])]
            if content.get("turnComplete"):
                current["done"] = True
                current = None
            elif data.get("toolCall"):
                current["done"] = True
        else:
            kind = data.get("type", "")
            if frame["direction"] == "sent" or not kind.startswith("response."):
                continue
            if current is None:
                current = {"text": "", "tools": [], "done": False}
                turns.append(current)
            if kind in TEXT_DELTAS:
                current["text"] += data["delta"]
            if kind == "response.output_item.added" and data["item"].get("type") == "function_call":
                current["tools"].append(data["item"]["name"])
            if kind == "response.done":
                current["done"] = True
                current = None
    return turns


@pytest.mark.parametrize("path", SESSIONS, ids=[p.name.split("__")[-1] for p in SESSIONS])
def test_every_real_session_matches_an_independent_reading(path):
    recording = load(str(path))
    assert recording.container == "websocket"
    expected = _expected(path)
    assert len(recording.exchanges) == len(expected) > 0
    for exchange, turn in zip(recording.exchanges, expected):
        assert exchange.dialect in ("openai-realtime", "gemini-live")
        message = exchange.result.choices[0]
        assert (message.content or "") == turn["text"]
        assert [c.name for c in message.tool_calls] == turn["tools"]
        assert exchange.result.complete == turn["done"]
        for anomaly in detect(exchange, recording):  # real sessions: nothing worse than info
            assert anomaly.severity == "info", anomaly


def test_openai_realtime_usage_tool_call_and_request():
    path = DATA / "tests__realtime__cassettes__test_azure_voice_live_ws__test_tool_call_round.yaml"
    call, answer = load(str(path)).exchanges
    assert call.request.model == "gpt-realtime-global-standard"
    assert [m.role for m in call.normalized_request.messages] == ["system", "user"]
    assert call.normalized_request.tools == ["get_weather"]
    [tool] = call.result.choices[0].tool_calls
    assert tool.parsed_arguments == {"city": "London"} and tool.id == "call_gjTmnRCz6ans0s2H"
    assert call.result.choices[0].stop == "tool_calls"
    # The second request carries the tool's output the client sent back.
    assert any("foggy" in m.content for m in answer.normalized_request.messages)
    assert answer.result.usage.model_dump() == {"input_tokens": 96, "output_tokens": 14, "total_tokens": 110,
                                                "cached_tokens": 64, "reasoning_tokens": 0}
    assert provider_json(answer)["object"] == "realtime.response"


def test_audio_is_counted_never_kept():
    path = DATA / "tests__realtime__cassettes__test_openai_ws__test_text_in_audio_out_turn.yaml"
    [turn] = load(str(path)).exchanges
    audio = [f["data"]["delta"] for f in _frames(path)
             if isinstance(f.get("data"), dict) and f["data"].get("type") == "response.output_audio.delta"]
    import base64

    assert turn.result.observations.audio_bytes == sum(len(base64.b64decode(a)) for a in audio) > 0
    assert turn.result.choices[0].content == "Hi there!"
    assert not any(a[:40] in orjson.dumps(provider_json(turn)).decode() for a in audio)


def test_gemini_live_audio_parts_become_sizes():
    path = DATA / "tests__realtime__cassettes__test_google_ws__test_tool_call_round.yaml"
    call, answer = load(str(path)).exchanges
    assert call.result.choices[0].finish_reason == "toolCall" and call.result.choices[0].stop == "tool_calls"
    body = provider_json(answer)
    [audio] = [p for p in body["serverContent"]["modelTurn"]["parts"] if "inlineData" in p]
    assert audio["inlineData"]["size"] == answer.result.observations.audio_bytes > 0
    assert "data" not in audio["inlineData"]
    assert body["usageMetadata"]["totalTokenCount"] == 1370 and answer.result.usage.total_tokens == 1370


def test_a_dropped_socket_mid_response_is_no_finish(tmp_path):
    path = DATA / "tests__realtime__cassettes__test_openai_ws__test_text_in_audio_out_turn.yaml"
    doc = yaml.safe_load(path.read_text())
    frames = doc["interactions"]
    cut = next(n for n, f in enumerate(frames) if (f.get("data") or {}).get("type") == "response.output_audio.delta")
    doc["interactions"] = frames[:cut] + [{"kind": "close", "code": 1011, "reason": "keepalive ping timeout", "ok": False}]
    target = tmp_path / "dropped.yaml"
    target.write_text(yaml.safe_dump(doc))
    [turn] = load(str(target)).exchanges
    assert not turn.result.complete and "1011" in turn.response.cut_off
    assert turn.result.choices[0].content == "Hi there!"
    assert "no-finish" in [a.code for a in detect(turn)]


def test_unknown_events_are_kept_and_an_error_outside_a_response_is_an_exchange(tmp_path):
    doc = {"interactions": [
        {"kind": "message", "direction": "sent", "data": {"type": "response.create"}},
        {"kind": "message", "direction": "received",
         "data": {"type": "error", "event_id": "e1", "error": {"type": "invalid_request_error", "message": "nope"}}},
        {"kind": "message", "direction": "received", "data": {"type": "response.created", "event_id": "e2",
                                                             "response": {"object": "realtime.response", "id": "r"}}},
        {"kind": "message", "direction": "received", "data": {"type": "response.brand_new.delta", "event_id": "e3"}},
        {"kind": "message", "direction": "received", "data": {"type": "response.output_text.delta", "event_id": "e4",
                                                             "output_index": 0, "content_index": 0, "delta": "ok"}},
        {"kind": "message", "direction": "received", "data": {"type": "response.done", "event_id": "e5", "response": {
            "object": "realtime.response", "id": "r", "status": "completed",
            "output": [{"type": "message", "role": "assistant", "content": [{"type": "text", "text": "ok"}]}]}}},
    ]}
    target = tmp_path / "s.json"
    target.write_bytes(orjson.dumps(doc))
    error, turn = load(str(target)).exchanges
    assert "error-in-stream" in [a.code for a in detect(error)]
    assert turn.response.chunks[1]["type"] == "response.brand_new.delta" and turn.result.choices[0].content == "ok"


# --- the endpoint: named where the protocol is spoken on one path only -----------------------------

LIVE = DATA / "live"


@pytest.mark.parametrize("name, endpoint", [
    ("tests__realtime__cassettes__test_elevenlabs_ws_frames__test_tool_round_and_followup_turn.yaml",
     "/v1/convai/conversation"),
    ("tests__realtime__cassettes__test_openai_live_ws__test_audio_in_delegated_tool_round.reduced.yaml",
     "/v1/live/sessions"),
])
def test_a_session_of_a_one_path_protocol_names_its_endpoint_and_no_host(name, endpoint):
    recording = load(str(LIVE / name))
    assert {ex.request.endpoint for ex in recording.exchanges} == {endpoint}
    assert {ex.request.host for ex in recording.exchanges} == {None}  # never invented


@pytest.mark.parametrize("path", SESSIONS, ids=[p.name.split("__")[-1] for p in SESSIONS])
def test_openai_realtime_and_gemini_live_sessions_without_a_url_name_no_endpoint(path):
    """The same frames go to several providers' paths (OpenAI, xAI, Azure, Voice Live; Gemini's
    path holds an API version the frames do not say): nothing is guessed."""
    assert {ex.request.endpoint for ex in load(str(path)).exchanges} == {None}


def test_a_kept_url_gives_the_endpoint_of_a_one_path_protocol(tmp_path):
    doc = yaml.safe_load((LIVE / "tests__realtime__cassettes__test_elevenlabs_ws_frames__test_text_in_audio_out_turn.yaml")
                         .read_text())
    doc["url"] = "ws://127.0.0.1:9/eu/v1/convai/conversation?agent_id=agent_x"  # behind a prefix, as recorded
    path = tmp_path / "0001-WS-eu-v1-convai-conversation.json"
    path.write_bytes(orjson.dumps(doc))
    assert {ex.request.endpoint for ex in load(str(path)).exchanges} == {"/eu/v1/convai/conversation"}


def test_show_prints_the_endpoint_of_an_elevenlabs_session():
    import subprocess
    import sys

    name = "tests__realtime__cassettes__test_elevenlabs_ws_frames__test_text_in_audio_out_turn.yaml"
    out = subprocess.run([sys.executable, "-m", "llmtrace", "show", "--json", str(LIVE / name)], capture_output=True,
                         timeout=60, check=True).stdout
    [exchange] = orjson.loads(out)["exchanges"]
    assert exchange["request"]["endpoint"] == "/v1/convai/conversation" and exchange["request"]["host"] is None
