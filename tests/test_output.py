"""llmtrace.output: JSON that is safe to ``cat`` (terminal-active characters escaped), exactly
orjson's bytes even where orjson refuses (deep nesting, big integers), credentials masked in
recorded strings, and single, bounded, masked stderr lines."""

from __future__ import annotations

import json
import re
import time

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from llmtrace.output import MASK_NONE, MASK_URLS, dumps, encode, mask_json, masked, one_line, readable_json
from llmtrace.secrets import mask_text

# Every character JSON output must not carry raw: C1, DEL, separators, bidi, zero-width, BOM.
UNSAFE_IN_JSON = re.compile("[\x7f-\x9f\u061c\u200b-\u200f\u2028-\u202e\u2060\u2066-\u2069\ufeff]")
UNSAFE_CHARS = ("\x7f\x80\x85\x9b\x9f\u061c\u200b\u200c\u200d\u200e\u200f\u2028\u2029\u202a\u202e\u2060"
                "\u2066\u2069\ufeff")


def openai_key() -> str:
    return "sk-" + "proj-" + "A1b2" * 10


def google_key() -> str:
    return "AIza" + "Sy" + "B1c2D3e4" * 4 + "x"


json_values = st.recursive(
    st.none() | st.booleans() | st.integers(min_value=-2**63, max_value=2**64 - 1)
    | st.floats(allow_nan=False, allow_infinity=False) | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=6), inner, max_size=4),
    max_leaves=25)


def nested_lists(depth: int, leaf: object = 1) -> object:
    value = leaf
    for _ in range(depth):
        value = [value]
    return value


def nested_lists_indented(depth: int) -> bytes:
    """What OPT_INDENT_2 writes for ``nested_lists(depth)``, built by hand."""
    opening = [b"  " * i + b"[" for i in range(depth)]
    closing = [b"  " * i + b"]" for i in reversed(range(depth))]
    return b"\n".join(opening + [b"  " * depth + b"1"] + closing)


# --- escapes -----------------------------------------------------------------------------------

@pytest.mark.parametrize("ch", list(UNSAFE_CHARS))
def test_each_unsafe_character_is_escaped_and_the_value_kept(ch):
    value = {"text": f"a{ch}b", f"key{ch}": [ch]}
    out = dumps(value)
    assert not UNSAFE_IN_JSON.search(out.decode())
    assert f"\\u{ord(ch):04x}".encode() in out
    assert orjson.loads(out) == value
    assert json.loads(out) == value


@given(json_values)
def test_escaped_json_parses_to_the_same_value(value):
    for indent in (False, True):
        out = dumps(value, indent=indent, mask=MASK_NONE)
        assert not UNSAFE_IN_JSON.search(out.decode())
        assert orjson.loads(out) == value


@given(json_values.filter(lambda v: not UNSAFE_IN_JSON.search(orjson.dumps(v).decode())))
def test_safe_json_is_orjson_byte_for_byte(value):
    option = orjson.OPT_NON_STR_KEYS
    assert dumps(value, mask=MASK_NONE) == orjson.dumps(value, option=option)
    assert dumps(value, indent=True, mask=MASK_NONE) == orjson.dumps(value, option=option | orjson.OPT_INDENT_2)


# --- beyond orjson's limits --------------------------------------------------------------------

@given(json_values)
def test_the_iterative_encoder_writes_orjson_bytes(value):
    option = orjson.OPT_NON_STR_KEYS
    assert b"".join(encode(value)) == orjson.dumps(value, option=option)
    assert b"".join(encode(value, indent=True)) == orjson.dumps(value, option=option | orjson.OPT_INDENT_2)


def test_non_string_keys_and_tuples_as_orjson_writes_them():
    value = {1: (1, 2), None: {}, 2.5: [], True: "x"}
    assert b"".join(encode(value)) == orjson.dumps(value, option=orjson.OPT_NON_STR_KEYS)


@pytest.mark.parametrize("depth", [255, 300, 1000])
def test_deep_values_are_written_exactly(depth):
    value = nested_lists(depth)
    assert dumps(value) == b"[" * depth + b"1" + b"]" * depth
    assert dumps(value, indent=True) == nested_lists_indented(depth)
    deep = {"a": nested_lists(depth, {"k": "\u202e"})}
    out = dumps(deep)
    assert out == b'{"a":' + b"[" * depth + b'{"k":"\\u202e"}' + b"]" * depth + b"}"
    if depth < 1000:  # orjson reads up to 1,024 levels
        assert orjson.loads(out) == deep


def test_deep_and_big_integers_together():
    value = nested_lists(300, {"id": 2**70, "n": -2**65})
    out = dumps(value)
    assert out == b"[" * 300 + b'{"id":1180591620717411303424,"n":-36893488147419103232}' + b"]" * 300
    assert json.loads(out) == value


