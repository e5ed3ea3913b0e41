"""OpenAI Assistants runs: the real openllmetry cassette against an independent reading of its
events (PyYAML, gzip and a few lines of SSE splitting), the CLI on it, hand-built runs for the
end states (requires_action, incomplete, failed, error, a cut stream), the SSE encoder as the
OpenAI SDK's stream helpers read it, and re-chunking."""

from __future__ import annotations

import json

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from conftest import DATA, left_out
from llmtrace.cli import app
from llmtrace.dialects import FoldContext, detect, openai_assistants
from llmtrace.errors import ShapeError
from llmtrace.loader import load
from raw_reading import bodies, sse

CASSETTE = DATA / "cassettes" / "openllmetry" / "test_assistant--test_streaming_existing_assistant.yaml"
RUN = 3  # the POST .../runs exchange with "stream": true
CTX = FoldContext(dialect="openai-assistants")


# --- the real cassette -------------------------------------------------------------------------------


def _raw_events() -> list[tuple[str, dict | str]]:
    url, text = bodies(CASSETTE)[RUN]
    assert url.endswith("/runs")
    return [(name, data if data == "[DONE]" else json.loads(data)) for name, data in sse(text)]


def _expected() -> dict:
    events = _raw_events()
    text = [p["text"]["value"] for name, e in events if name == "thread.message.delta"
            for p in e["delta"]["content"] if p["type"] == "text"]
    code = [c["code_interpreter"].get("input", "") for name, e in events if name == "thread.run.step.delta"
            for c in e["delta"]["step_details"]["tool_calls"] if c["type"] == "code_interpreter"]
    run = [e for name, e in events if name == "thread.run.completed"][-1]
    usage = run["usage"]
    return {"content": "".join(text), "code": "".join(code), "model": run["model"], "status": run["status"],
            "run_id": run["id"], "input": usage["prompt_tokens"], "output": usage["completion_tokens"],
            "total": usage["total_tokens"], "cached": usage["prompt_token_details"]["cached_tokens"],
            "events": len([e for _, e in events if e != "[DONE]"]), "done": events[-1] == ("done", "[DONE]")}


def test_the_real_run_reads_as_an_independent_reading_says():
    expected = _expected()
    assert expected["events"] == 95 and expected["done"] and expected["content"].startswith("The solution")
    run = CliRunner().invoke(app, ["reassemble", "--normalized", "--index", str(RUN), str(CASSETTE)])
    assert run.exit_code == 0, run.output
    doc = orjson.loads(run.stdout)
    assert doc["dialect"] == "openai-assistants" and doc["container"] == "vcr" and doc["fidelity"] == "chunks"
    assert doc["model"] == expected["model"]
    choice = doc["choices"][0]
    assert choice["content"] == expected["content"]
    assert choice["tool_calls"] == []  # code_interpreter ran on OpenAI's side: not a client tool call
    assert choice["finish_reason"] == expected["status"] == "completed" and choice["stop"] == "stop"
    assert doc["usage"] == {"input_tokens": expected["input"], "output_tokens": expected["output"],
                            "total_tokens": expected["total"], "cached_tokens": expected["cached"],
                            "reasoning_tokens": 0}


def test_the_real_run_reassembles_into_run_steps_and_messages():
    expected = _expected()
    run = CliRunner().invoke(app, ["reassemble", "--index", str(RUN), str(CASSETTE)])
    assert run.exit_code == 0, run.output
    doc = orjson.loads(run.stdout)
    assert list(doc) == ["run", "steps", "messages"]
    assert doc["run"]["id"] == expected["run_id"] and doc["run"]["status"] == "completed"
    assert doc["run"]["usage"]["total_tokens"] == expected["total"]
    assert [s["type"] for s in doc["steps"]] == ["tool_calls", "message_creation"]
    assert doc["steps"][0]["step_details"]["tool_calls"][0]["code_interpreter"]["input"] == expected["code"]
    (message,) = doc["messages"]
    assert message["object"] == "thread.message" and message["role"] == "assistant"
    assert message["status"] == "completed" and message["run_id"] == expected["run_id"]
    assert message["content"] == [{"type": "text", "text": {"value": expected["content"], "annotations": []}}]


