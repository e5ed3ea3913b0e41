"""Property: how a server cuts its output into chunks does not change the reassembled message.

Real corpus chat streams are re-chunked (text and tool-argument fragments split across new
chunks, adjacent continuation chunks merged into one) and folded again; the normalized
messages and usage must stay the same.
"""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conftest import SEED, corpus
from llmtrace.dialects import FoldContext
from llmtrace.dialects.openai_chat import REASONING_FIELDS, fold
from llmtrace.loader import load

FILES = corpus("openai-chat-stream") + corpus("openai-chat-on-completions-stream") + [SEED]
TEXT_FIELDS = ("content", "refusal", *REASONING_FIELDS)
# Per-chunk data (timeline, not message): a merge may drop the second chunk's.
PER_CHUNK = {"obfuscation", "created", "text", "seed", "token_id", "token_ids"}


def _id(path: Path) -> str:
    return f"{path.parent.name}/{path.stem}"


def stream(path: Path) -> list:
    return load(str(path)).exchanges[0].response.chunks


def folded(chunks: list) -> tuple[list[dict], dict]:
    result = fold(chunks, FoldContext(dialect="openai-chat"))
    return [m.model_dump() for m in result.choices], result.usage.model_dump()


# --- re-chunking ------------------------------------------------------------------------------


def _header(chunk: dict) -> dict:
    return {k: chunk[k] for k in ("id", "object", "created", "model") if k in chunk}


def split_points(chunk: dict) -> list[tuple]:
    """The fragments of ``chunk`` that can be split: (choice position, field) for text, and
    (choice position, "tool_calls", call position) for tool arguments."""
    out: list[tuple] = []
    for c, choice in enumerate(chunk.get("choices") or []):
        delta = choice.get("delta") or {}
        out += [(c, f) for f in TEXT_FIELDS if isinstance(delta.get(f), str) and len(delta[f]) > 1]
        calls = delta.get("tool_calls") or []
        for t, call in enumerate(calls):
            args = (call.get("function") or {}).get("arguments")
            # A call without index is continued by position: only the last one of the chunk.
            if isinstance(args, str) and len(args) > 1 and (call.get("index") is not None or t == len(calls) - 1):
                out.append((c, "tool_calls", t))
    return out


def split(chunks: list, at: int, pick: int, cut: int) -> None:
    """Cut one fragment of chunk ``at``: the chunk keeps the head, a new chunk right after it
    carries the tail."""
    points = split_points(chunks[at])
    if not points:
        return
    point = points[pick % len(points)]
    choice = chunks[at]["choices"][point[0]]
    delta = choice["delta"]
    head = {"index": choice["index"]} if "index" in choice else {}
    if point[1] == "tool_calls":
        call = delta["tool_calls"][point[2]]
        text = call["function"]["arguments"]
        k = 1 + cut % (len(text) - 1)
        call["function"]["arguments"] = text[:k]
        tail_call = {"index": call["index"]} if call.get("index") is not None else {}
        tail = {"tool_calls": [{**tail_call, "function": {"arguments": text[k:]}}]}
    else:
        text = delta[point[1]]
        k = 1 + cut % (len(text) - 1)
        delta[point[1]] = text[:k]
        tail = {point[1]: text[k:]}
    chunks.insert(at + 1, {**_header(chunks[at]), "choices": [{**head, "delta": tail}]})


def _single_choice(chunk) -> dict | None:
    choices = chunk.get("choices") if isinstance(chunk, dict) else None
    return choices[0] if isinstance(choices, list) and len(choices) == 1 and isinstance(choices[0], dict) else None


