"""Ollama native NDJSON (/api/generate, /api/chat): fold, detection, timestamps, bad shapes."""

from __future__ import annotations

import copy
import re
from datetime import datetime, timedelta, timezone
from pathlib import Path

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from conftest import corpus, left_out
from llmtrace import dialects
from llmtrace.cli import app
from llmtrace.containers.llama_stack import unwrap
from llmtrace.dialects import FoldContext, ollama
from llmtrace.errors import UnreadableInput
from llmtrace.loader import load

STREAMS = corpus("ollama-generate-stream") + corpus("ollama-chat-stream")
BODIES = corpus("ollama-generate") + corpus("ollama-chat")
EPOCH = "1970-01-01T00:00:00"


def _doc(path: Path) -> dict:
    return orjson.loads(path.read_bytes())


def _lines(path: Path) -> list[dict]:
    return [unwrap(item) for item in _doc(path)["response"]["body"]]


def _is_chat(line: dict) -> bool:
    return "message" in line


def _text(line: dict) -> str | None:
    return line["message"].get("content") if _is_chat(line) else line.get("response")


def _thinking(line: dict) -> str | None:
    return line["message"].get("thinking") if _is_chat(line) else line.get("thinking")


def _joined(values: list[str | None]) -> str | None:
    present = [v for v in values if v is not None]
    return "".join(present) if present else None


def _write(tmp_path: Path, path: Path, body) -> Path:
    """A copy of the recording at ``path`` with ``response.body`` replaced."""
    doc = _doc(path)
    doc["response"]["body"] = body
    out = tmp_path / path.name
    out.write_bytes(orjson.dumps(doc))
    return out


def _result(path: Path):
    (exchange,) = load(str(path)).exchanges
    return exchange, exchange.result


def _fold_chat(lines: list[dict]):
    return ollama.fold(lines, FoldContext(dialect="ollama-chat"))


# --- the corpus ------------------------------------------------------------------------------


def test_corpus_is_present():
    assert len(STREAMS) >= 4 and len(BODIES) >= 4