def test_show_json_and_check_on_the_real_cassette():
    expected = _expected()
    run = CliRunner().invoke(app, ["show", "--json", str(CASSETTE)])
    assert run.exit_code == 0, run.output
    exchanges = orjson.loads(run.stdout)["exchanges"]
    assert [e["dialect"] for e in exchanges] == ["opaque"] * 3 + ["openai-assistants"]
    shown = exchanges[RUN]
    assert shown["response"]["chunks"] == expected["events"] and shown["response"]["model"] == expected["model"]
    assert shown["choices"][0]["content"] == expected["content"]
    assert shown["usage"]["reported"]["output_tokens"] == expected["output"]
    assert shown["usage"]["observed"]["characters"] == len(expected["content"])
    texts = "".join(e["text"] or "" for e in shown["timeline"]["entries"])
    assert texts == expected["code"] + expected["content"]  # code input first, then the answer
    assert shown["anomalies"] == []
    run = CliRunner().invoke(app, ["check", str(CASSETTE)])
    assert run.exit_code == 0 and "clean" in run.stdout


def test_the_real_stream_event_names_are_rebuilt_from_the_objects():
    for name, data in _raw_events():
        if data == "[DONE]":
            continue
        derived = openai_assistants.event_name(data)
        ambiguous = {"thread.run.queued": "thread.run.created", "thread.message.in_progress": "thread.message.created",
                     "thread.run.step.in_progress": "thread.run.step.created"}
        assert derived == ambiguous.get(name, name)


def test_re_encoded_stream_ends_with_done_when_the_recording_had_it():
    from llmtrace.server import wire

    exchange = load(str(CASSETTE)).exchanges[RUN]  # read without the recorded text: frames re-encoded
    stream = wire.stream(exchange)
    names = [frame.split(b"\n", 1)[0] for frame in stream.frames]
    recorded = [name for name, data in _raw_events() if data != "[DONE]"]
    assert len(names) == len(recorded) and names[-1] == b"event: thread.run.completed"
    assert stream.end == [b"event: done\ndata: [DONE]\n\n"]


# --- hand-built runs --------------------------------------------------------------------------------


def _run(status: str, **extra) -> dict:
    return {"id": "run_1", "object": "thread.run", "assistant_id": "asst_1", "thread_id": "thread_1",
            "status": status, "model": "gpt-4o-mini", "required_action": None, "last_error": None,
            "incomplete_details": None, "usage": None, **extra}


def _step(sid: str, status: str, kind: str = "tool_calls") -> dict:
    details = {"type": "tool_calls", "tool_calls": []} if kind == "tool_calls" else \
        {"type": "message_creation", "message_creation": {"message_id": "msg_1"}}
    return {"id": sid, "object": "thread.run.step", "run_id": "run_1", "type": kind, "status": status,
            "step_details": details, "last_error": None, "usage": None}


def _step_delta(sid: str, *calls: dict) -> dict:
    return {"id": sid, "object": "thread.run.step.delta",
            "delta": {"step_details": {"type": "tool_calls", "tool_calls": list(calls)}}}


def _function(index: int, arguments: str, cid: str | None = None, name: str | None = None) -> dict:
    fn = {"arguments": arguments}
    if name is not None:
        fn = {"name": name, **fn, "output": None}
    call = {"index": index, "type": "function", "function": fn}
    return {"index": index, "id": cid, **call} if cid else call


def _message(status: str, content: list | None = None, **extra) -> dict:
    return {"id": "msg_1", "object": "thread.message", "role": "assistant", "run_id": "run_1",
            "assistant_id": "asst_1", "thread_id": "thread_1", "status": status, "content": content or [],
            "incomplete_details": None, **extra}


def _text(value: str, index: int = 0, **extra) -> dict:
    return {"index": index, "type": "text", "text": {"value": value, **extra}}


def _message_delta(*parts: dict) -> dict:
    return {"id": "msg_1", "object": "thread.message.delta", "delta": {"content": list(parts)}}


def _answer(pieces: list[str], end: dict | None) -> list[dict]:
    """A run that writes ``pieces`` as one message, ended by ``end`` (None: cut off)."""
    chunks = [_run("queued"), _run("queued"), _run("in_progress"), _step("step_m", "in_progress", "message"),
              _message("in_progress"), _message("in_progress")]
    chunks += [_message_delta(_text(p, annotations=[]) if n == 0 else _text(p)) for n, p in enumerate(pieces)]
    if end is not None:
        chunks.append(end)
    return chunks


