"""Realtime websocket sessions llmtrace once turned into zero exchanges: ElevenLabs Agents
(``elevenlabs-agents``) and OpenAI Live sessions (read as ``openai-realtime``: voice turns and
delegated Responses API responses), and the safety net that keeps any session with no
response as one ``opaque`` exchange. The real sessions are checked end to end through the CLI
against an independent reading of their frames (PyYAML and a few lines here, never llmtrace)."""

from __future__ import annotations

import base64
from pathlib import Path

import orjson
import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from llmtrace.anomalies import detect
from llmtrace.cli import app
from llmtrace.errors import UnreadableInput
from llmtrace.loader import load
from llmtrace.view import provider_json

DATA = Path(__file__).parent / "data" / "newformats" / "E-pydantic-ai" / "live"
ELEVENLABS = sorted(DATA.glob("*elevenlabs*.yaml"))
LIVE = sorted(DATA.glob("*openai_live*.yaml"))
TOOL_ROUND = DATA / "tests__realtime__cassettes__test_elevenlabs_ws_frames__test_tool_round_and_followup_turn.yaml"
DELEGATED = DATA / "tests__realtime__cassettes__test_openai_live_ws__test_audio_in_delegated_tool_round.reduced.yaml"
CONTEXT = DATA / "tests__realtime__cassettes__test_openai_live_ws__test_text_reaches_the_model_as_context.excerpt.yaml"


def _received(path: Path) -> list[dict]:
    frames = yaml.safe_load(path.read_text(encoding="utf-8"))["interactions"]
    return [f["data"] for f in frames if f.get("direction") == "received" and isinstance(f.get("data"), dict)]


def _cli(*args: str):
    return CliRunner().invoke(app, list(args))


def _lines(text: str) -> list[dict]:
    return [orjson.loads(line) for line in text.splitlines() if line.strip()]


# --- independent readings -------------------------------------------------------------------


def _elevenlabs_expected(path: Path) -> list[dict]:
    """Per agent response, in order: a tool call is a response of its own; an answer is its
    agent_response, replaced by a correction of the same response_id (an interruption: it ended there)."""
    frames = _received(path)
    corrections = {f["agent_response_correction_event"]["response_id"]:
                   f["agent_response_correction_event"]["corrected_agent_response"]
                   for f in frames if f["type"] == "agent_response_correction"}
    deltas: dict[str, str] = {}
    for f in frames:
        if f["type"] == "agent_chat_response_part" and f["text_response_part"]["type"] == "delta":
            part = f["text_response_part"]
            deltas[part["response_id"]] = deltas.get(part["response_id"], "") + part["text"]
    out = []
    for f in frames:
        if f["type"] == "client_tool_call":
            out.append({"text": None, "tools": [f["client_tool_call"]["tool_name"]], "done": True})
        elif f["type"] == "agent_response":
            event = f["agent_response_event"]
            said = deltas.get(event["response_id"], event["agent_response"])
            assert said == event["agent_response"]  # the deltas say what agent_response says
            rid = event["response_id"]
            out.append({"text": corrections.get(rid, said), "tools": [], "done": True})
    return out


def _live_expected(path: Path) -> tuple[str, list[dict]]:
    """The voice transcript, and per delegated response its text, tool names and usage."""
    frames = _received(path)
    voice = "".join(f["delta"] for f in frames if f["type"] == "session.output_transcript.delta")
    delegated: list[dict] = []
    for f in frames:
        if f["type"] != "response.event":
            continue
        event = f["event"]
        if event["type"] == "response.created":
            delegated.append({"text": "", "tools": [], "usage": None})
        elif event["type"] == "response.output_text.delta":
            delegated[-1]["text"] += event["delta"]
        elif event["type"] == "response.output_item.added" and event["item"]["type"] == "function_call":
            delegated[-1]["tools"].append(event["item"]["name"])
        elif event["type"] == "response.completed":
            delegated[-1]["usage"] = event["response"]["usage"]
    return voice, delegated


# --- real sessions, end to end ------------------------------------------------------------------


