"""Finding credentials in free text (``find_secrets``) and masking them (``mask_text``,
``mask_url``): every shape found with its kind and exact span, placeholders left alone, the
secret never in the output, linear time on adversarial input."""

from __future__ import annotations

import time

import pytest
from hypothesis import given, strategies as st

from llmtrace.secrets import (PLACEHOLDERS, find_secrets, is_placeholder, is_secret_name, mask_headers, mask_text,
                              mask_url)
from secrets_gen import KIND, keys, prefixed

KEYS = keys()


@pytest.mark.parametrize("name", sorted(KIND))
@pytest.mark.parametrize("context", ["{}", "invalid key: {}", "Incorrect API key provided: {}.", '"{}"',
                                     "x-api-key {}\n", "\\n{}\\n", "key='{}'", "({})", "[{}]"])
def test_prefixed_keys_are_found_with_kind_and_exact_span(name, context):
    key = KEYS[name]
    text = context.format(key)
    (found,) = find_secrets(text)
    assert text[found.start:found.end] == key
    assert found.kind == KIND[name]
    assert found.placeholder == PLACEHOLDERS[KIND[name]]
    masked = mask_text(text)
    assert key not in masked and "***" in masked


@pytest.mark.parametrize("text, secret, kind, masked", [
    ("Authorization: Bearer {jwt}", "{jwt}", "bearer-token", "Authorization: Bearer ***"),
    ("bearer {jwt}", "{jwt}", "bearer-token", "bearer ***"),
    ("Authorization:\n  - Bearer\n    {openai-api-key}", "{openai-api-key}", "openai-api-key",
     "Authorization:\n  - Bearer\n    sk-proj-***"),
    ("postgres://admin:{password}@db.example.com:5432/x", "{password}", "password",
     "postgres://admin:***@db.example.com:5432/x"),
    ("admin:{password}@db.example.com/x", "{password}", "password", "admin:***@db.example.com/x"),
    ("proxy at user:{password}@10.0.0.1:3128", "{password}", "password", "proxy at user:***@10.0.0.1:3128"),
    ("https://h/p?alt=sse&key={google-api-key}", "{google-api-key}", "google-api-key", "https://h/p?alt=sse&key=AIza***"),
    ("https://h/p?accessToken=Ab12Cd34&x=1", "Ab12Cd34", "credential", "https://h/p?accessToken=***&x=1"),
    ("https://h/p?apiKey=Ab12Cd34", "Ab12Cd34", "credential", "https://h/p?apiKey=***"),
    ("https://h/p?api_key=Ab12Cd34", "Ab12Cd34", "credential", "https://h/p?api_key=***"),
    ("https://h/p;key=abcdef123?x=1", "abcdef123", "credential", "https://h/p;key=***?x=1"),
    ("https://h/cb#access_token=ya29.A0Abc123&token_type=bearer", "ya29.A0Abc123", "credential",
     "https://h/cb#access_token=***&token_type=bearer"),
    ("GET /callback?code=4/0AX4XfWh123&state=x", "4/0AX4XfWh123", "credential", "GET /callback?code=***&state=x"),
    ("ws://h/socket?token=abc123xyz", "abc123xyz", "credential", "ws://h/socket?token=***"),
    ("login failed: password=hunter2 for user", "hunter2", "password", "login failed: password=*** for user"),
    ("?secret=abcd1234", "abcd1234", "password", "?secret=***"),
    ("https://x.blob.core.windows.net/c?sv=1&sig=abc%2Bdef&se=2", "abc%2Bdef", "credential",
     "https://x.blob.core.windows.net/c?sv=1&sig=***&se=2"),
    ("?X-Amz-Signature=deadbeef1234&X-Amz-Date=20240101T000000Z", "deadbeef1234", "credential",
     "?X-Amz-Signature=***&X-Amz-Date=20240101T000000Z"),
    ("api_key={jwt} was rejected", "{jwt}", "credential", "api_key=*** was rejected"),
])
def test_named_forms(text, secret, kind, masked):
    text, secret = text.format_map(KEYS), secret.format_map(KEYS)
    (found,) = find_secrets(text)
    assert (text[found.start:found.end], found.kind) == (secret, kind)
    assert mask_text(text) == masked


