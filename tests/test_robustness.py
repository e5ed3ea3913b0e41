"""Hostile or broken values anywhere in a real recording: llmtrace either reads it or says what
is wrong (UnreadableInput, one line), never anything else."""

from __future__ import annotations

import copy

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conftest import CORPUS, SEED, corpus, left_out
from llmtrace.anomalies import detect
from llmtrace.commands.reassemble import normalized_json, provider_json
from llmtrace.errors import UnreadableInput
from llmtrace.loader import load
from llmtrace.output import dumps

SOURCES = [SEED, corpus("openai-chat-stream")[0], corpus("openai-completion")[0], corpus("ollama-chat-stream")[0],
           corpus("gemini-stream")[0], corpus("gemini")[0], CORPUS / "llama-stack/raw-sse/557ab35eb5de.json",
           corpus("openai-completion-stream")[0]]
DOCS = [orjson.loads(p.read_bytes()) for p in SOURCES]
VALUES = st.sampled_from([None, 0, -1, 1.5, "", "x", [], {}, [1], {"a": 1}, True, "[red]x[/red]", "\x1b[31m"])


def _paths(value, path=()):
    yield path
    if isinstance(value, dict):
        for key, item in value.items():
            yield from _paths(item, path + (key,))
    elif isinstance(value, list):
        for i, item in enumerate(value[:30]):
            yield from _paths(item, path + (i,))


PATHS = [list(_paths(doc))[1:] for doc in DOCS]


def _survives(data: bytes, tmp_path) -> None:
    path = tmp_path / "mutated.json"
    path.write_bytes(data)
    try:
        recording = load(str(path))
    except UnreadableInput as exc:
        assert "\n" not in exc.line()
        return
    for exchange in recording.exchanges:
        detect(exchange, recording)
        dumps(provider_json(exchange))
        dumps(normalized_json(exchange))


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_any_value_replaced_anywhere(tmp_path, data):
    which = data.draw(st.integers(0, len(DOCS) - 1))
    doc = copy.deepcopy(DOCS[which])
    for _ in range(data.draw(st.integers(1, 3))):
        path = data.draw(st.sampled_from(PATHS[which]))
        target = doc
        try:
            for key in path[:-1]:
                target = target[key]
            target[path[-1]] = copy.deepcopy(data.draw(VALUES))
        except (KeyError, IndexError, TypeError):
            continue  # an earlier replacement removed this path
    _survives(orjson.dumps(doc, option=orjson.OPT_NON_STR_KEYS), tmp_path)  # a replaced list may get int keys


def test_fuzz_regression_choice_not_an_object(tmp_path):
    doc = copy.deepcopy(DOCS[0])
    doc["response"]["body"][10]["__data__"]["choices"] = [3]
    assert left_out(_write(tmp_path, doc)) == [(10, "choice should be an object")]  # kept, chunk left out


def test_fuzz_regression_unhashable_object_field_is_sniffed_safely(tmp_path):
    doc = copy.deepcopy(DOCS[0])
    doc["response"]["body"][3]["__data__"]["object"] = ["x"]  # not used by the fold: still readable
    assert load(str(_write(tmp_path, doc))).exchanges[0].dialect == "openai-chat"


def test_fuzz_regression_gemini_finish_reason_object(tmp_path):
    doc = orjson.loads(corpus("gemini-stream")[0].read_bytes())
    doc["response"]["body"][-1]["candidates"][0]["finish_reason"] = {"a": 1}
    n = len(doc["response"]["body"]) - 1
    assert left_out(_write(tmp_path, doc)) == [(n, "finish_reason should be a string")]


def _write(tmp_path, doc):
    path = tmp_path / "doc.json"
    path.write_bytes(orjson.dumps(doc))
    return path