def test_big_integers_keep_orjson_layout():
    assert dumps({"id": 2**64, "x": 1.5}) == b'{"id":18446744073709551616,"x":1.5}'
    assert dumps({"id": 2**64}, indent=True) == b'{\n  "id": 18446744073709551616\n}'


def test_readable_json_indents_what_orjson_can_and_folds_deeper_values():
    assert readable_json({"a": [1]}) == b'{\n  "a": [\n    1\n  ]\n}'
    assert readable_json(nested_lists(1000)) == b"[" * 1000 + b"1" + b"]" * 1000
    assert readable_json({"id": 2**64}) == b'{\n  "id": 18446744073709551616\n}'


def test_unknown_types_are_still_refused():
    with pytest.raises(TypeError):
        dumps({"x": object()})


# --- masking -----------------------------------------------------------------------------------

def test_credentials_in_strings_are_masked_keys_too():
    key = openai_key()
    value = {"content": f"my key is {key}, thanks", key: 1, "list": [f"Bearer {key}"],
             "url": f"https://u:{'p4ss' + 'W0rd'}@example.com/x?key={google_key()}"}
    out = dumps(value)
    text = out.decode()
    assert key not in text and google_key() not in text and "p4ssW0rd" not in text
    parsed = orjson.loads(out)
    assert parsed["content"] == "my key is sk-proj-***, thanks"
    assert "sk-proj-***" in parsed


@given(json_values)
def test_masking_json_is_masking_each_string(value):
    def masked_value(v):
        if isinstance(v, str):
            return mask_text(v)
        if isinstance(v, list):
            return [masked_value(x) for x in v]
        if isinstance(v, dict):
            return {mask_text(k): masked_value(x) for k, x in v.items()}
        return v
    assert orjson.loads(mask_json(orjson.dumps(value))) == masked_value(value)


@given(st.lists(st.sampled_from(["x=1", "a@b", "Bearer", "\\", '"', "sk-", "plain", "\n", "{", "]"]), max_size=12))
def test_masking_survives_escapes_and_structure_characters(words):
    key = openai_key()
    text = " ".join(words + [key] + words)
    value = {"a": [text, {"b": text}], "c": " ".join(words)}
    out = mask_json(orjson.dumps(value, option=orjson.OPT_INDENT_2))
    assert orjson.loads(out) == {"a": [mask_text(text), {"b": mask_text(text)}], "c": mask_text(" ".join(words))}
    assert key not in out.decode()


def test_text_without_a_candidate_is_the_same_object():
    out = orjson.dumps({"content": "nothing to see here", "n": [1, 2, 3]})
    assert mask_json(out) is out


def test_urls_only_keeps_content_and_masks_urls():
    key = openai_key()
    value = {"content": f"use {key} like this", "url": f"https://x.example/v1?api_key={key}", "note": "key=abc"}
    parsed = orjson.loads(dumps(value, mask=MASK_URLS))
    assert parsed["content"] == value["content"] and parsed["note"] == "key=abc"
    assert key not in parsed["url"] and parsed["url"].startswith("https://x.example/v1?api_key=")


def test_masking_is_linear():
    """Twice the text (full of candidates) takes about twice the time, not four times."""
    def timed(n: int) -> float:
        value = {"entries": [{"text": f"x={i} user@host Bearer"} for i in range(n)]}
        raw = orjson.dumps(value)
        best = float("inf")
        for _ in range(3):
            start = time.perf_counter()
            mask_json(raw)
            best = min(best, time.perf_counter() - start)
        return best
    small, large = timed(2_000), timed(8_000)
    assert large < small * 4 * 2.5  # linear: ~4x; quadratic would be ~16x


def test_masked_cuts_after_masking():
    key = openai_key()
    text = "x" * 94 + " " + key
    assert masked(text, 100) == ("x" * 94 + " sk-proj-***")[:100]
    assert masked(text, 120) == "x" * 94 + " sk-proj-***"  # the cut falls inside the key: still masked
    assert masked("short") == "short"


# --- stderr lines ------------------------------------------------------------------------------

def test_one_line_escapes_controls_bidi_and_zero_width():
    line = one_line("a\nb\x1b[31m\x9b\u202e\u200b\ufeffc")
    assert line == "a b\\x1b[31m\\x9b\\u202e\\u200b\\ufeffc"


def test_one_line_masks_and_bounds():
    key = openai_key()
    assert key not in one_line(f"error: {key}")
    assert "sk-proj-***" in one_line(f"error: {key}")
    long = one_line("y" * 10_000)
    assert long == "y" * 2000 + "… (8,000 more characters)"


_HINT_PARTS = ["sk-", "s", "k-", "AIza", "AKIA", "ASIA", "A", "eyJ", "ghp_", "gh", "github_pat_", "xoxb-", "xai-",
               "pplx-", "r8_", "fw_", "hf_", "gsk_", "ya29.", "earer", "EARER", "Bearer", "=", "@", "_", "-", ".",
               '"', "\\", "\u212a", "\u0130", "é", "\U0001f600", "x", "plain", " "]


