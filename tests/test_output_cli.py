"""Every output of every command, given hostile recordings: values nested 255–1,000 levels
deep, terminal-active characters (C1, bidi, zero-width, separators) and credentials in
recorded text, and megabytes of content. Exit 0/1 with the output, never an internal error;
no raw unsafe character and no credential on stdout or stderr (``reassemble`` keeps the
provider's content as recorded); long texts cut in ``show`` unless ``--all``."""

from __future__ import annotations

import io
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st
from rich.console import Console, Group
from rich.text import Text
from typer.testing import CliRunner

from llmtrace.cli import app
from llmtrace.commands import reassemble, show
from llmtrace.render.layout import Wrapped
from llmtrace.render.recording import BODY_CHARS

ENV = {**os.environ, "NO_COLOR": "1", "COLUMNS": "100"}
UNSAFE = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u061c\u200b-\u200f\u2028-\u202e\u2060\u2066-\u2069\ufeff]")
HOSTILE = "zw\u200b\u200c\u200d\u2060\ufeff c1\x85\x9b[2J bidi\u202e\u2066\u200f\u061c sep\u2028\u2029 del\x7f"


def openai_key() -> str:
    return "sk-" + "proj-" + "A1b2" * 10


def google_key() -> str:
    return "AIza" + "Sy" + "B1c2D3e4" * 4 + "x"


def chunk(delta: dict, finish: str | None = None) -> dict:
    return {"id": "c1", "object": "chat.completion.chunk", "created": 1, "model": "m",
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}


def sse(path: Path, *deltas: dict) -> Path:
    finish = "tool_calls" if any("tool_calls" in d for d in deltas) else "stop"
    events = [chunk(d) for d in deltas] + [chunk({}, finish)]
    path.write_bytes(b"".join(b"data: " + orjson.dumps(e) + b"\n\n" for e in events) + b"data: [DONE]\n\n")
    return path


def tool_call(arguments: str) -> dict:
    return {"tool_calls": [{"index": 0, "id": "call_1", "type": "function",
                            "function": {"name": "f", "arguments": arguments}}]}


def plain(path: Path, body: object, status: int = 200, url: str = "http://x/v1/models") -> Path:
    """A recording of one plain (not streamed) response; ``body`` as JSON bytes when it is
    nested deeper than orjson writes."""
    raw = body if isinstance(body, bytes) else orjson.dumps(body)
    path.write_bytes(b'{"request":' + orjson.dumps({"url": url, "method": "GET"})
                     + b',"response":{"status":%d,"body":' % status + raw + b"}}")
    return path


def cli(*args: str) -> subprocess.CompletedProcess:
    """``llmtrace ARGS`` in a process of its own (stdout, stderr, exit code)."""
    return subprocess.run([sys.executable, "-m", "llmtrace", *args], capture_output=True, env=ENV, timeout=120)


def invoke(*args: str) -> tuple[int, bytes, bytes]:
    """``llmtrace ARGS`` in this process (faster): exit code, stdout, stderr."""
    result = CliRunner().invoke(app, list(args), env={"NO_COLOR": "1", "COLUMNS": "100"})
    return result.exit_code, result.stdout_bytes, result.stderr_bytes


def render(paths: list[Path], width: int = 100, **options) -> tuple[int, str]:
    console = Console(file=io.StringIO(), width=width, force_terminal=False, color_system=None, highlight=False,
                      markup=False)
    code = show.run([str(p) for p in paths], console=console, **options)
    return code, console.file.getvalue()


# --- deep nesting (255–1,000 levels) -----------------------------------------------------------

@pytest.mark.parametrize("depth", [255, 300, 1000])
def test_deep_plain_body(tmp_path, depth, capsysbinary):
    expected = b'{"data":' + b"[" * depth + b"1" + b"]" * depth + b"}"
    path = plain(tmp_path / "deep.json", expected)
    assert reassemble.run(str(path)) == 0
    assert capsysbinary.readouterr().out == expected + b"\n"
    assert reassemble.run(str(path), normalized=True) == 0
    assert expected in capsysbinary.readouterr().out
    assert show.run([str(path)], as_json=True) == 0
    out = capsysbinary.readouterr().out
    assert orjson.loads(out)["exchanges"][0]["response"]["status"] == 200
    code, text = render([path])
    assert code == 0 and "data" in text