USAGE = {"prompt_tokens": 20, "completion_tokens": 12, "total_tokens": 32, "prompt_token_details": {"cached_tokens": 4}}


def _requires_action() -> list[dict]:
    calls = [{"id": "call_a", "type": "function", "function": {"name": "get_weather", "arguments": '{"city":"Paris"}'}},
             {"id": "call_b", "type": "function", "function": {"name": "get_time", "arguments": '{"tz":"CET"}'}}]
    action = {"type": "submit_tool_outputs", "submit_tool_outputs": {"tool_calls": calls}}
    return [_run("queued"), _run("in_progress"), _step("step_1", "in_progress"),
            _step_delta("step_1", _function(0, "", "call_a", "get_weather")),
            _step_delta("step_1", _function(0, '{"ci')),
            _step_delta("step_1", _function(1, "", "call_b", "get_time")),
            _step_delta("step_1", _function(1, '{"tz":')),
            _step_delta("step_1", _function(0, 'ty":"Paris"}')),
            _step_delta("step_1", _function(1, '"CET"}')),
            _run("requires_action", required_action=action, usage=USAGE)]


def _sse_file(tmp_path, chunks: list, name: str = "run.sse"):
    path = tmp_path / name
    path.write_bytes(b"".join(openai_assistants.encode(c) for c in chunks) + b"event: done\ndata: [DONE]\n\n")
    return path


def _check(path) -> list[str]:
    run = CliRunner().invoke(app, ["check", "--json", str(path)])
    line = orjson.loads(run.stdout.splitlines()[0])
    assert line["error"] is None, line
    return [a["code"] for a in line["anomalies"]]


def test_requires_action_with_two_function_calls_in_fragments(tmp_path):
    chunks = _requires_action()
    assert detect(chunks) == "openai-assistants"
    result = openai_assistants.fold(chunks, CTX)
    message = result.choices[0]
    assert [(c.id, c.name, c.parsed_arguments) for c in message.tool_calls] == [
        ("call_a", "get_weather", {"city": "Paris"}), ("call_b", "get_time", {"tz": "CET"})]
    assert message.finish_reason == "requires_action" and message.stop == "tool_calls" and result.complete
    assert message.content is None
    assert (result.usage.input_tokens, result.usage.output_tokens, result.usage.total_tokens,
            result.usage.cached_tokens) == (20, 12, 32, 4)
    assert result.model == "gpt-4o-mini" and result.observations.chunk_ids == ["run_1"]
    (step,) = result.response["steps"]  # still in progress: rebuilt from the deltas
    assert step["status"] == "in_progress"
    assert [c["function"]["arguments"] for c in step["step_details"]["tool_calls"]] == ['{"city":"Paris"}',
                                                                                      '{"tz":"CET"}']
    assert "index" not in step["step_details"]["tool_calls"][0]
    assert result.response["run"]["required_action"]["type"] == "submit_tool_outputs"
    assert _check(_sse_file(tmp_path, chunks)) == []


def test_required_action_alone_gives_the_calls():
    chunks = [c for c in _requires_action() if c["object"] != "thread.run.step.delta"]
    message = openai_assistants.fold(chunks, CTX).choices[0]
    assert [(c.id, c.name, c.arguments) for c in message.tool_calls] == [
        ("call_a", "get_weather", '{"city":"Paris"}'), ("call_b", "get_time", '{"tz":"CET"}')]


