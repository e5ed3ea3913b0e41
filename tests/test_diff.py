"""`llmtrace diff` on real recordings: equal pairs, re-chunked and re-recorded streams, and
recordings mutated in one field each."""

from __future__ import annotations

import copy
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import orjson
import pytest
import yaml

from conftest import CORPUS, DATA, SEED, corpus
from llmtrace.commands import diff
from llmtrace.commands.reassemble import provider_json
from llmtrace.loader import load
from llmtrace.model import Recording

STREAMS = CORPUS / "llama-stack"
TOOLS = STREAMS / "openai-chat-stream" / "4e2bb6f3988d.json"  # two tool calls, usage, temperature
HELLO = STREAMS / "openai-chat-on-completions-stream" / "15679e1f4f19.json"  # plain text answer
OLLAMA = sorted((STREAMS / "ollama-chat-stream").glob("*.json"))


def read(path: Path) -> dict:
    return json.loads(path.read_text())


def chunks(recording: dict) -> list[dict]:
    return [item["__data__"] for item in recording["response"]["body"]]


def write(tmp_path: Path, recording: dict, name: str = "b.json") -> Path:
    path = tmp_path / name
    path.write_bytes(orjson.dumps(recording))
    return path


def run_json(capsys, a, b, **options) -> tuple[int, list[dict]]:
    code = diff.run(str(a), str(b), as_json=True, **options)
    out, err = capsys.readouterr()
    assert err == ""
    return code, json.loads(out)


def run_human(capsys, a, b, **options) -> tuple[int, str]:
    code = diff.run(str(a), str(b), **options)
    out, err = capsys.readouterr()
    assert err == ""
    return code, out


# --- equal -------------------------------------------------------------------------------------

SAMPLES = [SEED, TOOLS, HELLO, OLLAMA[0], *corpus("gemini-stream")[:1], *corpus("openai-chat")[:1],
           *corpus("ollama-generate")[:1], *corpus("exception")[:1], *corpus("embeddings")[:1]]