def merge(chunks: list, at: int) -> None:
    """Fold chunk ``at + 1`` into chunk ``at`` when it only continues the same choice: text
    fragments concatenated, a tool-argument fragment added to the same call, choice extras
    (last non-null) carried over."""
    if at + 1 >= len(chunks):
        return
    a, b = chunks[at], chunks[at + 1]
    ca, cb = _single_choice(a), _single_choice(b)
    if ca is None or cb is None or ca.get("index", 0) != cb.get("index", 0):
        return
    for key, value in b.items():
        if value is not None and key != "choices" and key not in PER_CHUNK and (key == "usage" or a.get(key) != value):
            return
    merged_choice = dict(ca)
    for key, value in cb.items():
        if value is None or key in ("index", "delta") or key in PER_CHUNK:
            continue
        if key in ("finish_reason", "logprobs"):
            return
        merged_choice[key] = value
    da, db = ca.get("delta") or {}, cb.get("delta") or {}
    merged = dict(da)
    for key, value in db.items():
        if value is None or key in PER_CHUNK:
            continue
        if key in TEXT_FIELDS and isinstance(value, str) and isinstance(da.get(key), (str, type(None))):
            merged[key] = (da.get(key) or "") + value
        elif key == "role" and (not da.get("role") or da["role"] == value):
            merged[key] = value
        elif key != "tool_calls" or not _merge_call(merged, value):
            return
    chunks[at] = {**a, "choices": [{**merged_choice, "delta": merged}]}
    del chunks[at + 1]


def _merge_call(delta: dict, calls: list) -> bool:
    """Add a continuation fragment (no id, no name) to the same call in ``delta``."""
    if len(calls) != 1 or not isinstance(calls[0], dict):
        return False
    call = calls[0]
    fn = call.get("function") or {}
    args = fn.get("arguments")
    if call.get("id") or fn.get("name") or not isinstance(args, str):
        return False
    mine = list(delta.get("tool_calls") or [])
    last = mine[-1] if mine else None
    last_args = (last.get("function") or {}).get("arguments") if last else None
    if last is not None and last.get("index") == call.get("index") and isinstance(last_args, str):
        mine[-1] = {**last, "function": {**last["function"], "arguments": last_args + args}}
    elif last is not None and call.get("index") is None:
        return False  # an index-less fragment would attach to whichever call came last
    else:
        mine.append(call)
    delta["tool_calls"] = mine
    return True


def rechunk(chunks: list, operations: list[tuple[bool, int, int, int]]) -> list:
    chunks = orjson.loads(orjson.dumps(chunks))
    for is_split, at, pick, cut in operations:
        if not chunks:
            break
        at %= len(chunks)
        if is_split:
            split(chunks, at, pick, cut)
        else:
            merge(chunks, at)
    return chunks


# --- tests ------------------------------------------------------------------------------------

OPERATIONS = st.lists(st.tuples(st.booleans(), st.integers(0, 10**6), st.integers(0, 10**3),
                                st.integers(0, 10**6)), max_size=40)


@pytest.mark.parametrize("path", FILES, ids=_id)
@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(operations=OPERATIONS)
def test_rechunking_keeps_the_message(path: Path, operations):
    chunks = stream(path)
    assert folded(rechunk(chunks, operations)) == folded(chunks)


@pytest.mark.parametrize("path", FILES, ids=_id)
def test_split_everything_then_merge_everything(path: Path):
    """The extremes: every fragment cut into single characters, then every continuation
    merged back; both change the chunk list (so the property above is not vacuous)."""
    chunks = stream(path)
    expected = folded(chunks)
    fine = orjson.loads(orjson.dumps(chunks))
    at = 0
    while at < len(fine):
        while split_points(fine[at]):
            split(fine, at, 0, 0)  # one character stays, the rest moves to the next chunk
        at += 1
    assert folded(fine) == expected
    coarse = orjson.loads(orjson.dumps(fine))
    at = 0
    while at < len(coarse) - 1:
        before = len(coarse)
        merge(coarse, at)
        at += len(coarse) == before
    assert folded(coarse) == expected
    if any(split_points(c) for c in chunks):
        assert len(fine) > len(chunks)
        assert len(coarse) < len(fine)