def test_tool_indices_restart_per_step_but_a_gap_inside_a_step_shows(tmp_path):
    two_steps = [_run("queued"), _step("step_1", "in_progress"),
                 _step_delta("step_1", {"index": 0, "id": "call_c", "type": "code_interpreter",
                                        "code_interpreter": {"input": "1+1", "outputs": []}}),
                 _step_delta("step_1", {"index": 0, "type": "code_interpreter",
                                        "code_interpreter": {"outputs": [{"index": 0, "type": "logs", "logs": "2"}]}}),
                 _step("step_2", "in_progress"),
                 _step_delta("step_2", _function(0, "{}", "call_f", "lookup")),
                 _run("requires_action")]
    result = openai_assistants.fold(two_steps, CTX)
    assert [e.index for e in result.observations.tool_events] == [0, 1]
    assert [c.name for c in result.choices[0].tool_calls] == ["lookup"]  # not the code interpreter
    code = result.response["steps"][0]["step_details"]["tool_calls"][0]
    assert code == {"id": "call_c", "type": "code_interpreter",
                    "code_interpreter": {"input": "1+1", "outputs": [{"type": "logs", "logs": "2"}]}}
    assert "tool-index-gap" not in _check(_sse_file(tmp_path, two_steps))
    gap = two_steps[:-1] + [_step_delta("step_2", _function(2, "{}", "call_g", "lookup")), _run("requires_action")]
    assert "tool-index-gap" in _check(_sse_file(tmp_path, gap, "gap.sse"))


def test_incomplete_at_max_tokens_is_a_length_stop(tmp_path):
    end = _run("incomplete", incomplete_details={"reason": "max_completion_tokens"}, usage=USAGE)
    chunks = _answer(["Once upon", " a time"], end)
    result = openai_assistants.fold(chunks, CTX)
    message = result.choices[0]
    assert message.content == "Once upon a time" and result.complete
    assert message.finish_reason == "max_completion_tokens" and message.stop == "length"
    assert "truncated" in _check(_sse_file(tmp_path, chunks))


def test_an_incomplete_message_gives_the_reason_when_the_run_has_none():
    chunks = _answer(["Sure"], None) + [_message("incomplete", [{"type": "text", "text": {"value": "Sure",
                                                                                          "annotations": []}}],
                                                 incomplete_details={"reason": "content_filter"}),
                                        _run("incomplete")]
    message = openai_assistants.fold(chunks, CTX).choices[0]
    assert message.finish_reason == "content_filter" and message.stop == "content_filter"


def test_failed_run_stops_with_error_and_reports_last_error(tmp_path):
    error = {"code": "rate_limit_exceeded", "message": "You exceeded your current quota."}
    chunks = _answer(["Hel"], _run("failed", last_error=error))
    result = openai_assistants.fold(chunks, CTX)
    assert result.choices[0].finish_reason == "failed" and result.choices[0].stop == "error" and result.complete
    assert result.observations.stream_errors == [(len(chunks) - 1, error)]
    run = CliRunner().invoke(app, ["check", "--json", str(_sse_file(tmp_path, chunks))])
    (finding,) = [a for a in orjson.loads(run.stdout)["anomalies"] if a["code"] == "error-in-stream"]
    assert "You exceeded your current quota." in finding["message"]
    for status in ("cancelled", "expired"):
        assert openai_assistants.fold(_answer(["x"], _run(status)), CTX).choices[0].stop == "error"


def test_an_error_event_ends_the_stream_with_an_error():
    error = {"code": "server_error", "message": "Sorry, something went wrong.", "param": None, "type": None}
    result = openai_assistants.fold(_answer(["Hi"], error), CTX)
    message = result.choices[0]
    assert message.content == "Hi" and message.finish_reason == "error" and message.stop == "error"
    assert result.complete and result.response["errors"] == [error]
    assert result.observations.stream_errors[0][1] == error
    wrapped = openai_assistants.fold(_answer(["Hi"], {"error": error}), CTX)
    assert wrapped.observations.stream_errors[0][1] == error and wrapped.choices[0].stop == "error"


def test_unknown_objects_are_kept_and_never_break_the_fold():
    odd = [{"object": "thread.run.step.brand_new", "id": "x", "payload": [1, 2]}, {"hello": "there"}]
    chunks = _answer(["Hel", "lo"], None)
    chunks[7:7] = odd
    chunks.append(_run("completed", usage=USAGE))
    result = openai_assistants.fold(chunks, CTX)
    assert result.choices[0].content == "Hello" and result.complete
    assert result.response["unknown_events"] == odd


