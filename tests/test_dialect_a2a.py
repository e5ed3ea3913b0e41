"""A2A (Agent2Agent) JSON-RPC calls: crewAI's real cassettes end to end, read against an
independent reading of their raw events, and hand-built streams for the edges (artifacts streamed
in pieces, failed and input-required tasks, a cut stream, JSON-RPC errors, unknown kinds)."""

from __future__ import annotations

import json
from pathlib import Path

import orjson
import pytest

from conftest import left_out
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from llmtrace import anomalies, dialects
from llmtrace.cli import app
from llmtrace.containers import bodies as splitter
from llmtrace.dialects import FoldContext, a2a
from llmtrace.errors import ShapeError
from llmtrace.loader import load
from raw_reading import bodies, sse

DATA = Path(__file__).parent / "data" / "a2a"
STREAMING = DATA / "TestA2AStreamingIntegration.test_streaming_completes_task.yaml"
POLLING = DATA / "TestA2APollingIntegration.test_polling_completes_task.yaml"
KICKOFF = DATA / "TestAgentA2AKickoff.test_agent_kickoff_delegates_to_a2a.yaml"
REAL = (STREAMING, POLLING, KICKOFF)
CTX = FoldContext(dialect="a2a")


def _events(text: str) -> list[dict]:
    return [json.loads(data) for _, data in sse(text)]


def _agent_text(message: dict) -> str:
    return "".join(p["text"] for p in message["parts"] if p.get("kind") == "text")


@pytest.mark.parametrize("path", REAL, ids=lambda p: p.name[:40])
def test_real_streams_read_as_an_independent_reading_says(path):
    recording = load(str(path))
    read = 0
    for exchange, (url, text) in zip(recording.exchanges, bodies(path)):
        if not text.startswith("data:"):
            continue
        events = _events(text)
        last = events[-1]["result"]
        assert last["kind"] == "status-update" and last["final"] is True
        assert exchange.dialect == "a2a" and exchange.response.streaming
        message = exchange.result.choices[0]
        assert message.content == _agent_text(last["status"]["message"])
        assert message.finish_reason == last["status"]["state"] == "completed" and message.stop == "stop"
        assert exchange.result.complete and exchange.result.timeline.chunks == len(events)
        assert exchange.result.response["result"]["id"] == last["taskId"]
        assert exchange.result.response["result"]["status"] == last["status"]
        assert exchange.fidelity == "chunks"
        found = {a.code for a in anomalies.detect(exchange)}
        assert not found and {"usage-missing", "usage-inconsistent"} <= set(anomalies.skipped_codes(exchange))
        request = json.loads(yaml.safe_load(path.read_text())["interactions"][exchange.index]["request"]["body"])
        sent = request["params"]["message"]
        assert [(m.role, m.content) for m in exchange.normalized_request.messages] == [("user", _agent_text(sent))]
        assert exchange.normalized_request.params["method"] == "message/stream"
        read += 1
    assert read == {STREAMING: 1, POLLING: 1, KICKOFF: 3}[path]


def test_the_reassembled_stream_is_the_task_tasks_get_returned():
    """The polling cassette asks ``tasks/get`` after the stream: the server's own task must equal
    what the stream reassembles to (history with the request's message included)."""
    recording = load(str(POLLING))
    streamed, polled = recording.exchanges[1], recording.exchanges[2]
    got = json.loads(bodies(POLLING)[2][1])
    assert streamed.result.response["result"] == got["result"]
    assert polled.dialect == "a2a" and not polled.response.streaming and polled.fidelity == "final-text"
    assert polled.result.response == got
    assert polled.result.choices[0].content == streamed.result.choices[0].content
    assert polled.result.choices[0].finish_reason == "completed" and polled.result.complete
    assert polled.normalized_request.params == {"method": "tasks/get", "historyLength": 100}