@pytest.mark.parametrize("depth", [255, 300, 1000])
def test_deep_tool_arguments(tmp_path, depth, capsysbinary):
    arguments = '{"a":' + "[" * depth + "1" + "]" * depth + "}"
    path = sse(tmp_path / "deep.sse", {"role": "assistant", **tool_call(arguments)})
    assert reassemble.run(str(path)) == 0
    out = capsysbinary.readouterr().out
    assert orjson.loads(out)["choices"][0]["message"]["tool_calls"][0]["function"]["arguments"] == arguments
    assert reassemble.run(str(path), normalized=True) == 0
    assert b'"parsed_arguments":' + arguments.encode() in capsysbinary.readouterr().out
    assert show.run([str(path)], as_json=True) == 0
    assert b'"parsed_arguments":' + arguments.encode() in capsysbinary.readouterr().out
    code, text = render([path], width=100)
    assert code == 0
    # On one line (folded at the width), not indented 1,000 levels deep.
    flat = "".join(line.strip() for line in text.splitlines())
    assert arguments in flat
    assert len(text) < 20 * len(arguments) + 20_000


def test_deep_values_through_the_cli(tmp_path):
    path = sse(tmp_path / "deep.sse", {"role": "assistant", **tool_call("[" * 1000 + "]" * 1000)})
    for args in (["reassemble"], ["show", "--json"], ["show"], ["check", "--json"]):
        code, out, err = invoke(*args, str(path))
        assert code in (0, 1), err
        assert b"internal error" not in err
    proc = cli("show", str(path))
    assert proc.returncode == 0 and proc.stderr == b""


# --- escapes and masks in every output ---------------------------------------------------------

def hostile_recordings(tmp_path: Path) -> tuple[Path, Path]:
    key = openai_key()
    text = f"{HOSTILE} key {key} end"
    stream = sse(tmp_path / "hostile.sse", {"role": "assistant", "content": text},
                 tool_call(orjson.dumps({"q": text}).decode()))
    failed = plain(tmp_path / "failed.json", {"error": {"message": f"Incorrect API key provided: {key} {HOSTILE}"}},
                   status=401, url=f"https://api.example.com/v1/chat/completions?key={google_key()}")
    return stream, failed


def assert_safe(out: bytes, secrets: bool = True) -> None:
    text = out.decode()
    assert not UNSAFE.search(text.replace("\n", "").replace("\t", "")), UNSAFE.search(text)
    if secrets:
        assert openai_key() not in text and google_key() not in text


@pytest.mark.parametrize("args", [["show", "--json"], ["show"], ["check", "--json"], ["check"],
                                  ["scan", "-j", "1", "--jsonl"], ["scan", "-j", "1"], ["reassemble", "--normalized"]])
def test_no_unsafe_character_and_no_credential_in_any_output(tmp_path, args):
    stream, failed = hostile_recordings(tmp_path)
    for path in (stream, failed):
        code, out, err = invoke(*args, str(path))
        assert code in (0, 1), err
        # reassemble keeps the provider's content as recorded, credentials in it included.
        content_kept = args[0] == "reassemble" and path == stream
        assert_safe(out, secrets=not content_kept)
        assert_safe(err)


def test_diff_json_is_escaped_and_masked(tmp_path):
    stream, _ = hostile_recordings(tmp_path)
    other = sse(tmp_path / "other.sse", {"role": "assistant", "content": "plain"})
    code, out, err = invoke("diff", "--json", str(stream), str(other))
    assert code == 1, err
    assert_safe(out)
    assert any("\u202e" in str(d["a"]) for d in json.loads(out))