@pytest.mark.parametrize("text", [
    "key=<API_KEY>", "sk-test", "sk-" + "x" * 40, "sk-" + "your-openai-api-key-here", "api_key=DUMMY",
    "Authorization: Bearer REDACTED", "key=***", "Bearer ***", "Bearer <TOKEN>", "Bearer {{api_key}}",
    "api_key=fake", "x-api-key: test-key", "your-api-key", "user:password@localhost", "mailto:joe@x.com",
    "the sort key=name", "AK" + "IAIOSFODNN7EXAMPLE", "Bearer authentication is used", "time 12:30@home",
    "token_type=bearer", "?key=", "sk-" + "proj-" + "*" * 40, "sk-" + "ant-" + "REDACTED" * 4,
    "AI" + "za" + "0" * 35, "?api_key=${OPENAI_API_KEY}", "https://u:***@h/", "key=" + "a" * 30,
    "task-Ab12Cd34Ef56Gh78Ij90Kl", "a sk- prefix alone", "Bearer sk-***",
    "data: " + "QUFB" * 40 + "AI" + "za" + "B" * 35,  # inside a base64 run
])
def test_placeholders_and_ordinary_text_are_not_secrets(text):
    assert find_secrets(text) == []
    assert mask_text(text) == text


@pytest.mark.parametrize("value", ["<API_KEY>", "DUMMY", "REDACTED", "[REDACTED]", "***", "sk-***", "fake",
                                   "test-key", "your-api-key", "aaaaaaaaaaaa", "<filtered>", "${KEY}", "EMPTY",
                                   "sk-no-key-required", "ollama"])
def test_is_placeholder(value):
    assert is_placeholder(value)


def test_mask_keeps_only_the_kind_prefix():
    text = " ".join(prefixed().values())
    masked = mask_text(text)
    assert masked.split() == ["sk-proj-***", "sk-***", "sk-svcacct-***", "sk-ant-***", "AIza***", "AKIA***",
                              "ASIA***", "ghp_***", "github_pat_***", "xoxb-***"]


def test_text_without_candidates_is_returned_as_is():
    text = "Hello, world! The answer is 42."
    assert mask_text(text) is text


@pytest.mark.parametrize("name", ["accessToken", "apiKey", "refresh_token", "client_secret", "X-Amz-Signature"])
def test_camel_case_and_more_secret_names(name):
    assert is_secret_name(name)


@pytest.mark.parametrize("url, expected", [
    ("admin:hunter2@db.example/x", "admin:***@db.example/x"),
    ("https://h/p;key=abc;x=1/q", "https://h/p;key=***;x=1/q"),
    ("https://h/cb#access_token=abc&x=2", "https://h/cb#access_token=***&x=2"),
    ("https://h/p?code=xyz&state=1", "https://h/p?code=***&state=1"),
    ("https://h/p?a=1;token=abc", "https://h/p?a=1;token=***"),
    ("https://h/p?accessToken=abc", "https://h/p?accessToken=***"),
    ("mailto:joe@example.com", "mailto:joe@example.com"),
])
def test_mask_url_new_forms(url, expected):
    assert mask_url(url) == expected


def test_mask_url_masks_keys_in_the_path():
    key = KEYS["openai-api-key"]
    assert mask_url(f"https://h/v1/keys/{key}/x") == "https://h/v1/keys/sk-proj-***/x"


def test_headers_mask_credentials_by_shape_in_other_headers():
    key = KEYS["anthropic-api-key"]
    masked = mask_headers({"x-debug": f"used {key}", "x-list": [f"Bearer {key}"], "content-type": "text/plain"})
    assert key not in str(masked)
    assert masked["content-type"] == "text/plain"


_SEPARATORS = st.sampled_from([" ", "\n", '"', "'", ", ", "(", ")", ": ", "\\n", "=", "[", "]", "{", "}", "\t"])
_FILLER = st.text(alphabet=st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=30)


@given(st.lists(st.tuples(_FILLER, _SEPARATORS, st.sampled_from(sorted(prefixed())), _SEPARATORS), max_size=6),
       _FILLER, st.integers(0, 3))