@pytest.mark.parametrize("path", ELEVENLABS, ids=[p.name.split("__")[-1] for p in ELEVENLABS])
def test_real_elevenlabs_session_end_to_end(path):
    expected = _elevenlabs_expected(path)
    run = _cli("reassemble", "--normalized", str(path))
    assert run.exit_code == 0, run.output
    rows = _lines(run.stdout)
    assert len(rows) == len(expected) > 0
    for row, want in zip(rows, expected):
        assert row["dialect"] == "elevenlabs-agents" and row["container"] == "websocket"
        [message] = row["choices"]
        assert message["content"] == want["text"]
        assert [c["name"] for c in message["tool_calls"]] == want["tools"]
    shown = _cli("show", "--json", str(path))
    assert shown.exit_code == 0, shown.output
    [doc] = _lines(shown.stdout)
    assert len(doc["exchanges"]) == len(expected)
    checked = _cli("check", "--json", str(path))
    [line] = _lines(checked.stdout)
    no_finish = sorted({a["exchange"] for a in line["anomalies"] if a["code"] == "no-finish"})
    assert no_finish == [n for n, want in enumerate(expected) if not want["done"]]
    assert "usage-missing" in line["skipped"]  # the protocol reports no tokens: skipped, not failed
    assert checked.exit_code == (1 if no_finish else 0)


@pytest.mark.parametrize("path", LIVE, ids=[p.name.split("__")[-1] for p in LIVE])
def test_real_openai_live_session_end_to_end(path):
    voice, delegated = _live_expected(path)
    run = _cli("reassemble", "--normalized", str(path))
    assert run.exit_code == 0, run.output
    rows = _lines(run.stdout)
    assert len(rows) == 1 + len(delegated) and all(r["dialect"] == "openai-realtime" for r in rows)
    voices = [r for r in rows if r["model"] == "gpt-live-1"]
    assert [r["choices"][0]["content"] for r in voices] == [voice] and voice
    others = [r for r in rows if r["model"] != "gpt-live-1"]
    for row, want in zip(others, delegated):
        [message] = row["choices"]
        assert (message["content"] or "") == want["text"]
        assert [c["name"] for c in message["tool_calls"]] == want["tools"]
        assert row["usage"]["input_tokens"] == want["usage"]["input_tokens"]
        assert row["usage"]["output_tokens"] == want["usage"]["output_tokens"]
        assert message["stop"] == ("tool_calls" if want["tools"] else "stop")
    shown = _cli("show", "--json", str(path))
    assert shown.exit_code == 0, shown.output
    checked = _cli("check", "--json", str(path))
    assert checked.exit_code == 0, checked.output
    [line] = _lines(checked.stdout)
    assert {a["severity"] for a in line["anomalies"]} <= {"info"}


def test_scan_has_a_row_for_every_response():
    run = _cli("scan", "--jsonl", str(DATA))
    assert run.exit_code == 0, run.output
    rows = [r for r in _lines(run.stdout) if r.get("exchange") is not None]
    by_file: dict[str, int] = {}
    for row in rows:
        by_file[Path(row["file"]).name] = by_file.get(Path(row["file"]).name, 0) + 1
    assert by_file[TOOL_ROUND.name] == 3 and by_file[DELEGATED.name] == 3 and by_file[CONTEXT.name] == 1