def test_a_stream_cut_before_the_run_ends_has_no_finish(tmp_path):
    chunks = _answer(["The answer", " is 4", "2."], None)
    chunks[6]["delta"]["content"][0]["text"]["annotations"] = [
        {"index": 0, "type": "file_citation", "text": "[1]", "file_citation": {"file_id": "file_1"}}]
    chunks.append(_message_delta({"index": 1, "type": "image_file", "image_file": {"file_id": "file_2"}}))
    result = openai_assistants.fold(chunks, CTX)
    message = result.choices[0]
    assert not result.complete and message.finish_reason is None and message.stop is None
    assert message.content == "The answer is 42."
    (rebuilt,) = result.response["messages"]
    assert rebuilt["status"] == "in_progress" and rebuilt["content"] == [
        {"type": "text", "text": {"value": "The answer is 42.",
                                  "annotations": [{"type": "file_citation", "text": "[1]",
                                                   "file_citation": {"file_id": "file_1"}}]}},
        {"type": "image_file", "image_file": {"file_id": "file_2"}}]
    path = tmp_path / "cut.sse"
    path.write_bytes(b"".join(openai_assistants.encode(c) for c in chunks))
    assert "no-finish" in _check(path)
    run = CliRunner().invoke(app, ["reassemble", str(path)])
    assert run.exit_code == 0 and "the stream ends without a finish" in run.stderr
    assert orjson.loads(run.stdout)["messages"] == result.response["messages"]


def test_refusal_parts_and_repeated_identity_fields():
    chunks = _answer([], None) + [
        _message_delta({"index": 0, "type": "refusal", "refusal": "I can't"}),
        {"id": "msg_1", "object": "thread.message.delta",
         "delta": {"role": "assistant", "content": [{"index": 0, "type": "refusal", "refusal": " help."}]}},
        _run("completed")]
    result = openai_assistants.fold(chunks, CTX)
    assert result.choices[0].refusal == "I can't help." and result.choices[0].content is None
    assert result.response["messages"][0]["role"] == "assistant"
    repeated = [_run("queued"), _step_delta("s", _function(0, '{"a"', "call_1", "f")),
                _step_delta("s", {"index": 0, "id": "call_1", "type": "function", "function": {"arguments": ":1}"}}),
                _run("requires_action")]
    (call,) = openai_assistants.fold(repeated, CTX).choices[0].tool_calls
    assert call.id == "call_1" and call.parsed_arguments == {"a": 1}


def test_answered_function_calls_are_not_asked_again():
    step = _step("step_1", "completed")
    step["step_details"]["tool_calls"] = [{"id": "call_a", "type": "function",
                                           "function": {"name": "f", "arguments": "{}", "output": "42"}}]
    chunks = [_run("queued"), step] + _answer(["It is 42."], _run("completed"))[3:]
    message = openai_assistants.fold(chunks, CTX).choices[0]
    assert message.tool_calls == [] and message.content == "It is 42." and message.stop == "stop"


def test_wrong_types_name_the_chunk(tmp_path):
    chunks = _answer(["a", "b"], _run("completed"))
    chunks[7]["delta"]["content"] = "b"
    with pytest.raises(ShapeError) as info:
        openai_assistants.fold(chunks, CTX)
    assert info.value.where == "chunk 7" and "should be an array" in info.value.what
    bad = _requires_action()
    bad[4]["delta"]["step_details"]["tool_calls"][0]["index"] = "0"
    path = _sse_file(tmp_path, bad)
    assert left_out(path) == [(4, "tool call index should be an integer")]  # kept, chunk 4 left out (issue 23)
    run = CliRunner().invoke(app, ["check", str(path)])
    assert run.exit_code == 0 and "unread-chunk" in run.stdout and "Traceback" not in run.output


# --- detection ----------------------------------------------------------------------------------------


def test_unstreamed_bodies():
    body = _run("completed", usage=USAGE)
    assert detect([body]) == "openai-assistants"
    result = openai_assistants.fold_body(body, CTX)
    assert result.response == body and result.complete and result.model == "gpt-4o-mini"
    assert result.choices[0].content is None and result.choices[0].stop == "stop"
    assert result.usage.total_tokens == 32 and "empty-response" in result.observations.skipped
    queued = openai_assistants.fold_body(_run("queued"), CTX)
    assert queued.choices[0].finish_reason is None and queued.complete
    message_list = {"object": "list", "data": [_message("completed")], "first_id": "msg_1", "has_more": False}
    for stored in (message_list, _message("completed"), _step("s", "completed"),
                   {"id": "thread_1", "object": "thread", "metadata": {}}):
        assert detect([stored]) == "opaque"


