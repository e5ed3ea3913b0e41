"""Masking secrets in headers and URLs, and that every container masks what it reads."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, strategies as st

from conftest import CORPUS, DATA
from llmtrace.loader import load
from llmtrace.secrets import MASK, is_secret_name, mask_headers, mask_url

EXAMPLES = DATA.parent.parent / "examples" / "containers"


@pytest.mark.parametrize("name", ["Authorization", "authorization", "Proxy-Authorization", "api-key", "x-api-key",
                                  "X-Goog-Api-Key", "cookie", "Set-Cookie", "x-amz-security-token", "key",
                                  "api_key", "apikey", "X-Amz-Signature", "sig", "ocp-apim-subscription-key",
                                  "client_secret", "access_token"])
def test_secret_names(name):
    assert is_secret_name(name)


@pytest.mark.parametrize("name", ["content-type", "x-ratelimit-remaining-tokens", "anthropic-ratelimit-tokens-limit",
                                  "x-goog-api-client", "x-stainless-os", "alt", "stream", "api-version",
                                  "openai-processing-ms", "x-request-id", "max_tokens"])
def test_ordinary_names(name):
    assert not is_secret_name(name)


def test_headers_keep_the_scheme_and_lists():
    masked = mask_headers({"Authorization": "Bearer sk-proj-abc123", "x-api-key": "sk-ant-xyz",
                           "Cookie": ["a=1; b=2"], "content-type": "application/json"})
    assert masked == {"Authorization": f"Bearer {MASK}", "x-api-key": MASK, "Cookie": [MASK],
                      "content-type": "application/json"}


@pytest.mark.parametrize("url, expected", [
    ("https://generativelanguage.googleapis.com/v1beta/models/gemini-2.0-flash:streamGenerateContent?alt=sse&key=AIzaSy123",
     f"https://generativelanguage.googleapis.com/v1beta/models/gemini-2.0-flash:streamGenerateContent?alt=sse&key={MASK}"),
    ("https://user:hunter2@proxy.example/v1/chat/completions", f"https://user:{MASK}@proxy.example/v1/chat/completions"),
    ("https://x.blob.core.windows.net/c/f?sv=2021&sig=abc%2Bdef&se=1#frag",
     f"https://x.blob.core.windows.net/c/f?sv=2021&sig={MASK}&se=1#frag"),
    ("https://api.openai.com/v1/responses/resp_1?stream=false", "https://api.openai.com/v1/responses/resp_1?stream=false"),
    ("http://localhost:8000/v1/completions", "http://localhost:8000/v1/completions"),
    ("https://h/p?api%5Fkey=s3cret&x=1", f"https://h/p?api%5Fkey={MASK}&x=1"),
])
def test_urls(url, expected):
    assert mask_url(url) == expected


@given(st.text(alphabet="abcxyz/:?&=#._-%+", max_size=40))
def test_urls_without_secrets_are_kept_byte_for_byte(tail):
    # No credential word can be spelt from this alphabet: nothing may change.
    url = "https://host.example/" + tail
    assert mask_url(url) == url


SECRET = "sk-live-DO-NOT-PRINT"


def _with_secrets(text: str) -> str:
    return text.replace("AUTHORIZATION-XXX", f"Bearer {SECRET}").replace("[REDACTED]", SECRET)


@pytest.mark.parametrize("name", ["vcr/openai-chat.yaml", "har/gemini.har", "har/anthropic-messages.har"])
def test_containers_mask_what_they_read(tmp_path, name):
    path = tmp_path / name.split("/")[1]
    text = _with_secrets((EXAMPLES / name).read_text())
    text = text.replace("streamGenerateContent?alt=sse", f"streamGenerateContent?alt=sse&key={SECRET}")
    assert SECRET in text
    path.write_text(text)
    recording = load(str(path))
    dumped = json.dumps([ex.request.model_dump() for ex in recording.exchanges])
    assert SECRET not in dumped and MASK in dumped


def test_llama_stack_requests_are_masked(tmp_path):
    doc = json.loads((CORPUS / "seed" / "000_a2136f253c2c20b7.json").read_text())
    doc["request"]["headers"] = {"Authorization": f"Bearer {SECRET}"}
    path = tmp_path / "r.json"
    path.write_text(json.dumps(doc))
    (exchange,) = load(str(path)).exchanges
    assert exchange.request.headers == {"Authorization": f"Bearer {MASK}"}


@given(st.text(max_size=80), st.sampled_from(["request URL", "request endpoint"]))
def test_remembered_urls_answer_as_searched_ones(tail, place):
    """``leaks_in_url`` and ``mask_url`` remember short URLs: each answer equals a fresh search's,
    every time, and a caller changing the list it got changes no later answer."""
    from llmtrace import secrets

    for url in (f"https://api.example.com/v1/{tail}", f"https://u:sk-proj-A1b2C3d4E5f6G7h8J9k0L1m2N3@h/{tail}",
                f"https://h/v1?api_key=AKIAIOSFODNN7EXAMPL3&q={tail}", "x" * 600 + tail):
        fresh = secrets.leaks_in_text(url, place)
        first = secrets.leaks_in_url(url, place)
        first.append("changed by a caller")
        assert secrets.leaks_in_url(url, place) == fresh == first[:-1]
        assert secrets.mask_url(url) == secrets.mask_url(url) == secrets._mask_url(url)
