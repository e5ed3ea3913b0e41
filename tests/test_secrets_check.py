"""``unmasked-secret``: a recording *file* that holds a live-looking credential is flagged, with
the place and the mask — never the secret — and placeholders are not; containers mask what they
read (headers, URL, Llama Stack ``endpoint``, error text) and note what they masked."""

from __future__ import annotations

import json
from pathlib import Path

import orjson
import pytest

from llmtrace.anomalies import detect_recording
from llmtrace.containers import recorded
from llmtrace.loader import load
from llmtrace.secrets import header_secrets, leaks_in_headers, might_hold_secrets
from secrets_gen import keys

EXAMPLES = Path(__file__).parent.parent / "examples" / "containers"
DATA = Path(__file__).parent / "data"
K = keys(5)


def leaks_of(path: Path) -> list:
    return [a for a in detect_recording(load(str(path))) if a.code == "unmasked-secret"]


def _sse(tmp_path: Path, content_pieces: list[str]) -> Path:
    lines = []
    for n, piece in enumerate(content_pieces):
        chunk = {"id": "c", "object": "chat.completion.chunk", "model": "m",
                 "choices": [{"index": 0, "delta": {"content": piece}, "finish_reason": None}]}
        lines.append(f"data: {json.dumps(chunk)}\n\n")
    lines.append('data: {"id":"c","object":"chat.completion.chunk","model":"m","choices":[{"index":0,"delta":{},'
                 '"finish_reason":"stop"}]}\n\ndata: [DONE]\n\n')
    path = tmp_path / "s.sse"
    path.write_text("".join(lines))
    return path


def test_a_key_in_streamed_content_names_its_chunks(tmp_path):
    key = K["openai-api-key"]
    path = _sse(tmp_path, ["Your key is ", key[:20], key[20:], " — keep it safe."])
    (finding,) = leaks_of(path)
    assert finding.severity == "error"
    assert finding.chunks == [1, 2]
    assert finding.details == {"place": "response chunks", "kind": "openai-api-key", "masked": ["sk-proj-***"],
                               "placeholder": "<OPENAI_API_KEY>"}
    assert key not in finding.message and key not in json.dumps(finding.details)


def test_headers_url_and_error_text(tmp_path):
    doc = orjson.loads((EXAMPLES / "llama-stack" / "openai-chat.json").read_bytes())
    doc["request"]["headers"] = {"Authorization": f"Bearer {K['jwt']}", "x-goog-api-key": K["google-api-key"],
                                 "X-LlamaStack-Provider-Data": json.dumps({"openai_api_key": K["openai-api-key"]})}
    doc["response"] = {"status": 401, "is_exception": True, "body": None, "exception_message": (
        f"Error code: 401 - Incorrect API key provided: {K['openai-legacy']}. You can find your API key at ...")}
    path = tmp_path / "ls.json"
    path.write_bytes(orjson.dumps(doc))
    recording = load(str(path))
    (exchange,) = recording.exchanges
    assert K["openai-legacy"] not in exchange.response.error_message
    assert "sk-***" in exchange.response.error_message
    assert "leaks" not in exchange.request.model_dump()
    places = {(a.details["place"], a.details["kind"]) for a in leaks_of(path)}
    assert places == {("request header Authorization", "bearer-token"),
                      ("request header x-goog-api-key", "google-api-key"),
                      ("request header X-LlamaStack-Provider-Data", "openai-api-key"),
                      ("recorded error", "openai-api-key")}


@pytest.mark.parametrize("name, value", [
    ("Authorization", "AUTHORIZATION-XXX"), ("authorization", "[REDACTED]"), ("x-api-key", "<filtered>"),
    ("Authorization", "Bearer ***"), ("Authorization", "Bearer <OPENAI_API_KEY>"), ("api-key", "DUMMY"),
    ("x-api-key", "sk-test"), ("Authorization", "Bearer sk-" + "x" * 40), ("cookie", "__cf_bm=Ab12Cd34Ef56Gh78"),
    ("Authorization", "Basic dXNlcjpwYXNzd29yZA=="),  # user:password
    ("x-amz-security-token", "FAKE-SESSION-TOKEN-FOR-VCR-TESTING-ONLY"),
    ("authorization", "AWS4-HMAC-SHA256 Credential=AK" + "IATEST1234567890AB/20250626/us-east-1/bedrock/aws4_request, "
                      "SignedHeaders=host, Signature=fake-signature-for-vcr-testing"),
    ("x-request-id", "req_0123456789abcdef"), ("x-ratelimit-remaining-tokens", "149999"),
])
def test_placeholder_headers_are_no_leak(name, value):
    assert header_secrets(name, value) == []


@pytest.mark.parametrize("name, value, kind", [
    ("api-key", "0f3c2a9b8e7d6c5b4a39281706f5e4d3", "credential"),
    ("Authorization", "Basic " + "YWRtaW46czNjcjN0UGFzcw==", "credential"),  # admin:s3cr3tPass
    ("cookie", "__cf_bm=abc; sessionid=Q1w2E3r4T5y6U7i8", "credential"),
    ("authorization", "AWS4-HMAC-SHA256 Credential=AK" + "IAZ7Q3KX2M9PL4WRT8/20250626/us-east-1/bedrock/aws4_request, "
                      "SignedHeaders=host, Signature=0f3c2a9b8e7d6c5b4a39281706f5e4d3c2b1a0f9e8d7c6b5a493827160f5e4d3",
     "aws-access-key-id"),
])
def test_live_header_values(name, value, kind):
    found = header_secrets(name, value)
    assert found and found[0].kind == kind
    (leak, *_) = leaks_in_headers({name: value}, "request")
    assert leak.place == f"request header {name}"