def test_url_detection_when_the_body_says_nothing():
    error = {"error": {"message": "No thread found", "type": "invalid_request_error"}}
    assert detect([error], None, "https://api.openai.com/v1/threads/thread_1/runs") == "openai-assistants"
    assert detect([], None, "https://api.openai.com/v1/threads/runs") == "openai-assistants"
    assert detect([], None, "https://x.openai.azure.com/openai/threads/t/runs/r/submit_tool_outputs?api-version=1") \
        == "openai-assistants"
    assert detect([error], None, "https://api.openai.com/v1/threads/thread_1/messages") == "opaque"
    assert detect([error], None, "http://localhost:2024/threads/t/runs/stream") != "openai-assistants"


def test_other_dialects_chunks_are_not_claimed():
    others = [{"id": "c", "object": "chat.completion.chunk", "choices": [{"index": 0, "delta": {"content": "x"}}]},
              {"type": "response.output_text.delta", "delta": "x"}, {"type": "message_start", "message": {}},
              {"object": "response", "output": []}, {"object": "list", "data": []}]
    assert all(openai_assistants.sniff(o) is None for o in others)


# --- serving -------------------------------------------------------------------------------------------


def test_the_openai_sdk_stream_helper_reads_the_served_run():
    """Served without the recorded text (the encoder names the events): the SDK's run stream
    accumulates the same message, run and steps."""
    import openai

    from llmtrace.server.app import Background, Options, Server

    recording = load(str(CASSETTE))  # without bodies.keep_raw: the encoder writes the frames
    body = recording.exchanges[RUN].request.body
    thread = recording.exchanges[RUN].request.endpoint.split("/")[3]
    expected = _expected()
    with Background(Server([recording], options=Options(speed=None, log=lambda line: None))) as base:
        client = openai.OpenAI(base_url=f"{base}/v1", api_key="test", max_retries=0, timeout=30)
        with pytest.warns(DeprecationWarning), client.beta.threads.runs.stream(
                thread_id=thread, assistant_id=body["assistant_id"], instructions=body["instructions"]) as stream:
            stream.until_done()
            messages = stream.get_final_messages()
            run = stream.get_final_run()
            steps = stream.get_final_run_steps()
    assert [p.text.value for m in messages for p in m.content] == [expected["content"]]
    assert run.status == "completed" and run.usage.total_tokens == expected["total"]
    assert steps[0].step_details.tool_calls[0].code_interpreter.input == expected["code"]


def test_a_chunk_file_without_request_is_served_at_the_create_and_run_path(tmp_path):
    import openai

    from llmtrace.server.app import Background, Options, Server

    path = tmp_path / "run.json"
    path.write_bytes(orjson.dumps(_requires_action()))
    recording = load(str(path))
    assert recording.container == "json-chunks" and recording.exchanges[0].dialect == "openai-assistants"
    with Background(Server([recording], options=Options(speed=None, mode="sequence", log=lambda line: None))) as base:
        client = openai.OpenAI(base_url=f"{base}/v1", api_key="test", max_retries=0, timeout=30)
        with pytest.warns(DeprecationWarning), client.beta.threads.create_and_run_stream(assistant_id="asst_1") \
                as stream:
            stream.until_done()
            run = stream.get_final_run()
    calls = run.required_action.submit_tool_outputs.tool_calls
    assert run.status == "requires_action" and [c.function.name for c in calls] == ["get_weather", "get_time"]


# --- re-chunking ---------------------------------------------------------------------------------------


