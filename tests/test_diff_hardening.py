"""`llmtrace diff` on hostile and unusual input (issue #11): opaque bodies that differ inside
(the corpus's model lists crashed the human output), values nested as deep as the parsers go,
and recorded strings that must never reach the terminal raw."""

from __future__ import annotations

import copy
import itertools
import json
import re
from pathlib import Path

import orjson
import pytest

from conftest import SEED, corpus
from llmtrace.commands import diff
from llmtrace.compare import format_path

MODELS = corpus("models")  # two OpenAI-style /v1/models lists and an Ollama /api/ps, as recorded


def run(capsys, a, b, **options) -> tuple[int, str]:
    code = diff.run(str(a), str(b), **options)
    out, err = capsys.readouterr()
    assert err == ""
    return code, out


def write(path: Path, recording) -> Path:
    path.write_bytes(orjson.dumps(recording))
    return path


# --- opaque bodies -------------------------------------------------------------------------------


@pytest.mark.parametrize("a, b", list(itertools.combinations(MODELS, 2)), ids=lambda p: p.name)
def test_model_lists_of_the_corpus(capsys, monkeypatch, a, b):
    monkeypatch.setenv("NO_COLOR", "1")
    # Not a generation: the bodies differ, but only --strict counts them.
    code, out = run(capsys, a, b)
    assert "  ~ response.body" in out.splitlines()
    assert "internal error" not in out
    code, out = run(capsys, a, b, strict=True)
    assert code == 1
    lines = out.splitlines()
    at = lines.index("  ~ response.body")
    # Item by item when both are lists, else one replacement of the whole value.
    both_lists = "55d76d904607.json" not in (a.name, b.name)
    assert lines[at + 1].startswith("      ~ [0].id  " if both_lists else "      ~ (value)  ")
    assert lines[-1].endswith(", response 1 (body)")
    code, out = run(capsys, a, b, strict=True, as_json=True)
    assert code == 1 and "response.body" in [d["path"] for d in json.loads(out)]
    code, out = run(capsys, a, b, strict=True, stat=True)
    assert code == 1 and out.endswith(", response 1 (body)\n")


def opaque(tmp_path: Path, name: str, body) -> Path:
    return write(tmp_path / name, {"request": {"url": "http://x/v1/models"}, "response": {"body": body}})


@pytest.mark.parametrize("body_a, body_b, line", [
    ([{"id": "a"}], [{"id": "b"}], '      ~ [0].id  "a" → "b"'),  # the repro
    ({"a b": 1}, {"a b": 2}, '      ~ ["a b"]  1 → 2'),
    ({"x": {"": [1]}}, {"x": {"": [1, 2]}}, '      + .x[""][1]  2'),
    ([1], {"a": 1}, '      ~ (value)  [1] → {"a":1}'),
])
def test_opaque_bodies_that_differ_anywhere(capsys, tmp_path, monkeypatch, body_a, body_b, line):
    monkeypatch.setenv("NO_COLOR", "1")
    a, b = opaque(tmp_path, "a.json", body_a), opaque(tmp_path, "b.json", body_b)
    for strict in (False, True):
        code, out = run(capsys, a, b, strict=strict)
        assert code == int(strict)
        assert line.replace(".x", "x") in out.splitlines(), out


# --- deep nesting ----------------------------------------------------------------------------------


def deep(levels: int, leaf: str) -> tuple[str, list]:
    """The JSON text of a value ``levels`` containers deep (objects and arrays in turn) around
    the string ``leaf``, and the path steps to the leaf. Built as text: the standard library's
    encoder recurses, and orjson writes at most 254 levels."""
    steps = ["k" if n % 2 == 0 else 0 for n in range(levels)][::-1]
    opening = "".join('{"k":' if step == "k" else "[" for step in steps)
    closing = "".join("}" if step == "k" else "]" for step in reversed(steps))
    return f'{opening}"{leaf}"{closing}', steps


def at(value, steps: list):
    """What ``value`` holds at ``steps`` (None when a step is missing)."""
    for step in steps:
        try:
            value = value[step]
        except (KeyError, IndexError, TypeError):
            return None
    return value


PLACEHOLDER = "@@value@@"


def seed() -> dict:
    return orjson.loads(SEED.read_bytes())


def in_arguments(value) -> dict:
    recording = seed()
    chunks = recording["response"]["body"]
    first, last = copy.deepcopy(chunks[0]), copy.deepcopy(chunks[-1])
    call = {"index": 0, "id": "call_1", "type": "function",
            "function": {"name": "get_weather", "arguments": orjson.dumps({"q": value}).decode()}}
    first["__data__"]["choices"][0]["delta"] = {"role": "assistant", "content": None, "tool_calls": [call]}
    last["__data__"]["choices"][0]["delta"] = {}
    last["__data__"]["choices"][0]["finish_reason"] = "tool_calls"
    recording["response"]["body"] = [first, last]
    return recording


