"""``duplicate-chunk``: a chunk sent twice, on real recordings with one chunk repeated."""

from __future__ import annotations

import copy

import orjson
import yaml

from conftest import CORPUS, DATA
from llmtrace.anomalies import detect
from llmtrace.loader import load

CHAT = DATA / "cassettes" / "crewAI" / "cassettes--test_usage_info_streaming_with_acall.yaml"
NEWLINES = CORPUS / "llama-stack" / "openai-chat-stream" / "8dc224342989.json"


def _codes(path) -> list[str]:
    recording = load(str(path))
    return [a.code for ex in recording.exchanges for a in detect(ex, recording)]


def _with_repeat(tmp_path, n: int):
    doc = yaml.safe_load(CHAT.read_text())
    body = doc["interactions"][0]["response"]["body"]["string"]
    events = body.split("\n\n")
    events.insert(n, events[n])
    doc["interactions"][0]["response"]["body"]["string"] = "\n\n".join(events)
    target = tmp_path / "dup.yaml"
    target.write_text(yaml.safe_dump(doc))
    return target


def test_a_resent_chunk_is_flagged_with_its_place(tmp_path):
    recording = load(str(_with_repeat(tmp_path, 3)))
    [finding] = [a for a in detect(recording.exchanges[0], recording) if a.code == "duplicate-chunk"]
    assert finding.chunks == [4] and finding.severity == "warning"
    assert "chunk 4 repeats chunk 3" in finding.message
    assert "duplicate-chunk" not in _codes(CHAT)


def test_repeated_short_tokens_are_not_a_resend():
    # Llama Stack's recorder writes the same id and created: 0 in every chunk, so two "\n" tokens
    # in a row are equal chunks, and so are two "4" tokens: the model's text, not a resend.
    assert "duplicate-chunk" not in _codes(NEWLINES)


def test_a_resent_chunk_without_per_chunk_fields_needs_real_text(tmp_path):
    doc = orjson.loads(NEWLINES.read_bytes())
    chunks = doc["response"]["body"]
    long = next(i for i, c in enumerate(chunks) if len((c["__data__"]["choices"][0]["delta"].get("content") or "").strip()) >= 4)
    chunks.insert(long, copy.deepcopy(chunks[long]))
    target = tmp_path / "dup.json"
    target.write_bytes(orjson.dumps(doc))
    assert "duplicate-chunk" in _codes(target)