def test_other_exchanges_of_the_files_keep_their_dialects():
    dialects_seen = [x.dialect for x in load(str(KICKOFF)).exchanges]
    assert dialects_seen == ["openai-chat", "a2a"] * 3 + ["openai-chat", "opaque"]  # the agent card is no generation
    assert load(str(STREAMING)).exchanges[0].dialect == "opaque"


def test_cli_reassemble_normalized_and_check():
    run = CliRunner().invoke(app, ["reassemble", "--index", "1", "--normalized", str(STREAMING)])
    assert run.exit_code == 0, run.output
    out = orjson.loads(run.stdout)
    assert out["dialect"] == "a2a" and out["model"] is None and out["fidelity"] == "chunks"
    assert out["choices"][0]["content"] == "\n[Tool: calculator] 2 + 2 = 4\n2 + 2 equals 4."
    run = CliRunner().invoke(app, ["check", "--json", str(KICKOFF)])
    line = orjson.loads(run.stdout)
    assert run.exit_code == 0 and line["error"] is None
    assert {a["code"] for a in line["anomalies"]} == {"model-mismatch"}  # the OpenAI calls' alias, nothing of A2A


# --- hand-built streams --------------------------------------------------------------------------

def _ev(result: dict | None = None, **extra) -> dict:
    event = {"jsonrpc": "2.0", "id": "r1"}
    if result is not None:
        event["result"] = result
    event.update(extra)
    return event


def _status(state: str, text: str | None = None, final: bool = False, role: str = "agent") -> dict:
    status: dict = {"state": state}
    if text is not None:
        status["message"] = {"kind": "message", "messageId": "m-" + state, "role": role,
                             "parts": [{"kind": "text", "text": text}]}
    return _ev({"kind": "status-update", "taskId": "t1", "contextId": "c1", "status": status, "final": final})


def _artifact(aid: str, *texts: str, append: bool = False, last: bool = False, data: dict | None = None) -> dict:
    parts: list = [{"kind": "text", "text": t} for t in texts]
    if data is not None:
        parts.append({"kind": "data", "data": data})
    return _ev({"kind": "artifact-update", "taskId": "t1", "contextId": "c1", "append": append, "lastChunk": last,
                "artifact": {"artifactId": aid, "name": "answer", "parts": parts}})


TASK = _ev({"kind": "task", "id": "t1", "contextId": "c1", "status": {"state": "submitted"},
            "history": [{"kind": "message", "messageId": "u1", "role": "user",
                         "parts": [{"kind": "text", "text": "What is 2 + 2?"}]}]})


def test_artifact_text_streamed_in_pieces_is_the_content_not_the_progress_notes():
    chunks = [TASK, _status("working", "Looking it up…"), _artifact("a1", "2 + 2 "),
              _artifact("a1", "is ", append=True), _artifact("a1", "4.", append=True, last=True, data={"n": 4}),
              _artifact("a2", "Sources: none."), _status("completed", final=True)]
    result = a2a.fold(chunks, CTX)
    message = result.choices[0]
    assert message.content == "2 + 2 is 4.Sources: none."
    assert message.finish_reason == "completed" and message.stop == "stop" and result.complete
    assert [d.chunk for d in result.timeline.deltas] == [2, 3, 4, 5]
    task = result.response["result"]
    assert [a["artifactId"] for a in task["artifacts"]] == ["a1", "a2"]
    assert task["artifacts"][0]["parts"][-1] == {"kind": "data", "data": {"n": 4}}  # kept, not text
    assert [m["messageId"] for m in task["history"]] == ["u1", "m-working"]  # the replaced status message
    assert task["status"] == {"state": "completed"} and result.observations.finish_chunks == {0: 6}


def test_an_artifact_sent_again_without_append_replaces_the_old_one():
    chunks = [_artifact("a1", "draft"), _artifact("a1", "final answer"), _status("completed", final=True)]
    result = a2a.fold(chunks, CTX)
    assert result.choices[0].content == "final answer"
    assert result.response["result"]["artifacts"] == [{"artifactId": "a1", "name": "answer",
                                                       "parts": [{"kind": "text", "text": "final answer"}]}]


