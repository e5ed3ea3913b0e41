"""`llmtrace reassemble` end to end, as a user runs it (a subprocess: real stdout/stderr)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from conftest import SEED, corpus, run_on_terminal

ENV = {**os.environ, "NO_COLOR": "1"}


def run(*args: str, stdin: bytes | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "llmtrace", *args], input=stdin, capture_output=True,
                          env=ENV, timeout=60)


def test_seed_gives_a_chat_completion():
    proc = run("reassemble", str(SEED))
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == b""
    out = json.loads(proc.stdout)
    assert out["object"] == "chat.completion"
    assert out["id"] == "oCfxg3w-4Yz4kd-984c2d684c778f6d"
    assert out["choices"] == [{
        "index": 0,
        "message": {"role": "assistant",
                    "content": '{"type": "function", "name": "get_weather", "parameters": {"city": "Tokyo"}}',
                    "refusal": None},
        "finish_reason": "stop",
        "logprobs": None,
    }]
    assert out["usage"]["prompt_tokens"] == 42
    # Piped: compact, one line.
    assert proc.stdout.count(b"\n") == 1


def test_stdin_and_normalized():
    proc = run("reassemble", "-", "--normalized", stdin=SEED.read_bytes())
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    assert set(out) == {"container", "dialect", "fidelity", "model", "choices", "usage"}
    assert out["fidelity"] == "chunks"
    assert out["dialect"] == "openai-chat" and out["container"] == "llama-stack"
    assert set(out["choices"][0]) == {"index", "role", "content", "reasoning", "refusal", "tool_calls",
                                      "finish_reason", "stop"}
    assert out["usage"] == {"input_tokens": 42, "output_tokens": 24, "total_tokens": 66, "cached_tokens": 0,
                            "reasoning_tokens": None}


def test_non_ascii_is_kept_as_is():
    for path in corpus("openai-chat-stream"):
        proc = run("reassemble", str(path))
        text = proc.stdout.decode()
        if "\\u00" in text:
            pytest.fail(f"{path}: non-ASCII escaped")


def test_streamed_tool_call_is_reassembled():
    found = False
    for path in corpus("openai-chat-stream"):
        out = json.loads(run("reassemble", str(path)).stdout)
        for choice in out["choices"]:
            for call in choice["message"].get("tool_calls", []):
                found = True
                assert call["type"] == "function" and call["function"]["name"]
                json.loads(call["function"]["arguments"] or "{}")
    assert found, "the corpus has streamed tool calls"


def test_recorded_exception(tmp_path):
    path = corpus("exception")[0]
    proc = run("reassemble", str(path))
    assert proc.returncode == 1
    out = json.loads(proc.stdout)
    assert out["status"] == 400 and out["error"]["type"] == "BadRequestError"
    lines = proc.stderr.decode().splitlines()
    assert len(lines) == 1 and "recorded error: status 400" in lines[0] and str(path) in lines[0]


def test_non_streaming_body_is_unwrapped():
    path = corpus("openai-chat")[0]
    raw = json.loads(path.read_text())["response"]["body"]["__data__"]
    proc = run("reassemble", str(path))
    assert proc.returncode == 0 and json.loads(proc.stdout) == raw


def test_stream_without_finish_is_shown_and_warned(tmp_path):
    doc = json.loads(SEED.read_text())
    doc["response"]["body"] = doc["response"]["body"][:10]
    path = tmp_path / "cut.json"
    path.write_text(json.dumps(doc))
    proc = run("reassemble", str(path))
    assert proc.returncode == 0
    out = json.loads(proc.stdout)
    assert out["choices"][0]["finish_reason"] is None
    assert out["choices"][0]["message"]["content"].startswith('{"type": "function"')
    assert "without a finish" in proc.stderr.decode()


@pytest.mark.parametrize("data", [b"not json", b'{"request": {', b"[]", b'{"x": 1}'])
def test_unreadable_input_exit_2_nothing_on_stdout(tmp_path, data):
    path = tmp_path / "bad.json"
    path.write_bytes(data)
    proc = run("reassemble", str(path))
    assert proc.returncode == 2
    assert proc.stdout == b""
    err = proc.stderr.decode()
    assert err.count("\n") == 1 and err.startswith(f"llmtrace: {path}: ")
    assert "Traceback" not in err


def test_index_option_and_out_of_range():
    proc = run("reassemble", str(SEED), "--index", "0")
    assert proc.returncode == 0 and json.loads(proc.stdout)["object"] == "chat.completion"
    proc = run("reassemble", str(SEED), "--index", "3")
    assert proc.returncode == 2 and proc.stdout == b""
    assert "out of range" in proc.stderr.decode()


def test_input_file_is_never_modified(tmp_path):
    before = SEED.read_bytes()
    run("reassemble", str(SEED))
    assert SEED.read_bytes() == before


def test_missing_file():
    proc = run("reassemble", "no/such/file.json")
    assert proc.returncode == 2 and proc.stdout == b""
    assert proc.stderr.decode().strip() == "llmtrace: no/such/file.json: no such file"


def test_indented_on_a_terminal():
    code, text = run_on_terminal(["reassemble", str(SEED)], ENV)
    assert code == 0
    assert text.startswith("{\n  \"id\"")
    assert json.loads(text)["object"] == "chat.completion"


def test_integers_beyond_64_bits_in_tool_arguments_come_out_exact(tmp_path):
    def chunk(delta: dict, finish: str | None = None) -> str:
        return json.dumps({"id": "c", "object": "chat.completion.chunk", "created": 1, "model": "m",
                           "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]})
    call = {"index": 0, "id": "call_1", "type": "function",
            "function": {"name": "lookup", "arguments": '{"id": 18446744073709551616}'}}
    path = tmp_path / "big.jsonl"
    path.write_text("\n".join([chunk({"role": "assistant", "tool_calls": [call]}), chunk({}, "tool_calls")]) + "\n")
    proc = run("reassemble", str(path), "--normalized")
    assert proc.returncode == 0, proc.stderr
    assert b'"parsed_arguments":{"id":18446744073709551616}' in proc.stdout
    assert json.loads(proc.stdout)["choices"][0]["tool_calls"][0]["parsed_arguments"] == {"id": 2**64}
    proc = run("show", str(path), "--json")
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["exchanges"][0]["choices"][0]["tool_calls"][0]["parsed_arguments"] == {"id": 2**64}


def test_dumps_falls_back_to_exact_integers_with_the_same_layout():
    from llmtrace.output import dumps

    assert dumps({"a": [1, 2**70], "é": None}) == '{"a":[1,1180591620717411303424],"é":null}'.encode()
    assert json.loads(dumps({"a": 2**70}, indent=True)) == {"a": 2**70}
    assert dumps({"a": 2**70}, indent=True) == b'{\n  "a": 1180591620717411303424\n}'