@settings(max_examples=40)
@given(st.lists(st.text(min_size=1, max_size=8), min_size=1, max_size=10), st.data())
def test_rechunking_text_and_argument_fragments_never_changes_the_run(pieces, data):
    text = "".join(pieces)
    cuts = sorted(data.draw(st.sets(st.integers(1, max(1, len(text) - 1)), max_size=6)))
    rechunked = [text[a:b] for a, b in zip([0, *cuts], [*cuts, len(text)]) if text[a:b]]
    end = _run("completed", usage=USAGE)
    one = openai_assistants.fold(_answer(pieces, end), CTX)
    two = openai_assistants.fold(_answer(rechunked, end), CTX)
    assert one.response == two.response and one.choices == two.choices and one.choices[0].content == text
    args = orjson.dumps({"q": text}).decode()
    splits = sorted(data.draw(st.sets(st.integers(1, len(args) - 1), max_size=5)))
    fragments = [args[a:b] for a, b in zip([0, *splits], [*splits, len(args)])]
    chunks = [_run("queued"), _step("s", "in_progress"), _step_delta("s", _function(0, "", "call_1", "search"))]
    chunks += [_step_delta("s", _function(0, f)) for f in fragments] + [_run("requires_action")]
    (call,) = openai_assistants.fold(chunks, CTX).choices[0].tool_calls
    assert call.arguments == args and call.parsed_arguments == {"q": text}


@pytest.mark.parametrize("fault, code", [("drop-done", "no-finish"), ("error-in-stream:after=40", "error-in-stream"),
                                         ("duplicate:chunk=68", "duplicate-chunk")])
def test_serve_faults_on_the_run_are_caught_by_check(tmp_path, fault, code):
    import httpx

    from llmtrace.server.app import Background, Options, Server
    from llmtrace.server.faults import parse

    recording = load(str(CASSETTE))
    exchange = recording.exchanges[RUN]
    options = Options(speed=None, faults=(parse(fault),), log=lambda line: None)
    with Background(Server([recording], options=options)) as base, httpx.Client(timeout=30) as client:
        data = client.post(base + exchange.request.endpoint, json=exchange.request.body).content
    capture = tmp_path / "capture.sse"
    capture.write_bytes(data)
    assert code in _check(capture)


_JSON = st.recursive(st.none() | st.booleans() | st.integers(-2**63, 2**63 - 1) | st.text(max_size=5),
                     lambda inner: st.lists(inner, max_size=3) | st.dictionaries(
                         st.sampled_from(["index", "type", "id", "text", "value", "content", "delta", "function",
                                          "arguments", "tool_calls", "step_details", "annotations", "object",
                                          "status", "usage", "required_action", "code_interpreter", "outputs"]),
                         inner, max_size=4), max_leaves=12)


@settings(max_examples=150)
@given(st.data())
def test_any_value_anywhere_is_read_or_refused_by_name_never_a_crash(data):
    """Recordings are untrusted: a value of any type at any place of the real stream's events
    folds, or is a ShapeError that names the chunk."""
    chunks = json.loads(json.dumps(load(str(CASSETTE)).exchanges[RUN].response.chunks))
    for _ in range(data.draw(st.integers(1, 3))):
        n = data.draw(st.integers(0, len(chunks) - 1))
        target = chunks[n]
        while True:  # walk down into the event, then replace one value there
            key = data.draw(st.sampled_from(sorted(target)))
            inner = target[key]
            if isinstance(inner, dict) and inner and data.draw(st.booleans()):
                target = inner
                continue
            if isinstance(inner, list) and inner and isinstance(inner[0], dict) and inner[0] and data.draw(st.booleans()):
                target = inner[0]
                continue
            target[key] = data.draw(_JSON)
            break
    try:
        result = openai_assistants.fold(chunks, CTX)
    except ShapeError as exc:
        assert exc.where and ("chunk" in exc.where or "reassembled" in exc.where or "[" in exc.where)
        return
    orjson.dumps(result.response)
    [m.model_dump() for m in result.choices]


def test_a_runs_request_conversation_is_normalized_as_messages():
    from llmtrace.normalize import normalize_request

    body = {"assistant_id": "asst_1", "instructions": "Be brief.", "additional_instructions": "Use metric.",
            "thread": {"messages": [{"role": "user", "content": "hi"}]},
            "additional_messages": [{"role": "user", "content": [{"type": "text", "text": "and?"}]}],
            "stream": True, "temperature": 0.2}
    request = normalize_request(body, "openai-assistants")
    assert [(m.role, m.content) for m in request.messages] == [
        ("system", "Be brief."), ("system", "Use metric."), ("user", "hi"), ("user", "and?")]
    assert request.params == {"assistant_id": "asst_1", "temperature": 0.2, "stream": True}