def test_elevenlabs_tool_round_request_audio_and_times():
    recording = load(str(TOOL_ROUND))
    call, answer, thanks = recording.exchanges
    [tool] = call.result.choices[0].tool_calls
    assert tool.parsed_arguments == {"city": "Berlin"} and tool.id == "get_weather_bfd39a9d66854a11af9e232002d2b5b2"
    assert call.result.choices[0].stop == "tool_calls"
    # The answer's request holds the call and the result the client sent back.
    roles = [(m.role, m.content) for m in answer.normalized_request.messages]
    assert roles[0] == ("system", "Answer in one short sentence. Use the get_weather tool for any weather question.")
    assert ("tool", "It is sunny and 21 degrees in Berlin.") in roles
    assert ("user", "What is the weather in Berlin?") in roles
    # Cut off by the user's "Thanks": the correction is what was said, the answer was cut.
    message = answer.result.choices[0]
    assert message.content == "It..." and message.finish_reason == "interrupted" and answer.result.complete
    assert provider_json(answer)["agent_response"] == "It is sunny and twenty one degrees in Berlin."
    assert answer.result.model == "gemini-2.5-flash"
    assert ("assistant", "It...") in [(m.role, m.content) for m in thanks.normalized_request.messages]
    # Audio: counted, never printed.
    audio = [f["audio_event"]["audio_base_64"] for f in _received(TOOL_ROUND) if f["type"] == "audio"]
    counted = sum(e.result.observations.audio_bytes for e in recording.exchanges)
    assert counted == sum(len(base64.b64decode(a)) for a in audio) > 0
    assert not any(a in orjson.dumps([provider_json(e) for e in recording.exchanges]).decode() for a in audio)
    # The frames' ``at`` are the chunk times; the client's last message starts the request.
    shown = _cli("show", "--json", str(TOOL_ROUND))
    [doc] = _lines(shown.stdout)
    timeline = doc["exchanges"][0]["timeline"]
    assert timeline["timing"] == "chunk-times" and timeline["ttft_s"] == pytest.approx(0.781)
    assert doc["exchanges"][0]["fidelity"] == "chunks+times"


def test_live_voice_turn_and_delegated_responses():
    first, voice, second = load(str(DELEGATED)).exchanges
    assert voice.request.model == "gpt-live-1" and first.request.model == "gpt-5.6-sol"
    assert first.normalized_request.tools == ["lookup_forecast"]
    # The client's function output is the input of the delegate's second response.
    assert second.request.body["input"] == [{"type": "function_call_output", "call_id": "call_sMcOazdoNl2difiyfEE12nUN",
                                             "output": "Amsterdam: 14 degrees Celsius, light rain."}]
    # The final event's output is empty: the items are rebuilt from what streamed.
    assert [item["type"] for item in provider_json(first)["output"]] == ["function_call"]
    assert second.result.choices[0].content == "Tomorrow in Amsterdam, it’ll be around 14°C with light rain."
    # The voice turn: what the user said is its request, the audio is counted and never kept.
    assert any(m.content == "[audio] What will the weather be in Amsterdam tomorrow? Please look it up"
               for m in voice.normalized_request.messages)
    audio = [f["delta"] for f in voice.response.chunks if f.get("type") == "session.output_audio.delta"]
    assert voice.result.observations.audio_bytes == sum(len(base64.b64decode(a)) for a in audio) > 0
    body = provider_json(voice)
    assert body["object"] == "live.turn" and body["audio"]["size"] == voice.result.observations.audio_bytes
    assert body["usage"] == {"seconds": 14.0} and voice.result.usage.output_tokens is None
    assert voice.result.complete and voice.result.choices[0].finish_reason is None


def test_live_commentary_is_the_request_and_close_is_the_finish():
    [turn] = load(str(CONTEXT)).exchanges
    messages = [(m.role, m.content) for m in turn.normalized_request.messages]
    assert ("developer", "Tell the user their package arrives on Friday.") in messages
    assert turn.result.choices[0].finish_reason == "close_requested"
    assert provider_json(turn)["closed"] == {"reason": "close_requested"}
    assert turn.fidelity == "chunks+times"


# --- hand-built edges ---------------------------------------------------------------------------


def _write(tmp_path: Path, frames: list[dict], name: str = "session.yaml") -> Path:
    target = tmp_path / name
    target.write_text(yaml.safe_dump({"version": 1, "interactions": frames}, allow_unicode=True))
    return target


def _sent(data: dict, at: float | None = None) -> dict:
    return {"kind": "message", "direction": "sent", "data": data, **({"at": at} if at is not None else {})}


def _got(data: dict, at: float | None = None) -> dict:
    return {"kind": "message", "direction": "received", "data": data, **({"at": at} if at is not None else {})}