@given(st.lists(st.sampled_from(_HINT_PARTS), max_size=16).map("".join), st.booleans())
def test_the_hint_test_is_a_substring_test_per_hint(text, as_bytes_search):
    """``mask_json``'s first test (text of up to 1 MiB searched decoded, by ``secrets``'s own
    searches; larger, per hint in the bytes) says what a substring test per hint says."""
    import llmtrace.output as output

    output._hints()
    out = orjson.dumps({"k": text, text: [text]})
    expected = any(hint in out for hint in output._HINT_BYTES)
    limit = output._SEARCH_AS_TEXT
    try:
        output._SEARCH_AS_TEXT = 0 if as_bytes_search else limit
        assert output._holds_hints(out) == expected
        assert output._holds_hints(out + b"\xff") == expected  # a stray byte decodes to U+FFFD
    finally:
        output._SEARCH_AS_TEXT = limit


@given(st.text(alphabet="a\x7f\x80\u2028\u202e\ufeff\u00e9{}\"\\", max_size=12))
def test_ascii_output_takes_the_short_way_to_the_same_escapes(text):
    from llmtrace.output import _JSON_UNSAFE, _escape_match, escape_json

    out = orjson.dumps([text, "plain"])
    assert escape_json(out) == _JSON_UNSAFE.sub(_escape_match, out)


class _CountingBuffer:
    def __init__(self) -> None:
        self.data = bytearray()
        self.writes = 0

    def write(self, data: bytes) -> int:
        self.writes += 1
        self.data += data
        return len(data)

    def flush(self) -> None:
        pass


@given(st.lists(st.binary(max_size=12), max_size=40), st.integers(1, 30))
def test_write_out_writes_each_part_on_its_line_in_few_writes(parts, block):
    """Whatever the parts and the block size: the parts, each followed by a newline; short parts
    gathered (with ``PYTHONUNBUFFERED`` each write is a system call), long ones written whole."""
    import sys
    import types

    import llmtrace.output as output

    buffer = _CountingBuffer()
    real_stdout, real_block = sys.stdout, output._WRITE_BLOCK
    sys.stdout, output._WRITE_BLOCK = types.SimpleNamespace(buffer=buffer), block
    try:
        output.write_out(parts)
    finally:
        sys.stdout, output._WRITE_BLOCK = real_stdout, real_block
    assert bytes(buffer.data) == b"".join(part + b"\n" for part in parts)
    long_parts = sum(len(part) >= block for part in parts)
    assert buffer.writes <= 1 + 3 * long_parts + sum(len(p) + 1 for p in parts) // block


def test_write_out_of_many_rows_is_a_few_writes(monkeypatch):
    import sys
    import types

    buffer = _CountingBuffer()
    monkeypatch.setattr(sys, "stdout", types.SimpleNamespace(buffer=buffer))
    from llmtrace.output import write_out

    write_out([b'{"file": "x.json", "exchange": 0}'] * 10_000)
    assert buffer.writes == 1 and bytes(buffer.data).count(b"\n") == 10_000


def _spoil(value, byte: str, escape: str):
    """Every string value of ``value`` with ``byte`` and ``escape`` inserted."""
    if isinstance(value, str):
        return value[:3] + byte + value[3:] + escape
    if isinstance(value, dict):
        return {k: _spoil(v, byte, escape) for k, v in value.items()}
    if isinstance(value, list):
        return [_spoil(v, byte, escape) for v in value]
    return value


@given(st.recursive(st.text() | st.integers() | st.none(),
                    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
                    max_leaves=12))
def test_lone_surrogates_are_written_as_replacement_characters(value):
    """Strings holding lone surrogates (a file name whose bytes are not UTF-8, as ``os.fsdecode``
    keeps them; a ``\\ud800`` a YAML cassette decoded), which orjson refuses: each one is
    U+FFFD in the output, everything else as it was; valid values are left alone."""
    from llmtrace.output import without_surrogates

    assert without_surrogates(value) == value
    spoiled = _spoil(value, "\udce9", "\ud800")
    assert json.loads(dumps(spoiled, mask=MASK_NONE)) == _spoil(value, "\ufffd", "\ufffd")


def test_a_key_with_a_surrogate_too():
    assert orjson.loads(dumps({"caf\udce9": ["x\udcff"]})) == {"caf\ufffd": ["x\ufffd"]}


def test_a_surrogate_deeper_than_orjson_nests():
    """Past orjson's depth (the iterative encoder's case) and a surrogate at the bottom."""
    deep: list = ["caf\udce9"]
    for _ in range(3000):
        deep = [deep]
    out = dumps(deep, mask=MASK_NONE)
    assert out.startswith(b"[" * 3001 + b'"caf\xef\xbf\xbd"')