def in_body(value) -> dict:
    recording = seed()
    recording["request"]["url"] = "https://api.openai.com/v1/models"
    recording["request"]["endpoint"] = "/v1/models"
    recording["response"] = {"body": {"data": value}, "is_streaming": False}
    return recording


def in_params(value) -> dict:
    recording = seed()
    recording["request"]["body"]["metadata"] = value
    return recording


def deep_file(path: Path, build, text: str | None) -> Path:
    """A recording made by ``build`` with the JSON ``text`` as its value (None: no value)."""
    if text is None:
        return write(path, build(None))
    data = orjson.dumps(build(PLACEHOLDER)).decode()
    if build is in_arguments:  # the arguments are a JSON string inside the JSON file
        text = orjson.dumps(text).decode()[1:-1]
    path.write_text(data.replace(f'\\"{PLACEHOLDER}\\"' if build is in_arguments else f'"{PLACEHOLDER}"', text))
    return path


# Per place: the builder, the levels of the parsed document above the value (the arguments are a
# JSON document of their own, inside a string), and the path to the value. An opaque body is
# compared whole (the difference is the body, counted only with --strict); elsewhere the
# difference is at the leaf.
PLACES = {
    "arguments": (in_arguments, 1, ["choices", 0, "tool_calls", 0, "parsed_arguments", "q"]),
    "params": (in_params, 3, ["request", "params", "metadata"]),
    "body": (in_body, 3, ["response", "body"]),
}


@pytest.mark.parametrize("levels", [255, 300, 1000])
@pytest.mark.parametrize("place", sorted(PLACES))
def test_deep_values_are_compared_and_printed(capsys, tmp_path, monkeypatch, place, levels):
    """Files nested ``levels`` deep (orjson reads up to 1,024): diff in every output, no
    recursion or serialization-depth error."""
    monkeypatch.setenv("NO_COLOR", "1")
    build, above, prefix = PLACES[place]
    text_a, steps = deep(levels - above, "x")
    text_b, _ = deep(levels - above, "y")
    a = deep_file(tmp_path / "a.json", build, text_a)
    b = deep_file(tmp_path / "b.json", build, text_b)
    assert text_a in a.read_text() or place == "arguments"
    opaque = place == "body"
    steps = (["data"] if opaque else []) + steps
    path = format_path(prefix + ([] if opaque else steps))
    code, out = run(capsys, a, b, as_json=True, strict=opaque)
    [d] = orjson.loads(out)
    assert code == 1 and (d["path"], d["change"]) == (path, "changed")
    assert (at(d["a"], steps), at(d["b"], steps)) == (("x", "y") if opaque else (None, None))
    code, out = run(capsys, a, b, stat=True)
    assert out.startswith(f"{int(not opaque)} difference")
    code, out = run(capsys, a, b)
    leaf = f'~ {format_path(steps)}  "x" → "y"' if opaque else f'~ {path}  "x" → "y"'
    assert any(line.strip() == leaf for line in out.splitlines())
    # One side without the value: the whole deep value is the difference, printed in full.
    c = deep_file(tmp_path / "c.json", build, None)
    code, out = run(capsys, a, c, as_json=True, strict=True)
    removed = [d for d in orjson.loads(out) if d["path"] == format_path(prefix)]
    assert code == 1 and len(removed) == 1 and at(removed[0]["a"], [] if opaque else steps) is not None
    code, out = run(capsys, a, c, strict=True)
    assert code == 1 and f"{format_path(prefix)}" in out and '{"k":[{"k":[' in out


def test_deep_tool_definitions(capsys, tmp_path, monkeypatch):
    monkeypatch.setenv("NO_COLOR", "1")
    files = []
    for leaf in ("x", "y"):
        schema, steps = deep(900, leaf)
        recording = seed()
        function = {"name": "f", "parameters": PLACEHOLDER}
        recording["request"]["body"]["tools"] = [{"type": "function", "function": function}]
        path = tmp_path / f"{leaf}.json"
        path.write_text(orjson.dumps(recording).decode().replace(f'"{PLACEHOLDER}"', schema))
        files.append(path)
    code, out = run(capsys, *files, as_json=True)
    assert code == 1 and [d["path"] for d in orjson.loads(out)] == ["request.tools"]
    code, out = run(capsys, *files)
    lines = out.splitlines()
    assert code == 1 and "  ~ request.tools  f" in lines
    assert f'      ~ {format_path(["parameters"] + steps)}  "x" → "y"' in lines