@pytest.mark.parametrize("path", SAMPLES, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_a_recording_equals_itself(capsys, path):
    assert run_json(capsys, path, path) == (0, [])
    assert run_json(capsys, path, path, strict=True) == (0, [])


def rechunk(recording: dict) -> dict:
    """The same stream cut into more chunks: every text and argument fragment split in two."""
    out = copy.deepcopy(recording)
    items = []
    for item in out["response"]["body"]:
        data = item["__data__"]
        choice = data["choices"][0] if len(data["choices"]) == 1 else None
        delta = choice["delta"] if choice else {}
        calls = delta.get("tool_calls") or []
        content = delta.get("content") or ""
        arguments = calls[0]["function"]["arguments"] or "" if len(calls) == 1 else ""
        if len(content) < 2 and len(arguments) < 2:
            items.append(item)
            continue
        first = copy.deepcopy(item)
        head = first["__data__"]
        head["usage"] = None
        head["choices"][0]["finish_reason"] = None
        rest = head["choices"][0]["delta"]
        if len(content) >= 2:
            rest["content"] = content[:len(content) // 2]
            delta["content"] = content[len(content) // 2:]
        if len(arguments) >= 2:
            rest["tool_calls"][0]["function"]["arguments"] = arguments[:len(arguments) // 2]
            calls[0]["function"]["arguments"] = arguments[len(arguments) // 2:]
            calls[0]["id"] = calls[0]["function"]["name"] = calls[0]["type"] = None
        items += [first, item]
    out["response"]["body"] = items
    return out


@pytest.mark.parametrize("path", [SEED, TOOLS, HELLO], ids=lambda p: p.name)
def test_the_same_stream_chunked_differently_is_equal(capsys, tmp_path, path):
    original = read(path)
    other = write(tmp_path, rechunk(original))
    assert len(chunks(read(other))) > len(chunks(original))
    assert run_json(capsys, path, other) == (0, [])
    code, human = run_human(capsys, path, other)
    assert code == 0
    assert "response.chunks" in human and human.rstrip().endswith(
        "0 differences: request 0, choices 0, usage 0, anomalies 0")
    # Chunk counts count only with --strict.
    code, found = run_json(capsys, path, other, strict=True)
    assert code == 1 and [d["path"] for d in found] == ["response.chunks"]


def test_the_same_answer_unstreamed_is_equal(capsys, tmp_path):
    recording = read(TOOLS)
    body = provider_json(load(str(TOOLS)).exchanges[0])
    recording["response"] = {"body": {"__type__": "openai.types.chat.ChatCompletion", "__data__": body},
                             "is_streaming": False}
    assert run_json(capsys, TOOLS, write(tmp_path, recording)) == (0, [])


def test_the_same_answer_in_another_dialect_differs_only_by_endpoint(capsys, tmp_path):
    """An OpenAI-compatible stream and an Ollama-native one of the same request and answer."""
    recording = read(HELLO)
    model = recording["request"]["body"]["model"]
    lines = [{"model": model, "created_at": "1970-01-01T00:00:00Z", "done": False,
              "message": {"role": "assistant", "content": c["choices"][0]["delta"]["content"]}}
             for c in chunks(recording) if c["choices"][0]["delta"]["content"]]
    lines.append({"model": model, "created_at": "1970-01-01T00:00:00Z", "done": True, "done_reason": "stop",
                  "message": {"role": "assistant", "content": ""}})
    native = {"request": {**recording["request"], "url": "http://0.0.0.0:11434/api/chat", "endpoint": "/api/chat"},
              "response": {"body": [{"__type__": "ollama._types.ChatResponse", "__data__": line} for line in lines],
                           "is_streaming": True}}
    other = write(tmp_path, native)
    assert load(str(other)).exchanges[0].dialect == "ollama-chat"
    assert run_json(capsys, HELLO, other) == (1, [
        {"path": "request.endpoint", "change": "changed", "a": "/v1/completions", "b": "/api/chat"}])
    assert run_json(capsys, HELLO, other, ignore=["request.endpoint"]) == (0, [])


# --- re-recorded -------------------------------------------------------------------------------


def test_another_recording_of_the_same_request_with_another_answer(capsys):
    a, b = (STREAMS / "openai-chat-on-completions-stream" / name for name in ("9c560c166df6.json", "e381541bbeb4.json"))
    code, found = run_json(capsys, a, b)
    assert code == 1
    assert [(d["path"], d["change"]) for d in found] == [("choices[0].content", "changed")]
    assert found[0]["a"].startswith("I'm not able to provide real-time weather information.")
    assert found[0]["b"].startswith("I'd be happy to help you with the current weather in Tokyo!")
    code, human = run_human(capsys, a, b)
    assert code == 1
    assert "I'[-m not able to provide real-time weather information. However,-]{+d be happy to help you" in human
    assert human.rstrip().splitlines()[-1] == "1 difference: request 0, choices 1 (content), usage 0, anomalies 0"


def test_another_recording_of_the_same_answer_differs_only_in_volatile_fields(capsys):
    a, b = (STREAMS / "openai-chat-stream" / name for name in ("763388a6df3a.json", "9932ed051f6a.json"))
    assert run_json(capsys, a, b) == (0, [])
    code, found = run_json(capsys, a, b, strict=True)
    assert code == 1 and [d["path"] for d in found] == ["response.id", "response.created"]


def test_another_recording_with_real_timestamps_differs_in_timing_only(capsys):
    a, b = OLLAMA  # the same answer; one recording has epoch timestamps, the other real ones
    assert run_json(capsys, a, b) == (0, [])
    code, human = run_human(capsys, a, b)
    assert code == 0 and "response.tokens_per_second" in human
    code, found = run_json(capsys, a, b, strict=True)
    assert code == 1
    paths = [d["path"] for d in found]
    assert "response.timing" in paths and "response.created_at" in paths
    assert all(p.startswith("response.") for p in paths)


# --- one field changed -------------------------------------------------------------------------


def set_model(r):
    r["request"]["body"]["model"] = "gpt-4o-2024-08-06"


def set_message(r):
    r["request"]["body"]["messages"][0]["content"] = "Show me marketing and finance documents"


def set_temperature(r):
    r["request"]["body"]["temperature"] = 0.2


NEW_TOOL = {"name": "get_time", "description": "The time.", "parameters": {"type": "object", "properties": {}}}


def add_tool(r):
    r["request"]["body"]["tools"].append({"type": "function", "function": NEW_TOOL})


def set_argument(r):
    for c in chunks(r):
        for call in (c["choices"][0]["delta"].get("tool_calls") or []) if c["choices"] else []:
            if call["function"]["arguments"] == ' "sale':
                call["function"]["arguments"] = ' "purchase'


def set_finish(r):
    chunks(r)[-2]["choices"][0]["finish_reason"] = "stop"


def set_usage(r):
    usage = chunks(r)[-1]["usage"]
    usage["completion_tokens"] *= 2
    usage["total_tokens"] = usage["prompt_tokens"] + usage["completion_tokens"]


def set_word(r):
    for c in chunks(r):
        if c["choices"][0]["delta"]["content"] == " nice":
            c["choices"][0]["delta"]["content"] = " good"


MUTATIONS = [
    (TOOLS, set_model, [("request.model", "changed", "gpt-4o", "gpt-4o-2024-08-06")]),
    (TOOLS, set_message, [("request.messages[0].content", "changed", "Show me marketing and sales documents",
                           "Show me marketing and finance documents")]),
    (TOOLS, set_temperature, [("request.params.temperature", "changed", 1.0, 0.2)]),
    (TOOLS, add_tool, [("request.tools", "added", None, NEW_TOOL)]),
    (TOOLS, set_argument, [("choices[0].tool_calls[1].parsed_arguments.query", "changed", "sales documents",
                            "purchases documents")]),
    (TOOLS, set_finish, [("choices[0].finish_reason", "changed", "tool_calls", "stop")]),
    (TOOLS, set_usage, [("usage.output_tokens", "changed", 48, 96), ("usage.total_tokens", "changed", 114, 162)]),
    (HELLO, set_word, [("choices[0].content", "changed", "Hello! It's nice to meet you. Is there something I can "
                        "help you with or would you like to chat?", "Hello! It's good to meet you. Is there "
                        "something I can help you with or would you like to chat?")]),
]


@pytest.mark.parametrize("path, mutate, expected", MUTATIONS, ids=[m[1].__name__ for m in MUTATIONS])
def test_one_field_changed_gives_exactly_that_difference(capsys, tmp_path, path, mutate, expected):
    recording = read(path)
    mutate(recording)
    other = write(tmp_path, recording)
    code, found = run_json(capsys, path, other)
    assert code == 1
    assert [(d["path"], d["change"], d["a"], d["b"]) for d in found] == expected
    assert all(set(d) == {"path", "change", "a", "b"} for d in found)
    # Backwards: the same paths, added and removed swapped.
    code, back = run_json(capsys, other, path)
    swap = {"added": "removed", "removed": "added", "changed": "changed"}
    assert [(d["path"], d["change"], d["a"], d["b"]) for d in back] == [(p, swap[c], b, a) for p, c, a, b in expected]
    # --ignore drops it.
    assert run_json(capsys, path, other, ignore=[expected[0][0].split(".")[0]]) == (0, [])


def test_a_new_anomaly(capsys, tmp_path):
    recording = read(HELLO)
    chunks(recording)[-1]["choices"][0]["finish_reason"] = "length"
    code, found = run_json(capsys, HELLO, write(tmp_path, recording))
    assert code == 1
    assert [(d["path"], d["change"], d["a"]) for d in found] == [
        ("choices[0].finish_reason", "changed", "stop"), ("anomalies", "added", None)]
    assert found[1]["b"]["code"] == "truncated" and found[1]["b"]["severity"] == "warning"
    code, line = diff.run(str(HELLO), str(write(tmp_path, recording)), stat=True), capsys.readouterr().out
    assert line == "2 differences: request 0, choices 1 (finish_reason), usage 0, anomalies 1\n"


def test_ignore_takes_any_index_and_prefixes(capsys, tmp_path):
    recording = read(TOOLS)
    set_argument(recording)
    set_temperature(recording)
    other = write(tmp_path, recording)
    code, found = run_json(capsys, TOOLS, other, ignore=["choices[*].tool_calls[*].parsed_arguments"])
    assert [d["path"] for d in found] == ["request.params.temperature"]
    assert run_json(capsys, TOOLS, other, ignore=["choices", "request.params"]) == (0, [])


def test_stat_line(capsys, tmp_path):
    recording = read(TOOLS)
    for mutate in (set_model, set_argument, set_finish):
        mutate(recording)
    assert diff.run(str(TOOLS), str(write(tmp_path, recording)), stat=True) == 1
    assert capsys.readouterr().out == \
        "3 differences: request 1 (model), choices 2 (tool_calls, finish_reason), usage 0, anomalies 0\n"
    assert diff.run(str(TOOLS), str(TOOLS), stat=True) == 0
    assert capsys.readouterr().out == "0 differences: request 0, choices 0, usage 0, anomalies 0\n"


# --- human output ------------------------------------------------------------------------------


def test_human_output_groups_by_section_and_marks_words_without_colour(capsys, tmp_path, monkeypatch):
    monkeypatch.delenv("FORCE_COLOR", raising=False)
    recording = read(TOOLS)
    for mutate in (set_message, add_tool, set_argument, set_usage):
        mutate(recording)
    code, out = run_human(capsys, TOOLS, write(tmp_path, recording))
    assert code == 1
    lines = out.splitlines()
    assert lines[0] == f"--- {TOOLS}  (llama-stack, openai-chat; 18 chunks)"
    assert [line for line in lines if line and not line.startswith(" ")][2:] == [
        "request", "choices", "usage", "5 differences: request 2 (messages, tools), choices 1 (tool_calls), "
        "usage 2 (output_tokens, total_tokens), anomalies 0"]
    assert "      Show me marketing and [-sales-]{+finance+} documents" in lines
    assert "  + request.tools  get_time" in lines
    assert '  ~ choices[0].tool_calls[1].parsed_arguments.query  "sales documents" → "purchases documents"' in lines
    assert "  ~ usage.output_tokens  48 → 96  (+48, +100.0%)" in lines
    assert "\x1b" not in out


def test_colour_replaces_the_markers(capsys, tmp_path, monkeypatch):
    monkeypatch.setenv("FORCE_COLOR", "1")
    monkeypatch.delenv("NO_COLOR", raising=False)
    recording = read(TOOLS)
    set_message(recording)
    other = write(tmp_path, recording)
    code, out = run_human(capsys, TOOLS, other)
    assert "\x1b[" in out and "{+" not in out and "finance" in out
    monkeypatch.setenv("NO_COLOR", "1")  # styles without colour: the markers are back
    code, out = run_human(capsys, TOOLS, other)
    assert "[-sales-]{+finance+}" in re.sub(r"\x1b\[[0-9;]*m", "", out)


def test_recorded_text_is_shown_literally(capsys, tmp_path, monkeypatch):
    monkeypatch.delenv("FORCE_COLOR", raising=False)
    recording = read(HELLO)
    chunks(recording)[4]["choices"][0]["delta"]["content"] = " [bold red]nice\x1b[2J[/]"
    recording["request"]["body"]["messages"][0]["content"] = "Hello, [link=http://x]world[/link]!\x07"
    code, out = run_human(capsys, HELLO, write(tmp_path, recording))
    assert code == 1
    assert "[bold red]" in out and "[link=http://x]" in out
    assert "\\x1b[2J" in out and "\\x07" in out
    assert "\x1b" not in out and "\x07" not in out


# --- several exchanges -------------------------------------------------------------------------


def several(*paths: Path) -> Recording:
    exchanges = [load(str(p)).exchanges[0].model_copy(update={"index": i}) for i, p in enumerate(paths)]
    return Recording(source="cassette.yaml", container="vcr", exchanges=exchanges)


def test_exchanges_pair_by_position_or_by_request(capsys, tmp_path):
    recording = read(HELLO)
    set_word(recording)
    changed = write(tmp_path, recording)
    a = several(TOOLS, HELLO)
    b = several(changed, TOOLS, SEED)
    assert diff.report(a, b, as_json=True) == 1
    by_position = json.loads(capsys.readouterr().out)
    assert {d["path"].split(".")[0] for d in by_position} == {"exchanges[0]", "exchanges[1]", "exchanges[2]"}
    assert by_position[-1]["path"] == "exchanges[2]" and by_position[-1]["change"] == "added"

    assert diff.report(a, b, as_json=True, by_request=True) == 1
    found = json.loads(capsys.readouterr().out)
    assert [(d["path"], d["change"]) for d in found] == [("exchanges[1].choices[0].content", "changed"),
                                                         ("exchanges[2]", "added")]
    assert found[1]["b"]["request"]["model"] == "meta-llama/Llama-3.3-70B-Instruct-Turbo-Free"

    assert diff.report(a, b, by_request=True) == 1
    out = capsys.readouterr().out
    assert "exchange 1 (A) ↔ 0 (B)" in out and "exchange 2 (only in B)" in out
    assert "  ~ choices[0].content" in out
    assert "exchanges 1" in out.splitlines()[-1]


JOKES = DATA / "cassettes" / "openllmetry" / \
    "test_finish_reasons--TestChatCompletionsFinishReasons.test_chat_streaming_sets_top_level_finish_reasons.yaml"


def test_a_cassette_with_two_exchanges(capsys, tmp_path):
    """The same request twice, two different jokes: swapped, each position differs; one
    dropped, it is reported as removed."""
    cassette = yaml.safe_load(JOKES.read_text())
    swapped, dropped = tmp_path / "swapped.yaml", tmp_path / "dropped.yaml"
    swapped.write_text(yaml.safe_dump({**cassette, "interactions": cassette["interactions"][::-1]}))
    dropped.write_text(yaml.safe_dump({**cassette, "interactions": cassette["interactions"][:1]}))
    assert run_json(capsys, JOKES, JOKES) == (0, [])
    for by_request in (False, True):  # equal requests pair in file order
        code, found = run_json(capsys, JOKES, swapped, by_request=by_request)
        assert code == 1
        assert [d["path"] for d in found] == ["exchanges[0].choices[0].content", "exchanges[1].choices[0].content"]
        assert found[0]["a"] == found[1]["b"]
    assert run_json(capsys, JOKES, swapped, ignore=["choices[*].content"]) == (0, [])
    code, found = run_json(capsys, JOKES, dropped)
    assert code == 1
    assert [(d["path"], d["change"], d["b"]) for d in found] == [("exchanges[1]", "removed", None)]
    assert found[0]["a"]["choices"][0]["content"].startswith("Why did the OpenTelemetry developer go broke?")


# --- errors and wiring -------------------------------------------------------------------------


@pytest.mark.parametrize("bad", ["cut.json", "missing.json"])
def test_unreadable_input_exits_2_with_one_line(capsys, tmp_path, bad):
    (tmp_path / "cut.json").write_text('{"request": {"url": "x"}, "response": {"body": [')
    for a, b in ((tmp_path / bad, SEED), (SEED, tmp_path / bad)):
        assert diff.run(str(a), str(b)) == 2
        out, err = capsys.readouterr()
        assert out == ""
        assert err.count("\n") == 1 and err.startswith(f"llmtrace: {tmp_path / bad}: ")


def cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "llmtrace", "diff", *args], capture_output=True, timeout=60,
                          env={**os.environ, "NO_COLOR": "1"})


def test_command_line(tmp_path):
    proc = cli(str(SEED), str(SEED), "--json")
    assert (proc.returncode, proc.stdout, proc.stderr) == (0, b"[]\n", b"")
    recording = read(TOOLS)
    set_temperature(recording)
    proc = cli(str(TOOLS), str(write(tmp_path, recording)), "--json", "--ignore", "usage", "--strict")
    assert proc.returncode == 1
    assert [d["path"] for d in json.loads(proc.stdout)] == ["request.params.temperature"]
    proc = cli(str(tmp_path / "nope.json"), str(SEED))
    assert proc.returncode == 2 and proc.stdout == b"" and proc.stderr.count(b"\n") == 1
    for bad in (["--ignore", "usage..x"], ["--json", "--stat"]):
        proc = cli(str(SEED), str(SEED), *bad)
        assert proc.returncode == 2 and proc.stdout == b"" and proc.stderr.count(b"\n") == 1, proc.stderr


def test_long_unchanged_text_is_elided_around_a_change(capsys, tmp_path, monkeypatch):
    monkeypatch.delenv("FORCE_COLOR", raising=False)
    path = STREAMS / "openai-chat-on-completions-stream" / "9c560c166df6.json"
    recording = read(path)
    for c in chunks(recording):
        if c["choices"] and c["choices"][0]["delta"]["content"] == " BBC":
            c["choices"][0]["delta"]["content"] = " CNN"
    code, out = run_human(capsys, path, write(tmp_path, recording))
    assert code == 1
    body = [line for line in out.splitlines() if line.startswith("      ")]
    assert body[0].startswith("      … ") and "or [-BBC-]{+CNN+} Weather to get" in body[0]
    assert body[-1].endswith(" …")
    assert "Tune into local news" not in out