def test_an_append_to_an_artifact_never_started_keeps_its_text():
    result = a2a.fold([_artifact("late", "kept", append=True), _status("completed", final=True)], CTX)
    assert result.choices[0].content == "kept"


def test_failed_and_rejected_tasks_finish_in_error():
    for state in ("failed", "rejected", "canceled"):
        result = a2a.fold([_status("working"), _status(state, "It broke.", final=True)], CTX)
        message = result.choices[0]
        assert (message.finish_reason, message.stop, message.content) == (state, "error", "It broke.")
        assert result.complete


def test_input_required_is_its_own_finish_reason_and_the_question_is_the_content():
    result = a2a.fold([TASK, _status("working"), _status("input-required", "Which currency?", final=True)], CTX)
    message = result.choices[0]
    assert (message.finish_reason, message.stop, message.content) == ("input-required", "stop", "Which currency?")
    # A2A 1.0 drops ``final``: the interrupted state alone ends the stream.
    result = a2a.fold([_status("auth-required", "Please sign in.")], CTX)
    assert result.complete and result.choices[0].finish_reason == "auth-required"


def test_a_stream_without_its_final_update_is_flagged_no_finish(tmp_path):
    path = _cassette(tmp_path, [TASK, _status("working", "Thinking"), _artifact("a1", "Half an ans")])
    exchange = load(str(path)).exchanges[0]
    assert exchange.dialect == "a2a" and not exchange.result.complete
    assert exchange.result.choices[0].content == "Half an ans" and exchange.result.choices[0].finish_reason is None
    codes = {a.code for a in anomalies.detect(exchange)}
    assert "no-finish" in codes and "usage-missing" not in codes


def test_a_json_rpc_error_in_the_stream_is_an_error_finish(tmp_path):
    error = {"code": -32603, "message": "Internal error"}
    result = a2a.fold([_status("working"), _ev(error=error)], CTX)
    assert result.choices[0].finish_reason == "error" and result.choices[0].stop == "error" and result.complete
    assert result.observations.stream_errors == [(1, error)] and result.response["error"] == error
    # Answered by the error alone: nothing in the answer says A2A, the request does.
    path = _cassette(tmp_path, [_ev(error={"code": -32001, "message": "Task not found"})])
    exchange = load(str(path)).exchanges[0]
    assert exchange.dialect == "a2a"
    assert "error-in-stream" in {a.code for a in anomalies.detect(exchange)}


def test_unknown_kinds_are_kept_and_shown_never_a_crash():
    odd = _ev({"kind": "push-notification", "note": "x"})
    result = a2a.fold([odd, _ev(), _status("completed", "Done.", final=True)], CTX)
    assert result.response["unknown_events"] == [odd, _ev()]
    assert result.choices[0].content == "Done." and result.complete


def test_a_message_answer_is_complete_without_a_finish_reason():
    answer = {"kind": "message", "messageId": "m1", "role": "agent", "parts": [{"kind": "text", "text": "Hi!"}]}
    result = a2a.fold([_ev(answer)], CTX)
    assert result.response == {"jsonrpc": "2.0", "id": "r1", "result": answer}
    assert result.complete and result.choices[0].content == "Hi!" and result.choices[0].finish_reason is None
    body = a2a.fold_body(_ev(answer), CTX)
    assert body.response == _ev(answer) and body.choices[0].content == "Hi!" and body.complete


def test_a_task_still_running_in_a_body_is_a_snapshot_not_a_broken_stream():
    body = _ev({"kind": "task", "id": "t1", "contextId": "c1", "status": {"state": "working"}})
    result = a2a.fold_body(body, CTX)
    assert not result.complete and result.choices[0].content is None
    assert "no-finish" in result.observations.skipped