@pytest.mark.parametrize("path", STREAMS, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_stream_reassembles_to_the_done_line_with_text_concatenated(path):
    lines = _lines(path)
    exchange, result = _result(path)
    done = lines[-1]
    assert done["done"] is True
    assert exchange.dialect == ("ollama-chat" if _is_chat(done) else "ollama-generate")

    text = _joined([_text(line) for line in lines])
    thinking = _joined([_thinking(line) for line in lines])
    (message,) = result.choices
    assert message.content == text and text
    assert message.reasoning == thinking
    assert message.finish_reason == done["done_reason"]
    assert message.stop == {"stop": "stop", "length": "length"}.get(done["done_reason"])
    assert message.tool_calls == []
    assert result.complete
    assert result.model == done["model"]

    # The provider shape: the done line, only the text fields replaced by the concatenation.
    response = result.response
    if _is_chat(done):
        assert response["message"]["content"] == text
        assert response["message"]["role"] == "assistant"
        assert {k: v for k, v in response.items() if k != "message"} == \
               {k: v for k, v in done.items() if k != "message"}
    else:
        assert response == {**done, "response": text}

    assert result.usage.input_tokens == done["prompt_eval_count"]
    assert result.usage.output_tokens == done["eval_count"]
    assert result.usage.total_tokens is None

    timeline = result.timeline
    assert timeline.chunks == len(lines)
    assert "".join(d.text for d in timeline.deltas if d.kind == "content") == text
    assert all(d.choice == 0 and d.token_id is None for d in timeline.deltas)
    assert timeline.durations == {k: v / 1e9 for k, v in done.items() if k.endswith("_duration") and v}
    real = [line["created_at"] for line in lines if not line["created_at"].startswith(EPOCH)]
    if len(real) >= 2:
        assert timeline.timing == "created_at"
        assert len(timeline.times) == len(lines)
        assert timeline.times == sorted(timeline.times)
    else:
        assert timeline.times is None
        assert timeline.timing == ("durations" if timeline.durations else "none")
    assert result.observations.finish_chunks == {0: len(lines) - 1}


def test_epoch_times_and_zero_durations_are_unknown():
    (path,) = [p for p in corpus("ollama-chat-stream") if all(
        line["created_at"].startswith(EPOCH) for line in _lines(p))]
    _, result = _result(path)
    assert result.timeline.timing == "none"
    assert result.timeline.times is None
    assert result.timeline.durations == {}
    assert result.usage.input_tokens == 18 and result.usage.output_tokens == 103


def test_nanosecond_created_at_gives_real_gaps():
    path = next(p for p in corpus("ollama-generate-stream") if len(_lines(p)[0]["created_at"]) > 28)
    _, result = _result(path)
    times = result.timeline.times
    first = datetime.fromisoformat(_lines(path)[0]["created_at"][:26] + "+00:00").timestamp()
    assert times[0] == pytest.approx(first, abs=1e-5)
    assert all(b >= a for a, b in zip(times, times[1:]))


@pytest.mark.parametrize("path", BODIES, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_body_is_kept_as_is_and_read_like_a_done_line(path):
    body = unwrap(_doc(path)["response"]["body"])
    exchange, result = _result(path)
    assert exchange.dialect == ("ollama-chat" if _is_chat(body) else "ollama-generate")
    assert result.response == body
    (message,) = result.choices
    assert message.content == _text(body)
    assert message.finish_reason == body["done_reason"]
    assert result.complete
    assert result.usage.output_tokens == body["eval_count"]
    assert result.timeline.chunks == 0
    if body["total_duration"]:
        assert result.timeline.timing == "durations"
        assert result.timeline.durations["eval_duration"] == body["eval_duration"] / 1e9
    else:
        assert result.timeline.timing == "none" and result.timeline.durations == {}


@pytest.mark.parametrize("path", STREAMS, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_without_the_done_line_the_stream_is_incomplete_but_keeps_its_text(path, tmp_path):
    body = _doc(path)["response"]["body"][:-1]
    lines = [unwrap(item) for item in body]
    _, result = _result(_write(tmp_path, path, body))
    (message,) = result.choices
    assert not result.complete
    assert message.finish_reason is None and message.stop is None
    assert message.content == _joined([_text(line) for line in lines])
    assert result.usage.input_tokens is None and result.usage.output_tokens is None
    assert result.observations.finish_chunks == {}


# --- thinking, tool calls, HAR times (shapes the corpus lacks) -----------------------------------

def _chat_line(content=None, thinking=None, tool_calls=None, done=False, **extra):
    line = {"model": "qwen3:4b", "created_at": "2025-08-01T10:00:00.123456789Z", "done": done,
            "message": {"role": "assistant", "content": content, "thinking": thinking, "tool_calls": tool_calls}}
    line.update(extra)
    return line


def test_thinking_and_whole_tool_calls_are_collected():
    weather = {"function": {"name": "get_weather", "arguments": {"city": "Tokyo", "unit": "c"}}}
    time_call = {"function": {"name": "get_time", "arguments": {}}}
    lines = [
        _chat_line(content="", thinking="Let me "),
        _chat_line(content="", thinking="think."),
        _chat_line(content="", tool_calls=[weather]),
        _chat_line(content="", tool_calls=[time_call]),
        _chat_line(content="", done=True, done_reason="stop", prompt_eval_count=9, eval_count=30),
    ]
    result = _fold_chat(lines)
    (message,) = result.choices
    assert message.reasoning == "Let me think."
    assert message.content == ""
    assert [(c.id, c.name, c.arguments, c.parsed_arguments) for c in message.tool_calls] == [
        (None, "get_weather", '{"city":"Tokyo","unit":"c"}', {"city": "Tokyo", "unit": "c"}),
        (None, "get_time", "{}", {}),
    ]
    # Never invented: the done line says "stop", so that is what the message says.
    assert message.finish_reason == "stop" and message.stop == "stop"
    assert result.response["message"]["tool_calls"] == [weather, time_call]
    assert result.response["message"]["thinking"] == "Let me think."
    assert [d.kind for d in result.timeline.deltas] == ["reasoning", "reasoning", "tool", "tool"]
    assert [(e.chunk, e.name) for e in result.observations.tool_events] == [(2, "get_weather"), (3, "get_time")]


@pytest.mark.parametrize("reason, stop", [("stop", "stop"), ("length", "length"), ("tool_calls", "tool_calls"),
                                          ("load", None), (None, None)])
def test_done_reason_is_the_finish_reason_as_sent(reason, stop):
    lines = [_chat_line(tool_calls=[{"function": {"name": "f", "arguments": {}}}]),
             _chat_line(content="", done=True, done_reason=reason)]
    (message,) = _fold_chat(lines).choices
    assert (message.finish_reason, message.stop) == (reason, stop)


def test_generate_thinking_is_concatenated():
    lines = [{"model": "m", "created_at": "2025-08-01T10:00:00Z", "done": False, "response": "", "thinking": "a"},
             {"model": "m", "created_at": "2025-08-01T10:00:01Z", "done": False, "response": "x", "thinking": "b"},
             {"model": "m", "created_at": "2025-08-01T10:00:02Z", "done": True, "done_reason": "length",
              "response": "", "eval_duration": 0, "total_duration": 2_500_000_000}]
    result = ollama.fold(lines, FoldContext(dialect="ollama-generate"))
    assert result.response == {**lines[-1], "response": "x", "thinking": "ab"}
    assert result.choices[0].stop == "length"
    assert result.timeline.durations == {"total_duration": 2.5}
    assert result.timeline.times == [1754042400.0, 1754042401.0, 1754042402.0]


def test_recorded_arrival_times_are_used_when_created_at_is_unknown():
    lines = [_chat_line(content="a", created_at=EPOCH + "Z"), _chat_line(content="", done=True, created_at=EPOCH + "Z")]
    result = ollama.fold(lines, FoldContext(dialect="ollama-chat", chunk_times=[5.0, 6.5]))
    assert result.timeline.timing == "har" and result.timeline.times == [5.0, 6.5]


def test_error_line_in_stream_is_observed():
    lines = [_chat_line(content="a"), {"error": "model runner crashed"}]
    result = _fold_chat(lines)
    assert result.observations.stream_errors == [(1, "model runner crashed")]
    assert not result.complete and result.choices[0].content == "a"


# --- timestamps ------------------------------------------------------------------------------


@pytest.mark.parametrize("text, expected", [
    ("2025-08-15T20:24:51.063200561Z", 1755289491.063200561),
    ("2025-08-15T20:24:51Z", 1755289491.0),
    ("2025-08-15T22:24:51.5+02:00", 1755289491.5),
    ("2025-08-15T15:24:51.5-0500", 1755289491.5),
    ("2025-08-15T20:24:51.1234567891234Z", 1755289491.123456789),
])
def test_timestamps_are_parsed(text, expected):
    assert ollama.parse_timestamp(text) == pytest.approx(expected, abs=1e-6)


@pytest.mark.parametrize("text", [
    "1970-01-01T00:00:00Z", "1970-01-01T00:00:00.000000Z", "0001-01-01T00:00:00Z", "not a time",
    "2025-13-01T00:00:00Z", "2025-08-15T20:24:51.Z", "2025-08-15T20:24:51+2", "2025-08-15T20:24:51 UTC",
    "２０２５-08-15T20:24:51Z", None, 17,
])
def test_unknown_or_malformed_timestamps_are_none(text):
    assert ollama.parse_timestamp(text) is None


@given(st.datetimes(min_value=datetime(1970, 1, 2), max_value=datetime(9999, 12, 30)),
       st.integers(min_value=-23 * 60, max_value=23 * 60))
def test_timestamps_agree_with_datetime(moment, offset_minutes):
    zone = timezone(timedelta(minutes=offset_minutes))
    aware = moment.replace(tzinfo=zone)
    assert ollama.parse_timestamp(aware.isoformat()) == pytest.approx(aware.timestamp(), abs=1e-6)


_REFERENCE = re.compile(r"(\d{4}-\d\d-\d\d[Tt ]\d\d:\d\d):(\d\d)(?:\.(\d+))?([Zz]|[+-]\d\d(?::?\d\d)?)?", re.ASCII)


def _reference_timestamp(text):
    """``parse_timestamp`` written plainly (all the fraction's digits matched, the first 9 used)."""
    match = _REFERENCE.fullmatch(text)
    if match is None:
        return None
    minute, second, fraction, zone = match.groups()
    year, month, day, hour, mins = (int(minute[a:b]) for a, b in ((0, 4), (5, 7), (8, 10), (11, 13), (14, 16)))
    if not (1 <= month <= 12 and 1 <= day <= 31 and hour <= 23 and mins <= 59) or int(second) > 60:
        return None
    seconds = ollama._days_from_civil(year, month, day) * 86400 + hour * 3600 + mins * 60 + int(second)
    if zone and zone not in ("Z", "z"):
        hours, minutes = int(zone[1:3]), int(zone[-2:]) if len(zone) > 3 else 0
        if hours > 23 or minutes > 59:
            return None
        seconds += (hours * 3600 + minutes * 60) * (1 if zone[0] == "-" else -1)
    if seconds <= 0:
        return None
    if fraction:
        fraction = fraction[:9]
        return seconds + int(fraction) / 10 ** len(fraction)
    return float(seconds)


_NEAR_TIMESTAMPS = st.one_of(
    st.from_regex(r"[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt ][0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]{0,14})?([Zz]|[+-][0-9]{2}(:?[0-9]{2})?)?",
                  fullmatch=True),
    st.from_regex(r"(19[67][0-9]|20[0-9]{2})-(0[1-9]|1[0-2])-[0-3][0-9]T[0-2][0-9]:[0-5][0-9]:[0-6][0-9]\.[0-9]{1,14}Z?",
                  fullmatch=True),
    # Near the epoch every digit of the fraction shows in the float.
    st.from_regex(r"1970-01-01T00:0[0-9]:[0-6][0-9]\.[0-9]{1,14}([Zz]|-00:0[0-9])?", fullmatch=True),
    st.text(max_size=40))


@settings(max_examples=500)
@given(_NEAR_TIMESTAMPS)
def test_timestamps_parsed_exactly_as_written_plainly(text):
    assert ollama.parse_timestamp(text) == _reference_timestamp(text)


# --- detection -----------------------------------------------------------------------------


def test_sniff_tells_generate_from_chat_and_ignores_other_shapes():
    assert ollama.sniff({"model": "m", "created_at": "t", "done": False, "response": "x"}) == "ollama-generate"
    assert ollama.sniff(_chat_line(content="x")) == "ollama-chat"
    assert ollama.sniff({"model": "m", "created_at": "t", "done": True, "done_reason": "stop",
                         "message": {"role": "assistant", "content": ""}, "eval_count": 3}) == "ollama-chat"
    assert ollama.sniff({"id": "c", "object": "chat.completion.chunk", "model": "m",
                         "choices": [{"index": 0, "delta": {"content": "x"}}]}) is None
    assert ollama.sniff({"type": "message_start", "message": {"role": "assistant"}}) is None
    assert ollama.sniff({"done": "yes", "model": "m", "response": "x"}) is None
    assert dialects.sniff({"model": "m", "created_at": "t", "done": False, "response": "x"}) == "ollama-generate"


def test_detection_is_by_shape_not_url(tmp_path):
    path = corpus("ollama-chat-stream")[0]
    doc = _doc(path)
    doc["request"]["url"] = "http://localhost:11434/v1/chat/completions"
    out = tmp_path / "moved.json"
    out.write_bytes(orjson.dumps(doc))
    (exchange,) = load(str(out)).exchanges
    assert exchange.dialect == "ollama-chat"


# --- wrong types -----------------------------------------------------------------------------

@pytest.mark.parametrize("kind, mutate, what, where", [
    ("ollama-generate-stream", lambda lines: lines[3].update(response=5), "response should be a string", "chunk 3"),
    ("ollama-generate-stream", lambda lines: lines[1].update(done="no"), "done should be a boolean", "chunk 1"),
    ("ollama-generate-stream", lambda lines: lines[-1].update(eval_count="100"), "eval_count should be an integer",
     "chunk {last}"),
    ("ollama-generate-stream", lambda lines: lines[-1].update(eval_duration=[1]), "eval_duration should be a number",
     "chunk {last}"),
    ("ollama-chat-stream", lambda lines: lines[2].update(message="The"), "message should be an object", "chunk 2"),
    ("ollama-chat-stream", lambda lines: lines[4]["message"].update(tool_calls={"function": {}}),
     "message.tool_calls should be an array", "chunk 4"),
    ("ollama-chat-stream", lambda lines: lines[0].update(created_at=1), "created_at should be a string", "chunk 0"),
])
def test_wrong_types_make_the_file_unreadable(kind, mutate, what, where, tmp_path):
    path = corpus(kind)[0]
    body = copy.deepcopy(_doc(path)["response"]["body"])
    mutate([unwrap(item) for item in body])
    out = _write(tmp_path, path, body)
    if "{last}" in where:  # read when the result is built, not while a chunk is folded: still unreadable
        with pytest.raises(UnreadableInput) as info:
            load(str(out))
        assert (info.value.what, info.value.where) == (what, where.format(last=len(body) - 1))
        return
    # The exchange is kept and the chunk left out, named by an unread-chunk finding (issue 23).
    chunk = int(where.format(last=len(body) - 1).split()[1])
    assert left_out(out) == [(chunk, what)]
    run = CliRunner().invoke(app, ["check", "--json", str(out)])
    assert run.exit_code == 0
    assert [a["chunks"] for a in orjson.loads(run.stdout)["anomalies"] if a["code"] == "unread-chunk"] == [[chunk]]


def test_wrong_type_in_a_body_says_response_body(tmp_path):
    path = corpus("ollama-generate")[0]
    body = unwrap(_doc(path)["response"]["body"])
    body["thinking"] = {"text": "x"}
    with pytest.raises(UnreadableInput) as info:
        load(str(_write(tmp_path, path, body)))
    assert (info.value.what, info.value.where) == ("thinking should be a string", "response body")


# --- the command line ------------------------------------------------------------------------

@pytest.mark.parametrize("kind, text_of", [
    ("ollama-generate-stream", lambda r: r["response"]),
    ("ollama-chat-stream", lambda r: r["message"]["content"]),
])
def test_reassemble_command_prints_one_final_response(kind, text_of):
    path = corpus(kind)[-1]
    lines = _lines(path)
    run = CliRunner().invoke(app, ["reassemble", str(path)])
    assert run.exit_code == 0, run.stderr
    assert run.stderr == ""
    out = orjson.loads(run.stdout)
    assert out["done"] is True and out["done_reason"] == lines[-1]["done_reason"]
    assert out["eval_count"] == lines[-1]["eval_count"]
    assert text_of(out) == _joined([_text(line) for line in lines])

    run = CliRunner().invoke(app, ["reassemble", "--normalized", str(path)])
    out = orjson.loads(run.stdout)
    assert out["dialect"] == kind.removesuffix("-stream")
    assert out["choices"][0]["content"] == _joined([_text(line) for line in lines])
    assert out["usage"]["total_tokens"] is None


def test_reassemble_command_warns_on_a_stream_without_done_line(tmp_path):
    path = corpus("ollama-generate-stream")[0]
    out = _write(tmp_path, path, _doc(path)["response"]["body"][:-1])
    run = CliRunner().invoke(app, ["reassemble", str(out)])
    assert run.exit_code == 0
    assert orjson.loads(run.stdout)["done"] is False
    assert "ends without a finish" in run.stderr


# --- re-chunking never changes the message ------------------------------------------------------

TEMPLATE = _lines(STREAMS[-1])  # a chat stream with real created_at times


def _rechunk(text: str, cuts: list[int]) -> list[str]:
    points = sorted({0, len(text), *(c % (len(text) + 1) for c in cuts)})
    pieces = [text[a:b] for a, b in zip(points, points[1:])]
    return pieces or [""]


@settings(max_examples=60)
@given(cuts=st.lists(st.integers(min_value=0, max_value=10_000), max_size=40),
       thinking_cuts=st.lists(st.integers(min_value=0, max_value=10_000), max_size=10),
       empties=st.lists(st.integers(min_value=0, max_value=50), max_size=5))
def test_rechunking_the_text_never_changes_the_reassembled_message(cuts, thinking_cuts, empties):
    lines = TEMPLATE
    text = _joined([_text(line) for line in lines])
    thinking = "Considering the puppy."
    done = lines[-1]
    template = lines[0]

    def chat_line(content, think):
        line = copy.deepcopy(template)
        line["message"]["content"], line["message"]["thinking"] = content, think
        return line

    body = [chat_line("", piece) for piece in _rechunk(thinking, thinking_cuts)]
    body += [chat_line(piece, None) for piece in _rechunk(text, cuts)]
    for position in empties:  # merged-away fragments: lines carrying nothing
        body.insert(position % len(body), chat_line("", None))
    body.append(done)

    reference = _fold_chat([chat_line("", thinking), chat_line(text, None), done])
    result = _fold_chat(body)
    assert result.choices == reference.choices
    assert result.response == reference.response
    assert result.usage == reference.usage
    assert result.choices[0].content == text and result.choices[0].reasoning == thinking