# --- nothing raw on the terminal -------------------------------------------------------------------

# What must never reach the terminal raw: C0 controls but newline, C1, DEL, bidi, zero-width,
# line and paragraph separators.
UNSAFE = re.compile("[\x00-\x09\x0b-\x1f\x7f-\x9f\u061c\u200b-\u200f\u202a-\u202e\u2060\u2066-\u2069"
                    "\u2028\u2029\ufeff]")
HOSTILE = "[red]x[/red]\x1b[2J\x9b31m\u202eevil\u200bzw\u2028\x7f"


def hostile(leaf: str) -> dict:
    """A recording with hostile text in every kind of place a diff shows: tool names and
    definition keys, parameter keys, argument keys, message text, an opaque-free generation."""
    recording = in_arguments({HOSTILE: leaf, "k": {HOSTILE: [leaf]}})
    body = recording["request"]["body"]
    body["tools"] = [{"type": "function", "function": {
        "name": "tool" + HOSTILE, "parameters": {"properties": {HOSTILE: {"description": leaf}}}}}]
    body[HOSTILE] = {HOSTILE: leaf}
    body["messages"][0]["content"] = f"ask {HOSTILE} {leaf}"
    return recording


@pytest.mark.parametrize("strict", [False, True])
def test_no_recorded_string_reaches_the_terminal_raw(capsys, tmp_path, monkeypatch, strict):
    monkeypatch.setenv("NO_COLOR", "1")
    a = write(tmp_path / "a.json", hostile("one" + HOSTILE))
    b = write(tmp_path / "b.json", hostile("two" + HOSTILE))
    for options in ({}, {"as_json": True}, {"stat": True}):
        code, out = run(capsys, a, b, strict=strict, **options)
        assert code == 1
        assert not UNSAFE.search(out.replace("\n", "")), (options, UNSAFE.findall(out))
    code, out = run(capsys, a, b, strict=strict)
    # Rich markup in recorded text stays literal, escapes are shown as text.
    assert "[red]x[/red]" in out and "\\x1b" in out and "\\x9b" in out
    lines = out.splitlines()
    # Paths are written so that they can be typed back to --ignore.
    key = '["[red]x[/red]\\u001b[2J\\u009b31m\\u202eevil\\u200bzw\\u2028\\u007f"]'
    assert f'      ~ parameters.properties{key}.description  "one[red]x[/red]\\u001b[2J\\u009b31m\\u202eevil' \
        in "\n".join(lines)
    assert any(line.startswith(f"  ~ request.params{key}{key}  ") for line in lines)
    assert any(line.startswith(f"  ~ choices[0].tool_calls[0].parsed_arguments.q{key}  ") for line in lines)
    code, out = run(capsys, a, b, strict=strict, as_json=True,
                    ignore=[f"request.params{key}", "request.tools", "request.messages",
                            f"choices[*].tool_calls[*].parsed_arguments.q{key}",
                            "choices[0].tool_calls[0].parsed_arguments.q.k", "choices[0].tool_calls[0].arguments"])
    assert (code, json.loads(out)) == (0, [])


def test_colour_output_has_no_raw_character_but_its_own_styles(capsys, tmp_path, monkeypatch):
    monkeypatch.setenv("FORCE_COLOR", "1")
    monkeypatch.delenv("NO_COLOR", raising=False)
    a = write(tmp_path / "a.json", hostile("one" + HOSTILE))
    b = write(tmp_path / "b.json", hostile("two" + HOSTILE))
    code, out = run(capsys, a, b, strict=True)
    assert code == 1 and "\x1b[" in out
    assert not UNSAFE.search(re.sub(r"\x1b\[[0-9;]*m", "", out).replace("\n", ""))


def test_credentials_in_keys_and_values_are_masked(capsys, tmp_path, monkeypatch):
    monkeypatch.setenv("NO_COLOR", "1")
    key = "sk-" + "proj-" + "A1b2C3d4" * 6  # built here: no key-shaped string is committed
    recordings = []
    for leaf in ("one", "two"):
        recording = in_arguments({"token": f"Bearer {key}", "n": leaf})
        recording["request"]["body"]["extra"] = {key: leaf, "auth": f"{key} {leaf}"}
        recordings.append(write(tmp_path / f"{leaf}.json", recording))
    for options in ({}, {"as_json": True}, {"stat": True}, {"strict": True}):
        code, out = run(capsys, *recordings, **options)
        assert code == 1 and key not in out and key[:20] not in out, options


def test_relative_change_of_integers_beyond_a_float():
    from llmtrace.render.diff import relative

    assert relative(1, 10**400) == f"+{10**400 - 1}"
    assert relative(10**400, 2 * 10**400) == f"+{10**400}, +100.0%"