def test_mask_text_never_shows_a_generated_key(parts, tail, seed):
    generated = prefixed(seed)
    text = "".join(f"{filler}{sep}{generated[name]}{sep2}" for filler, sep, name, sep2 in parts) + tail
    masked = mask_text(text)
    for filler, sep, name, sep2 in parts:
        assert generated[name] not in masked


@given(st.sampled_from(["Bearer ", "bearer\n  ", "?key=", "&api_key=", "#access_token=", ";key=", " password=",
                        "https://admin:", "user:"]),
       st.text(alphabet="ABCDEFGHJKabcdefghjk0123456789", min_size=8, max_size=40).filter(
           lambda s: any(c.isdigit() for c in s) and any(c.isalpha() for c in s)),
       _FILLER)
def test_mask_text_never_shows_a_named_secret(form, secret, filler):
    suffix = "@db.example.com/x" if form.endswith(":") else ""
    text = f"{filler} {form}{secret}{suffix} end"
    if is_placeholder(secret) or secret in filler:
        return
    assert secret not in mask_text(text)


# Adversarial texts of about ``n`` characters each (built at two sizes below).
ADVERSARIAL = {
    "letters": lambda n: "a" * n,
    "s then =": lambda n: "s" * (n - 1) + "=",
    "sk- repeated": lambda n: "sk-" * (n // 3),
    "sk-ant- run": lambda n: "sk-ant-" + "a" * n,
    "open password": lambda n: ":" + "a" * n + "@",
    "colon runs": lambda n: (":" + "a" * 255) * (n // 256),
    "query keys": lambda n: "?key=" * (n // 5),
    "equals": lambda n: "=a" * (n // 2),
    "at colon": lambda n: "@:" * (n // 2),
    "bearers": lambda n: "Bearer " * (n // 7),
    "user pass": lambda n: "/a:b@" * (n // 5),
    "long names": lambda n: ("?" + "k" * 40) * (n // 41),
    "AIza repeated": lambda n: "AIza" * (n // 4),
    "user runs": lambda n: ("x" * 63 + ":") * (n // 64) + "@",
    "spaces and words": lambda n: "password= " * (n // 10),
    "json fields": lambda n: '"api_key": "' * (n // 12),
    "json field values": lambda n: ('"token":"' + "a1" * 600 + '",') * (n // 1210),
    "jwt heads": lambda n: "eyJ" * (n // 3),
    "jwt dots": lambda n: ("eyJ" + "a" * 20 + ".") * (n // 24),
    "oauth prefixes": lambda n: "ya29." * (n // 5),
    "akia with runs": lambda n: ("AKIA" + "A" * 16 + " " + "b" * 39 + " ") * (n // 61),
}


def _cpu(text: str) -> float:
    best = float("inf")
    for _ in range(3):
        started = time.process_time()
        mask_text(text)
        best = min(best, time.process_time() - started)
    return best


@pytest.mark.parametrize("name", sorted(ADVERSARIAL))
def test_linear_on_adversarial_text(name):
    """Eight times the text costs about eight times the CPU time (a quadratic scan would cost
    sixty-four times): two sizes compared in one run, so the machine's speed and load cancel
    out (a floor of a millisecond keeps a near-zero small run from making the ratio noise)."""
    build = ADVERSARIAL[name]
    small, large = _cpu(build(250_000)), _cpu(build(2_000_000))
    assert large < 32 * max(small, 1e-3), f"{name}: {small:.4f} s, then {large:.4f} s for 8x the text"


@pytest.mark.parametrize("middle", ["3testX", "QyourZ", "9ExampleQ", "aFakeB", "rSampleT"])
def test_a_random_key_that_happens_to_spell_a_word_is_still_a_key(middle):
    key = KEYS["openai-api-key"][:20] + middle + KEYS["openai-api-key"][20:]
    assert [f.kind for f in find_secrets(f"key: {key}")] == ["openai-api-key"]


@pytest.mark.parametrize("value", ["sk-test-" + "A1b2" * 6, "AK" + "IAIOSFODNN7EXAMPLE", "AI" + "zaSyDUMMYKEYFORTESTING12345678901",
                                   "sk-" + "proj-REDACTED-" + "9f8e" * 5])
def test_placeholder_words_written_as_words(value):
    assert find_secrets(value) == []