def _part(kind: str, text: str, event_id: int = 1, rid: str = "r1") -> dict:
    return _got({"type": "agent_chat_response_part",
                 "text_response_part": {"type": kind, "text": text, "event_id": event_id, "response_id": rid}})


def _answer(text: str, event_id: int = 1, rid: str = "r1") -> dict:
    return _got({"type": "agent_response",
                 "agent_response_event": {"agent_response": text, "event_id": event_id, "response_id": rid}})


def test_elevenlabs_deltas_are_the_content_and_a_correction_replaces_them(tmp_path):
    path = _write(tmp_path, [
        _sent({"type": "user_message", "text": "Tell me a story."}),
        _part("start", ""), _part("delta", "Once upon"), _part("delta", " a time"), _part("stop", ""),
        _answer("Once upon a time"),
        _got({"type": "interruption", "interruption_event": {"event_id": 2}}),
        _got({"type": "agent_response_correction",
              "agent_response_correction_event": {"original_agent_response": "Once upon a time",
                                                  "corrected_agent_response": "Once upon", "event_id": 1,
                                                  "response_id": "r1"}}),
    ])
    [turn] = load(str(path)).exchanges
    message = turn.result.choices[0]
    assert message.content == "Once upon" and message.finish_reason == "interrupted" and message.stop is None
    assert [d.text for d in turn.result.timeline.deltas] == ["Once upon", " a time"]
    assert "no-finish" not in [a.code for a in detect(turn)]  # a barge-in ends the response, as in Gemini Live
    body = provider_json(turn)
    assert body["agent_response"] == "Once upon a time" and body["corrected_agent_response"] == "Once upon"
    assert body["interrupted"] is True


def test_elevenlabs_a_response_the_recording_cuts_is_no_finish(tmp_path):
    path = _write(tmp_path, [_sent({"type": "user_message", "text": "Hi"}), _part("start", ""), _part("delta", "Hel")])
    [turn] = load(str(path)).exchanges
    assert turn.result.choices[0].content == "Hel" and not turn.result.complete
    assert turn.response.cut_off == "the recording ends before the response did"
    run = _cli("reassemble", "--normalized", str(path))
    assert run.exit_code == 0 and orjson.loads(run.stdout)["choices"][0]["finish_reason"] is None


def test_elevenlabs_unknown_events_are_kept_and_counted(tmp_path):
    unknown = {"type": "agent_response_metadata", "agent_response_metadata_event": {"event_id": 1, "x": 1}}
    path = _write(tmp_path, [_sent({"type": "user_message", "text": "Hi"}), _answer("Hello."), _got(unknown),
                             _got({"type": "ping", "ping_event": {"event_id": 7, "ping_ms": 20}})])
    [turn] = load(str(path)).exchanges
    assert unknown in turn.response.chunks
    assert provider_json(turn)["events"] == {"agent_response_metadata": 1}
    assert turn.result.choices[0].content == "Hello." and turn.result.complete
    assert all(f.get("type") != "ping" for f in turn.response.chunks)  # keepalive: bookkeeping


def test_elevenlabs_two_tool_calls_then_an_answer(tmp_path):
    def call(n: int) -> dict:
        return _got({"type": "client_tool_call", "client_tool_call": {
            "tool_name": f"tool{n}", "tool_call_id": f"c{n}", "parameters": {"n": n}, "event_id": 1}})

    path = _write(tmp_path, [
        _sent({"type": "user_message", "text": "Go"}), call(1),
        _sent({"type": "client_tool_result", "tool_call_id": "c1", "result": "one", "is_error": False}), call(2),
        _sent({"type": "client_tool_result", "tool_call_id": "c2", "result": "two", "is_error": False}),
        _answer("Done.", rid="r9"),
    ])
    first, second, answer = load(str(path)).exchanges
    assert [c.parsed_arguments for c in first.result.choices[0].tool_calls] == [{"n": 1}]
    assert [c.name for c in second.result.choices[0].tool_calls] == ["tool2"]
    assert answer.result.choices[0].content == "Done." and answer.result.choices[0].stop == "stop"
    assert [m.role for m in answer.normalized_request.messages] == ["user", "assistant", "tool", "assistant", "tool"]