def test_reassemble_keeps_content_and_masks_errors_and_urls(tmp_path):
    stream, failed = hostile_recordings(tmp_path)
    proc = cli("reassemble", str(stream))
    assert proc.returncode == 0
    assert_safe(proc.stdout, secrets=False)
    content = json.loads(proc.stdout)["choices"][0]["message"]["content"]
    assert content == f"{HOSTILE} key {openai_key()} end"  # escaped in JSON, the same when parsed
    proc = cli("reassemble", str(failed))
    assert proc.returncode == 1
    assert_safe(proc.stdout)
    assert_safe(proc.stderr)
    assert "sk-proj-***" in json.loads(proc.stdout)["error"]["message"]
    assert "sk-proj-***" in proc.stderr.decode()
    opaque = plain(tmp_path / "urls.json", {"next": f"https://u:{'s3cr' + 'etPw'}@example.com/p?api_key={openai_key()}",
                                            "text": f"api_key={openai_key()}"})
    code, out, err = invoke("reassemble", str(opaque))
    body = json.loads(out)
    assert "s3cretPw" not in body["next"] and openai_key() not in body["next"]
    assert body["text"] == f"api_key={openai_key()}"


def test_show_escapes_zero_width_and_bidi(tmp_path):
    stream, _ = hostile_recordings(tmp_path)
    code, text = render([stream], width=300)
    assert code == 0
    assert_safe(text.encode())
    assert "zw\\u200b\\u200c\\u200d\\u2060\\ufeff" in text
    assert "sk-proj-***" in text


# --- long texts --------------------------------------------------------------------------------

def words(n: int, last: str) -> str:
    return ("lorem ipsum dolor sit amet\n" * (n // 27 + 1))[:n - len(last)] + last


def test_long_texts_are_cut_with_a_note_and_whole_with_all(tmp_path):
    n = BODY_CHARS + 5_000
    content, reasoning = words(n, "CONTENT-END"), words(n, "REASONING-END")
    arguments = orjson.dumps({"text": words(n, "ARGS-END")}).decode()
    path = sse(tmp_path / "long.sse", {"role": "assistant", "reasoning_content": reasoning},
               {"content": content}, tool_call(arguments))
    code, text = render([path])
    assert code == 0
    more = f"… {n - BODY_CHARS:,} more characters (--all shows everything)"
    assert text.count(more) == 2  # content, reasoning
    assert "more characters (--all shows everything)" in text.split("tool call f")[1]
    for end in ("CONTENT-END", "REASONING-END", "ARGS-END"):
        assert end not in text
    code, text = render([path], all_chunks=True)
    assert code == 0
    assert "more characters" not in text
    for end in ("CONTENT-END", "REASONING-END", "ARGS-END"):
        assert end in text


def test_long_error_text_and_opaque_bodies_are_cut(tmp_path):
    failed = plain(tmp_path / "failed.json", {"error": {"message": words(BODY_CHARS * 2, "ERROR-END")}}, status=500)
    code, text = render([failed])
    assert "more characters (--all shows everything)" in text and "ERROR-END" not in text
    many = plain(tmp_path / "many.json", {f"k{i}": i for i in range(1000)})
    code, text = render([many])
    assert "900 more keys (--all shows everything)" in text and "k999" not in text
    code, text = render([many], all_chunks=True)
    assert "k999" in text


def test_one_huge_chunk_in_the_timeline(tmp_path):
    path = sse(tmp_path / "huge.sse", {"role": "assistant", "content": words(2_000_000, "END")})
    code, text = render([path])
    assert code == 0
    flat = " ".join(text.split())
    assert "1,999,840 more characters (--all shows everything)" in flat  # the timeline cell
    assert len(text) < 100_000


# --- rendering line by line --------------------------------------------------------------------

def rendered(renderable, width: int, color: bool) -> str:
    console = Console(file=io.StringIO(), width=width, force_terminal=color,
                      color_system="truecolor" if color else None)
    console.print(renderable)
    return console.file.getvalue()


@given(st.text(alphabet=st.sampled_from("ab \n\t-xyz"), max_size=300), st.integers(min_value=5, max_value=40),
       st.sampled_from(["fold", "ellipsis", "crop"]), st.booleans())
def test_wrapped_renders_as_rich_does(s, width, overflow, color):
    text = Text(s, style="red", overflow=overflow)
    text.stylize("bold", 0, len(s) // 2)
    # In a Group: console.print would join a bare Text with others and drop its overflow.
    assert rendered(Group(Wrapped(text)), width, color) == rendered(Group(text), width, color)
