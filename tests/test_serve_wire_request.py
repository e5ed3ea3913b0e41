"""The wire request of a recording: Llama Stack's recorder keeps the client's keyword arguments
(``extra_body`` …), openai-python merges ``extra_body`` into the body it sends; every command reads
the body as it went over the wire, so each such recording replayed through openai-python is a hit,
and ``llmtrace reassemble --request`` prints the body a ``curl -d @-`` can send again."""

from __future__ import annotations

import shutil
import subprocess
import sys

import openai
import orjson
import pytest

from conftest import CORPUS
from llmtrace.containers.llama_stack import wire_body
from llmtrace.loader import load
from test_serve import TIMEOUT, serving

WITH_EXTRA_BODY = sorted(p for p in (CORPUS / "llama-stack").rglob("*.json") if b'"extra_body"' in p.read_bytes())


def test_there_are_recordings_with_extra_body():
    assert len(WITH_EXTRA_BODY) >= 15


def test_wire_body_merges_extra_body_and_drops_client_arguments():
    kept = {"model": "m", "temperature": 0.5, "extra_body": {"temperature": 0.2, "project_id": "p"},
            "extra_headers": {"x-a": "1"}, "extra_query": {"q": "1"}, "timeout": 30}
    assert wire_body(kept) == {"model": "m", "temperature": 0.2, "project_id": "p"}
    assert wire_body({"model": "m"}) == {"model": "m"} and wire_body(None) is None


@pytest.mark.parametrize("path", WITH_EXTRA_BODY, ids=lambda p: f"{p.parent.name}/{p.stem}")
def test_a_recording_with_extra_body_is_a_hit_through_openai_python(path):
    kept = orjson.loads(path.read_bytes())["request"]["body"]
    recording = load(str(path))
    ex = recording.exchanges[0]
    assert "extra_body" not in ex.request.body and "extra_body" not in ex.normalized_request.params
    named = {"model", "messages", "prompt", "stream", "stream_options", "tools", "temperature", "max_tokens",
             "top_p", "n", "stop", "seed", "response_format", "logprobs", "tool_choice", "user", "echo"}
    kwargs = {k: v for k, v in kept.items() if k in named}
    kwargs["extra_body"] = {**{k: v for k, v in kept.items() if k not in named and k != "extra_body"},
                            **kept["extra_body"]}
    with serving(path) as (base, lines):
        client = openai.OpenAI(base_url=f"{base}/v1", api_key="test", max_retries=0, timeout=TIMEOUT)
        create = client.completions.create if "prompt" in kept else client.chat.completions.create
        try:
            answer = create(**kwargs)
            if kwargs.get("stream"):
                list(answer)
        except openai.APIStatusError as exc:  # a recorded error is served as recorded
            assert ex.failed and exc.status_code == ex.response.status
    assert len(lines) == 1 and "no_match" not in lines[0] and "exchange 0" in lines[0], lines


def test_reassemble_request_prints_the_wire_body():
    path = next(p for p in WITH_EXTRA_BODY if b"project_id" in p.read_bytes())
    out = subprocess.run([sys.executable, "-m", "llmtrace", "reassemble", "--request", str(path)],
                         capture_output=True, timeout=60)
    assert out.returncode == 0, out.stderr
    line = out.stdout.decode()
    assert line.count("\n") == 1 and ": " not in line  # compact, one line
    body = orjson.loads(line)
    assert "extra_body" not in body and body["project_id"] == orjson.loads(path.read_bytes())["request"]["body"][
        "extra_body"]["project_id"]


def test_reassemble_request_pipes_into_curl():
    curl = shutil.which("curl")
    if curl is None:
        pytest.skip("curl is not installed")
    path = next(p for p in WITH_EXTRA_BODY if "chat-stream" in str(p))
    body = subprocess.run([sys.executable, "-m", "llmtrace", "reassemble", "--request", "--index", "0", str(path)],
                          capture_output=True, timeout=60, check=True).stdout
    with serving(path) as (base, lines):
        sent = subprocess.run([curl, "-s", "--max-time", "20", "-H", "content-type: application/json", "-d", "@-",
                               f"{base}/v1/chat/completions"], input=body, capture_output=True, timeout=30)
    assert sent.returncode == 0 and b"data: " in sent.stdout
    assert "no_match" not in lines[0] and "frames" in lines[0]


def test_reassemble_request_without_a_body_exits_1(tmp_path):
    sse = tmp_path / "raw.sse"
    sse.write_text('data: {"id":"x","object":"chat.completion.chunk","choices":[{"index":0,"delta":{"content":"hi"},'
                   '"finish_reason":"stop"}]}\n\ndata: [DONE]\n\n')
    out = subprocess.run([sys.executable, "-m", "llmtrace", "reassemble", "--request", str(sse)],
                         capture_output=True, timeout=60)
    assert out.returncode == 1 and out.stdout == b"" and b"kept no request body" in out.stderr