def test_elevenlabs_a_wrong_type_is_unreadable_with_its_place(tmp_path):
    path = _write(tmp_path, [_sent({"type": "user_message", "text": "Hi"}), _answer("ok"),
                             _got({"type": "agent_response", "agent_response_event": {"agent_response": 5,
                                                                                      "event_id": 1}})])
    # The exchange is kept, the chunk left out and named (issue 23): no longer the whole file unreadable.
    run = _cli("check", "--json", str(path))
    assert run.exit_code == 0 and "Traceback" not in run.output
    found = [a for a in orjson.loads(run.stdout)["anomalies"] if a["code"] == "unread-chunk"]
    assert [(a["exchange"], a["chunks"]) for a in found] == [(0, [1])]
    assert "agent_response should be a string" in found[0]["message"]


def _live_delta(text: str, start: int) -> dict:
    return _got({"type": "session.output_transcript.delta", "delta": text, "start_ms": start,
                 "end_ms": start + 200, "event_id": f"e{start}"})


SILENCE = {"type": "session.output_audio.delta", "delta": "AAAA"}


def test_live_turns_split_where_the_user_speaks_again(tmp_path):
    path = _write(tmp_path, [
        _sent({"type": "session.start", "session": {"model": "gpt-live-1", "instructions": "Be brief."}}),
        _got(SILENCE), _live_delta("Hi", 0), _live_delta(" there.", 200), _got(SILENCE),
        _got({"type": "session.input_transcript.delta", "delta": "How are", "event_id": "u1"}),
        _got({"type": "session.input_transcript.delta", "delta": " you?", "event_id": "u2"}),
        _live_delta("Fine.", 900),
        _sent({"type": "session.close"}),
        _got({"type": "session.closed", "reason": "close_requested", "usage": {"seconds": 2.0}, "event_id": "c"}),
    ])
    first, second = load(str(path)).exchanges
    assert first.result.choices[0].content == "Hi there." and second.result.choices[0].content == "Fine."
    assert first.result.observations.audio_bytes == 6  # both silent frames: "AAAA" is 3 bytes
    assert [(m.role, m.content) for m in second.normalized_request.messages] == [
        ("system", "Be brief."), ("user", "[audio] How are you?")]
    assert second.result.choices[0].finish_reason == "close_requested"
    assert first.result.complete and second.result.complete
    assert provider_json(second)["usage"] == {"seconds": 2.0}


def test_live_a_dropped_socket_cuts_the_voice_turn_and_the_delegated_response(tmp_path):
    path = _write(tmp_path, [
        _sent({"type": "session.start", "session": {"model": "gpt-live-1"}}),
        _live_delta("Let me check", 0),
        _got({"type": "response.event", "event_id": "x1", "delegation_id": "d1",
              "event": {"type": "response.created", "response": {"id": "resp_1", "status": "in_progress",
                                                                  "model": "gpt-5.6-sol"}}}),
        {"kind": "close", "code": 1011, "reason": "keepalive ping timeout"},
    ])
    voice, delegated = load(str(path)).exchanges  # in the order they began
    assert not voice.result.complete and "1011" in voice.response.cut_off
    assert not delegated.result.complete and "1011" in delegated.response.cut_off
    assert "no-finish" in [a.code for a in detect(voice)] and "no-finish" in [a.code for a in detect(delegated)]
    assert voice.result.choices[0].content == "Let me check"


