"""A chunk file holding several complete streams back to back is one exchange per stream (issue 23,
rule 6): blocks of different messages never collide by index."""

from __future__ import annotations

import json
import subprocess
import sys

import llmtrace
from conftest import DATA
from llmtrace.anomalies import detect

MULTI = DATA / "multi_stream"


def test_three_anthropic_messages_are_three_exchanges():
    recording = llmtrace.load(str(MULTI / "anthropic-three-messages.sse"))
    assert [ex.index for ex in recording.exchanges] == [0, 1, 2]
    messages = [ex.result.choices[0] for ex in recording.exchanges]
    assert [m.content for m in messages] == ["Let me check.", "It is sunny in Paris. Now Rome.", "Both are sunny."]
    assert [[c.parsed_arguments for c in m.tool_calls] for m in messages] == \
        [[{"city": "Paris", "unit": "c"}], [{"city": "Rome", "unit": "c"}], []]
    assert all(ex.result.complete for ex in recording.exchanges)
    assert not [a for ex in recording.exchanges for a in detect(ex) if a.severity != "info"]


def test_responses_streams_back_to_back_in_json_lines():
    recording = llmtrace.load(str(MULTI / "responses-two-streams.jsonl"))
    assert [ex.result.choices[0].content for ex in recording.exchanges] == ["First answer.", "Second answer."]
    assert [ex.result.response["id"] for ex in recording.exchanges] == ["resp_1", "resp_2"]


def test_reassemble_prints_one_line_per_stream():
    out = subprocess.run([sys.executable, "-m", "llmtrace", "reassemble", str(MULTI / "anthropic-three-messages.sse")],
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert [json.loads(line)["id"] for line in out.stdout.splitlines()] == ["msg_1", "msg_2", "msg_3"]


def test_a_cut_last_stream_keeps_the_cut_on_the_last_exchange(tmp_path):
    text = (MULTI / "anthropic-three-messages.sse").read_text()
    cut = text[:text.rindex("event: message_delta")]
    path = tmp_path / "cut.sse"
    path.write_text(cut)
    first, second, third = llmtrace.load(str(path)).exchanges
    assert first.result.complete and second.result.complete and not third.result.complete


def test_a_single_stream_stays_one_exchange(tmp_path):
    text = (MULTI / "anthropic-three-messages.sse").read_text()
    one = text[:text.index("event: message_start", 10)]
    path = tmp_path / "one.sse"
    path.write_text(one)
    (ex,) = llmtrace.load(str(path)).exchanges
    assert ex.result.choices[0].content == "Let me check."