def test_wrong_types_name_the_chunk_and_the_cli_exits_2(tmp_path):
    bad = _ev({"kind": "status-update", "taskId": "t1", "status": "completed"})
    with pytest.raises(ShapeError) as info:
        a2a.fold([_status("working"), bad], CTX)
    assert info.value.where == "chunk 1"
    path = _cassette(tmp_path, [_status("working"), bad])
    assert [chunk for chunk, _ in left_out(path)] == [1]  # the exchange is kept, chunk 1 left out (issue 23)
    run = CliRunner().invoke(app, ["show", str(path)])
    assert run.exit_code == 0 and "unread-chunk" in run.stdout


def test_sniffing_takes_a2a_shapes_only():
    assert dialects.sniff(_status("working")) == "a2a"
    mcp = {"jsonrpc": "2.0", "id": 1, "result": {"content": [{"type": "text", "text": "42"}]}}
    assert dialects.sniff(mcp) is None
    assert dialects.detect([mcp], {"jsonrpc": "2.0", "method": "tools/call"}, "http://x/mcp") == "opaque"
    error = {"jsonrpc": "2.0", "id": 1, "error": {"code": -32601, "message": "no"}}
    assert dialects.detect([error], {"jsonrpc": "2.0", "id": 1, "method": "tools/call"}, "http://x/mcp") != "a2a"
    # MCP's SSE transport posts to /messages: its JSON-RPC errors are not Anthropic's
    assert dialects.detect([error], {"jsonrpc": "2.0", "id": 1, "method": "tools/call"},
                           "http://x/messages?sessionId=1") == "opaque"
    assert dialects.detect([error], {"jsonrpc": "2.0", "id": 1, "method": "message/send"}, "http://x/") == "a2a"


def test_request_parts_that_are_not_text():
    body = {"jsonrpc": "2.0", "id": "r", "method": "message/send",
            "params": {"message": {"role": "user", "messageId": "u", "parts": [
                {"kind": "text", "text": "Sum these: "}, {"kind": "data", "data": {"xs": [1, 2]}},
                {"kind": "file", "file": {"uri": "https://x/y.csv"}}]},
                "configuration": {"blocking": False}}}
    normalized = a2a.normalize_request(body)
    assert normalized.messages[0].content == 'Sum these: {"xs":[1,2]}[file]'
    assert normalized.params == {"method": "message/send", "blocking": False}


# --- serve: the wire format ----------------------------------------------------------------------

HAND_BUILT = [TASK, _status("working", "Looking it up…"), _artifact("a1", "2 + 2 "),
              _artifact("a1", "is 4.", append=True, last=True), _ev({"kind": "odd"}), _status("completed", final=True)]


@pytest.mark.parametrize("chunks", [HAND_BUILT] + [
    x.response.chunks for path in REAL for x in load(str(path)).exchanges if x.dialect == "a2a" and x.response.streaming
][:2], ids=["hand-built", "real-0", "real-1"])
def test_the_encoded_stream_folds_to_what_the_recording_folds_to(chunks):
    wire = b"".join(a2a.encode(c) for c in chunks).decode()
    payloads = splitter.split(wire, "")
    assert payloads.streaming and list(payloads.chunks) == list(chunks)
    again, first = a2a.fold(payloads.chunks, CTX), a2a.fold(list(chunks), CTX)
    assert again.choices == first.choices and again.response == first.response


def _cassette(tmp_path: Path, events: list[dict]) -> Path:
    """A vcrpy cassette of one ``message/stream`` call answered by ``events`` as SSE."""
    request = {"id": "r1", "jsonrpc": "2.0", "method": "message/stream",
               "params": {"message": {"kind": "message", "messageId": "u1", "role": "user",
                                      "parts": [{"kind": "text", "text": "What is 2 + 2?"}]}}}
    body = "".join(f"data: {json.dumps(e)}\r\n\r\n" for e in events)
    doc = {"version": 1, "interactions": [{
        "request": {"body": json.dumps(request), "headers": {}, "method": "POST", "uri": "http://localhost:9999/"},
        "response": {"body": {"string": body}, "headers": {"content-type": ["text/event-stream"]},
                     "status": {"code": 200, "message": "OK"}}}]}
    path = tmp_path / "a2a.yaml"
    path.write_text(yaml.safe_dump(doc))
    return path


