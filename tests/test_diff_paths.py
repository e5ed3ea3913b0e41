"""Diff paths round-trip: every key and index a recording can hold is written so that
``parse_path`` gives it back, and the path ``diff --json`` prints, fed to ``--ignore``, removes
exactly that difference."""

from __future__ import annotations

import contextlib
import copy
import io
import json
import tempfile
from pathlib import Path

import orjson
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from conftest import SEED
from llmtrace.commands import diff
from llmtrace.compare import format_path, parse_path, value_diff
from llmtrace.secrets import mask_text

# Keys that stress the notation: empty, quotes, backslashes, brackets, dots, stars, spaces,
# digits, controls, C1, DEL, bidi, zero-width, separators, markup, characters beyond the BMP.
TRICKY = ["", '"', "\\", "]", "[", ".", "*", "[*]", "[0]", '["a"]', "a.b", "a b", " ", "0", "-1", "a-b", "_",
          "é", "città", "\x00", "\n", "\t", "\x1b[31m", "\x7f", "\x9b", "\u202e", "\u200b", "\u2028", "\ufeff",
          "[red]x[/red]", "😀", "\U000e0041", '\\"]', "x\\u0041"]
# Any text, lone surrogates included (YAML and the standard library's JSON can produce them).
ANY_TEXT = st.text(st.characters(codec=None, exclude_categories=()), max_size=12)
KEYS = st.one_of(st.sampled_from(TRICKY + ["\ud800", "a\udfff"]), st.text(max_size=12), ANY_TEXT,
                 st.lists(st.sampled_from(TRICKY), max_size=4).map("".join))
STEPS = st.one_of(KEYS, st.integers(min_value=0, max_value=10**30))


@given(st.lists(st.one_of(STEPS, st.none()), min_size=1, max_size=8))
def test_any_tokens_format_and_parse_back(tokens):
    path = format_path(tokens)
    assert parse_path(path) == tokens
    # Nothing invisible or terminal-controlling in a path: what is shown is what --ignore takes.
    assert path.isprintable()


@pytest.mark.parametrize("tokens, path", [
    (["request", "params", "a b"], 'request.params["a b"]'),
    (["request", "params", ""], 'request.params[""]'),
    (["x", 'q"\\'], 'x["q\\"\\\\"]'),
    (["x", "\x9b\u202e\u200b"], 'x["\\u009b\\u202e\\u200b"]'),
    (["x", "\n\x1b"], 'x["\\n\\u001b"]'),
    (["x", "\ud800"], 'x["\\ud800"]'),
    (["x", "\U000e0041"], 'x["\\udb40\\udc41"]'),  # a format character beyond the BMP
    (["x", "😀", "città", "é"], 'x["😀"].città["é"]'),  # printable text stays as it is
    ([0, "a", "*"], '[0].a["*"]'),
    (["x", None], "x[*]"),
])
def test_how_keys_are_written(tokens, path):
    assert format_path(tokens) == path
    assert parse_path(path) == tokens


@pytest.mark.parametrize("typed, tokens", [
    ('x["\\u00e9"]', ["x", "é"]),  # any JSON escape may be typed
    ('x["raw\x9bkey"]', ["x", "raw\x9bkey"]),  # and raw characters
    ("x[007]", ["x", 7]),
])
def test_paths_as_typed(typed, tokens):
    assert parse_path(typed) == tokens


@pytest.mark.parametrize("bad", ['x["\\x41"]', 'x["\\u12"]', "x[\"a\\\n\"]", 'x[a]', 'x["a"'])
def test_bad_quoted_keys_are_refused(bad):
    with pytest.raises(ValueError):
        parse_path(bad)


def nest(steps: list, leaf, drop_last: bool = False):
    """The value that holds ``leaf`` at ``steps`` (keys: objects; indices: arrays padded with
    zeros); with ``drop_last`` the last step is missing (the key absent, the array one short)."""
    value = leaf
    for n, step in enumerate(reversed(steps)):
        last = n == 0
        if isinstance(step, int):
            value = [0] * step + ([] if last and drop_last else [value])
        else:
            value = {} if last and drop_last else {step: value}
    return value


SMALL_STEPS = st.lists(st.one_of(KEYS, st.integers(min_value=0, max_value=3)), min_size=1, max_size=6)


@given(SMALL_STEPS, st.booleans())
def test_value_diff_paths_parse_back_to_the_steps(steps, drop_last):
    [d] = value_diff(nest(steps, 1), nest(steps, 2, drop_last))
    assert d.change == ("removed" if drop_last else "changed")
    assert parse_path(d.path) == steps


# --- end to end: --json prints a path, --ignore takes it back ---------------------------------


class _Stdout(io.StringIO):
    """A stdout with a ``buffer``, as ``output.write_out`` writes bytes."""

    def __init__(self):
        super().__init__()
        self.buffer = io.BytesIO()


def run(a: Path, b: Path, ignore: list[str] = ()) -> tuple[int, list[dict]]:
    out = _Stdout()
    with contextlib.redirect_stdout(out):
        code = diff.run(str(a), str(b), as_json=True, ignore=ignore)
    return code, json.loads(out.buffer.getvalue())


def with_params(value) -> dict:
    recording = orjson.loads(SEED.read_bytes())
    recording["request"]["body"]["extra"] = value
    return recording


def with_arguments(value) -> dict:
    recording = orjson.loads(SEED.read_bytes())
    chunks = recording["response"]["body"]
    first, last = copy.deepcopy(chunks[0]), copy.deepcopy(chunks[-1])
    call = {"index": 0, "id": "call_1", "type": "function",
            "function": {"name": "get_weather", "arguments": orjson.dumps({"q": value}).decode()}}
    first["__data__"]["choices"][0]["delta"] = {"role": "assistant", "content": None, "tool_calls": [call]}
    last["__data__"]["choices"][0]["delta"] = {}
    last["__data__"]["choices"][0]["finish_reason"] = "tool_calls"
    recording["response"]["body"] = [first, last]
    return recording


PLACES = {
    "params": (with_params, ["request", "params", "extra"]),
    "arguments": (with_arguments, ["choices", 0, "tool_calls", 0, "parsed_arguments", "q"]),
}
# Keys a JSON file can hold (no lone surrogates: they are not UTF-8).
FILE_STEPS = st.lists(st.one_of(st.sampled_from(TRICKY), st.text(max_size=10), st.integers(min_value=0, max_value=3)),
                      min_size=1, max_size=5)


@pytest.fixture(scope="module")
def folder():
    with tempfile.TemporaryDirectory() as name:
        yield Path(name)


@settings(max_examples=60, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(place=st.sampled_from(sorted(PLACES)), steps=FILE_STEPS, drop_last=st.booleans())
def test_the_path_diff_prints_is_what_ignore_takes(folder, place, steps, drop_last):
    build, prefix = PLACES[place]
    expected = format_path(prefix + steps)
    assume(mask_text(expected) == expected)  # a credential-shaped key is masked in output
    a, b = folder / "a.json", folder / "b.json"
    a.write_bytes(orjson.dumps(build(nest(steps, "one"))))
    b.write_bytes(orjson.dumps(build(nest(steps, "two", drop_last))))
    code, differences = run(a, b)
    assert code == 1
    assert [(d["path"], d["change"]) for d in differences] == [(expected, "removed" if drop_last else "changed")]
    assert parse_path(differences[0]["path"]) == prefix + steps
    assert run(a, b, ignore=[differences[0]["path"]]) == (0, [])