@pytest.mark.parametrize("frames", [
    [_got({"type": "session.started", "session": {"model": "gpt-live-1"}}), _got(SILENCE), _got(SILENCE)],
    [_sent({"type": "conversation_initiation_client_data"}),
     _got({"type": "conversation_initiation_metadata", "conversation_initiation_metadata_event": {}}),
     _got({"type": "ping", "ping_event": {"event_id": 1}})],
    [_got({"type": "something.new", "x": 1})],
], ids=["live-silence", "elevenlabs-no-answer", "unknown-protocol"])
def test_a_session_without_a_response_is_one_opaque_exchange(tmp_path, frames):
    path = _write(tmp_path, frames)
    [exchange] = load(str(path)).exchanges
    assert exchange.dialect == "opaque" and exchange.result is None
    assert exchange.response.body == {"interactions": frames}
    scan = _cli("scan", "--jsonl", str(path))
    [row] = _lines(scan.stdout)
    assert scan.exit_code == 0 and row["exchange"] == 0 and row["dialect"] == "opaque"
    shown = _cli("show", "--json", str(path))
    assert shown.exit_code == 0 and len(_lines(shown.stdout)[0]["exchanges"]) == 1
    assert _cli("check", str(path)).exit_code == 0


# --- untrusted input ------------------------------------------------------------------------------

_VALUES = st.recursive(st.none() | st.booleans() | st.integers(-3, 3) | st.text(max_size=4),
                       lambda inner: st.lists(inner, max_size=3) | st.dictionaries(
                           st.sampled_from(["type", "delta", "event_id", "response_id", "text", "event",
                                            "agent_response", "tool_call_id", "parameters", "usage"]),
                           inner, max_size=3), max_leaves=8)


@settings(max_examples=60, deadline=None)
@given(st.data())
def test_any_value_anywhere_in_a_real_session_is_read_or_refused_by_name(data):
    """Recordings are untrusted: a value of any type put anywhere in a real session's frames
    loads, or is unreadable with a message naming its place: never a crash."""
    path = data.draw(st.sampled_from([TOOL_ROUND, DELEGATED, CONTEXT]))
    doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    frames = doc["interactions"]
    for _ in range(data.draw(st.integers(1, 3))):
        target = frames[data.draw(st.integers(0, len(frames) - 1))]
        while True:  # walk down into the frame, then replace one value there
            key = data.draw(st.sampled_from(sorted(target)))
            if isinstance(target[key], dict) and target[key] and data.draw(st.booleans()):
                target = target[key]
                continue
            target[key] = data.draw(_VALUES)
            break
    try:
        recording = load("mutated.json", data=orjson.dumps(doc))
    except UnreadableInput as exc:
        assert exc.where or exc.what
        return
    assert recording.exchanges  # never nothing: at worst the opaque session
    for exchange in recording.exchanges:
        orjson.dumps(provider_json(exchange))
        detect(exchange, recording)


def test_a_long_session_keeps_each_request_to_the_most_recent_items(tmp_path):
    """Reading stays linear: a response's request holds at most HISTORY items (the latest)."""
    import json

    from llmtrace.containers.websocket import HISTORY

    frames = [{"kind": "message", "direction": "received", "data": {"type": "session.created",
                                                                      "session": {"model": "gpt-realtime"}}}]
    n = HISTORY + 40
    for i in range(n):
        frames += [
            {"kind": "message", "direction": "sent", "data": {"type": "conversation.item.create", "item": {
                "type": "message", "role": "user", "content": [{"type": "input_text", "text": f"q{i}"}]}}},
            {"kind": "message", "direction": "received", "data": {"type": "response.created",
                                                                  "response": {"id": f"r{i}", "output": []}}},
            {"kind": "message", "direction": "received", "data": {"type": "response.done", "response": {
                "id": f"r{i}", "status": "completed", "output": [{"id": f"m{i}", "type": "message", "role": "assistant",
                                                                  "content": [{"type": "output_text", "text": f"a{i}"}]}]}}},
        ]
    path = tmp_path / "long.json"
    path.write_text(json.dumps({"interactions": frames}))
    exchanges = load(str(path)).exchanges
    assert len(exchanges) == n
    first, last = exchanges[0].request.body["input"], exchanges[-1].request.body["input"]
    assert len(first) == 1 and len(last) == HISTORY
    assert last[-1]["content"][0]["text"] == f"q{n - 1}" and last[0]["content"][0]["text"] == f"q{n - HISTORY}"