def test_a2a_1_0_spelling_wrapped_results_and_screaming_states():
    def v1(key: str, inner: dict) -> dict:
        return {"jsonrpc": "2.0", "id": 7, "result": {key: inner}}

    chunks = [v1("task", {"id": "t1", "contextId": "c1", "status": {"state": "TASK_STATE_SUBMITTED"}}),
              v1("statusUpdate", {"taskId": "t1", "contextId": "c1", "status": {"state": "TASK_STATE_WORKING"}}),
              v1("artifactUpdate", {"taskId": "t1", "contextId": "c1",
                                    "artifact": {"artifactId": "a", "parts": [{"text": "Four"}]}}),
              v1("artifactUpdate", {"taskId": "t1", "contextId": "c1", "append": True, "lastChunk": True,
                                    "artifact": {"artifactId": "a", "parts": [{"text": "."}, {"data": {"n": 4}}]}}),
              v1("statusUpdate", {"taskId": "t1", "contextId": "c1", "status": {"state": "TASK_STATE_COMPLETED"}})]
    assert all(dialects.sniff(c) == "a2a" for c in chunks)
    result = a2a.fold(chunks, CTX)
    message = result.choices[0]
    assert (message.content, message.finish_reason, message.stop) == ("Four.", "TASK_STATE_COMPLETED", "stop")
    assert result.complete and "kind" not in result.response["result"]
    assert result.response["result"]["artifacts"][0]["parts"][-1] == {"data": {"n": 4}}
    question = v1("statusUpdate", {"taskId": "t1", "status": {"state": "TASK_STATE_INPUT_REQUIRED", "message": {
        "role": "ROLE_AGENT", "messageId": "q", "parts": [{"text": "Which city?"}]}}})
    result = a2a.fold([question], CTX)
    assert (result.choices[0].content, result.choices[0].stop, result.complete) == ("Which city?", "stop", True)
    assert result.choices[0].finish_reason in a2a.FINISH_REASONS
    # GetTask answers with the bare Task; a wrapper must hold what its object needs to be A2A's.
    got = {"jsonrpc": "2.0", "id": 8, "result": {"id": "t1", "status": {"state": "TASK_STATE_FAILED"}}}
    assert dialects.sniff(got) == "a2a" and a2a.fold_body(got, CTX).choices[0].stop == "error"
    assert dialects.sniff({"jsonrpc": "2.0", "id": 9, "result": {"message": {"text": "ok"}}}) is None


_JSON = st.recursive(st.none() | st.booleans() | st.integers(-2**63, 2**63 - 1) | st.text(max_size=5),
                     lambda inner: st.lists(inner, max_size=3) | st.dictionaries(
                         st.sampled_from(["kind", "id", "text", "parts", "role", "state", "status", "message",
                                          "artifact", "artifactId", "append", "final", "result", "error"]),
                         inner, max_size=4), max_leaves=12)


@settings(max_examples=150, deadline=None)
@given(st.data())
def test_any_value_anywhere_is_read_or_refused_by_name_never_a_crash(data):
    """Recordings are untrusted: a value of any type at any place of an A2A stream's events folds
    (and sniffs) without a crash, or is a ShapeError that names the chunk."""
    chunks = json.loads(json.dumps(HAND_BUILT))
    for _ in range(data.draw(st.integers(1, 3))):
        target = chunks[data.draw(st.integers(0, len(chunks) - 1))]
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
    for chunk in chunks:
        dialects.sniff(chunk)
    try:
        result = a2a.fold(chunks, CTX)
    except ShapeError as exc:
        assert exc.where and exc.where.startswith("chunk ")
        return
    orjson.dumps(result.response)
    [m.model_dump() for m in result.choices]