EXAMPLE_FILES = ["vcr/openai-chat.yaml", "vcr/openai-assistants-gzip.yaml", "vcr/langchain-openai-chat.yaml.gz",
                 "vcr/gemini.yaml", "har/gemini.har", "har/openai-chat-base64.har", "llama-stack/openai-chat.json",
                 "sse/openai-chat.sse", "ndjson/ollama-chat.ndjson"]


def test_examples_and_copied_corpus_hold_no_leak():
    paths = [EXAMPLES / name for name in EXAMPLE_FILES]
    paths += [p for p in sorted((DATA / "secrets").glob("*/*")) if p.suffix in (".yaml", ".har")]
    for path in paths:
        assert leaks_of(path) == [], path


def test_cli_outputs_never_show_the_secret(tmp_path):
    import subprocess
    import sys

    key = K["anthropic-api-key"]
    path = _sse(tmp_path, [f"the key {key} is live"])
    for args in (["check"], ["check", "--json"], ["scan", "--jsonl"], ["show"], ["show", "--json"]):
        result = subprocess.run([sys.executable, "-m", "llmtrace", *args, str(path)], capture_output=True,
                                timeout=60, env={"NO_COLOR": "1", "PATH": "/usr/bin:/bin"})
        out = result.stdout.decode() + result.stderr.decode()
        assert "unmasked-secret" in out, args
        assert key not in out and key[-12:] not in out, args


def test_request_masks_what_it_notes():
    request = recorded.request("GET", f"https://u:pw9Secret@h.example/v1?api_key={K['jwt']}",
                               {"Authorization": f"Bearer {K['github-token']}"}, None, "",
                               endpoint=f"/v1/x?key={K['google-api-key']}")
    shown = json.dumps(request.model_dump())
    for secret in (K["jwt"], K["github-token"], K["google-api-key"], "pw9Secret"):
        assert secret not in shown
        assert secret not in repr(request.leaks)
    assert {leak.place for leak in request.leaks} == {"request URL", "request header Authorization",
                                                      "request endpoint"}


def test_the_cheap_test_says_no_for_ordinary_text():
    text = (DATA / "secrets" / "openllmetry" / "test_assistant--test_streaming_existing_assistant.yaml").read_text()
    body = text.split("string: !!binary")[0].replace("=", "")
    assert not might_hold_secrets(body.replace("@", ""))
    assert might_hold_secrets(b"x " + K["aws-access-key-id"].encode())


def test_a_request_with_a_large_image_is_still_searched_around_it(tmp_path):
    import base64
    import os

    image = base64.b64encode(os.urandom(120_000)).decode()
    doc = orjson.loads((EXAMPLES / "llama-stack" / "openai-chat.json").read_bytes())
    doc["request"]["body"]["messages"] = [
        {"role": "user", "content": [{"type": "image_url", "image_url": {"url": "data:image/png;base64," + image}},
                                     {"type": "text", "text": f"use {K['slack-token']} for this"}]},
        {"role": "user", "content": image}]
    path = tmp_path / "img.json"
    path.write_bytes(orjson.dumps(doc))
    assert [(a.details["place"], a.details["kind"]) for a in leaks_of(path)] == [("request body", "slack-token")]


# The kinds added in issue #25 (DeepSeek … JWTs, AWS secret keys, key-named JSON fields): what
# they find in every recording the repository holds. Two real finds, both IBM IAM access tokens
# (JWTs) in watsonx cassettes' token responses; none in model text, hashes or ids.
_EXPECTED_FINDS = {
    ("tests/data/newformats/D-openllmetry/packages__opentelemetry-instrumentation-watsonx__tests__metrics__cassettes__"
     "test_watsonx_metrics__test_generate_stream_metrics.yaml", "jwt", "response body"),
    ("tests/data/newformats/D-openllmetry/packages__opentelemetry-instrumentation-watsonx__tests__traces__cassettes__"
     "test_generate__test_generate_text_stream.yaml", "jwt", "response body"),
}


def test_false_positives_of_the_new_kinds_on_every_recording_here():
    """``check`` over tests/data and examples (322 recordings, which held no live credential
    before the new kinds): every ``unmasked-secret`` is one listed, the key-named JSON fields
    included (a ``credential`` in a body would show here)."""
    import subprocess
    import sys

    root = Path(__file__).parent.parent
    done = subprocess.run([sys.executable, "-m", "llmtrace", "check", "--json", "tests/data", "examples"],
                          capture_output=True, cwd=root, timeout=600)
    found = set()
    for line in done.stdout.splitlines():
        doc = orjson.loads(line)
        for anomaly in doc["anomalies"]:
            if anomaly["code"] == "unmasked-secret":  # before the new kinds: none at all
                found.add((doc["source"], anomaly["details"]["kind"], anomaly["details"]["place"]))
    assert found == _EXPECTED_FINDS
