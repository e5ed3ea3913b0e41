"""The adversarial suite of issue #11: hostile recordings built at test time, every command run on
each of them as a separate process under a 1 GiB address-space cap.

Every run must: exit 0, 1 or 2 (2 with a one-line reason per problem on stderr), finish within
the time limit, print no traceback, put no raw control, bidi or zero-width character on stdout or
stderr, and print no credential that the recording holds (key-shaped strings are generated here,
never committed). ``reassemble`` keeps provider JSON content as recorded (contracts.md), so
credentials inside model *content* are checked in the other commands' output only.
"""

from __future__ import annotations

import asyncio
import base64
import copy
import functools
import gzip
import os
import random
import re
import resource
import signal
import string
import struct
import subprocess
import sys
import time
import zlib
from pathlib import Path
from typing import Callable, NamedTuple

import orjson
import pytest

from conftest import SEED

MEMORY_CAP = 1 << 30  # bytes of address space per run
TIME_LIMIT = 60.0  # seconds per run: only a guard against a hang (a run takes a second or two)
# What may never reach a terminal or a pager raw: C0 controls but newline and tab, DEL, C1
# controls, bidi overrides/isolates/marks, line and paragraph separators, zero-width characters.
UNSAFE = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u061c\u200b-\u200f\u202a-\u202e\u2060\u2066-\u2069"
                    "\u2028\u2029\ufeff]")
HOSTILE = "\x1b[31mred\x1b[0m \x9b31m \u202eevil\u202c \u200bzw\u200d \u2028sep \x7fdel \x07bel [red]markup[/red]"

_rng = random.Random(11)


def _token(n: int, alphabet: str = string.ascii_letters + string.digits) -> str:
    return "".join(_rng.choice(alphabet) for _ in range(n))


# Key-shaped strings, made now: a committed one would be rejected by secret scanners.
OPENAI_KEY = "sk-" + "proj-" + _token(48)
ANTHROPIC_KEY = "sk-" + "ant-" + "api03-" + _token(40)
GOOGLE_KEY = "AI" + "za" + _token(35)
AWS_KEY = "AK" + "IA" + _token(16, string.ascii_uppercase + string.digits)
GITHUB_TOKEN = "gh" + "p_" + _token(36)
SLACK_TOKEN = "xo" + "xb-" + _token(12, string.digits) + "-" + _token(24)
BEARER = _token(40)
PASSWORD = "pw" + _token(14)
SECRETS = [OPENAI_KEY, ANTHROPIC_KEY, GOOGLE_KEY, AWS_KEY, GITHUB_TOKEN, SLACK_TOKEN, BEARER, PASSWORD]


class Case(NamedTuple):
    name: str
    build: Callable[[Path], list[str]]  # writes the inputs under a folder, returns the paths
    secrets: tuple[str, ...] = ()  # must appear in no output
    content_secrets: tuple[str, ...] = ()  # must appear in no output but reassemble's


def _seed() -> dict:
    return orjson.loads(SEED.read_bytes())


def _write(path: Path, data: bytes | str) -> str:
    path.write_bytes(data.encode() if isinstance(data, str) else data)
    return str(path)


def _json(path: Path, doc) -> str:
    return _write(path, orjson.dumps(doc))


def _bomb(total: int, member: int = 16 << 20) -> bytes:
    """A multi-member gzip stream that inflates to ``total`` bytes of zeros (about 1/1000 of it
    on disk)."""
    one = gzip.compress(b"\0" * member, compresslevel=9, mtime=0)
    return one * (total // member)


def _cassette(body_yaml: str, uri: str = "https://api.openai.com/v1/chat/completions",
              request_extra: str = "") -> str:
    return ("interactions:\n- request:\n    body: '{\"model\":\"gpt-4o\",\"messages\":[{\"role\":\"user\","
            "\"content\":\"hi\"}],\"stream\":true}'\n    headers:\n      content-type:\n      - application/json\n"
            f"{request_extra}    method: POST\n    uri: {uri}\n  response:\n    headers:\n"
            "      content-encoding:\n      - gzip\n      content-type:\n      - text/event-stream\n"
            f"    status:\n      code: 200\n      message: OK\n{body_yaml}version: 1\n")


def build_gzip_bomb_vcr(d: Path) -> list[str]:
    blob = base64.encodebytes(_bomb(4 << 30)).decode()
    body = "    body:\n      string: !!binary |\n" + "".join(f"        {line}\n" for line in blob.splitlines())
    return [_write(d / "bomb.yaml", _cassette(body))]


def build_gzip_bomb_file(d: Path) -> list[str]:
    return [_write(d / "bomb.json.gz", _bomb(4 << 30))]


def build_har_bomb(d: Path) -> list[str]:
    entry = {"startedDateTime": "2025-01-01T00:00:00Z", "time": 1,
             "request": {"method": "POST", "url": "https://api.openai.com/v1/chat/completions", "headers": [],
                         "postData": {"mimeType": "application/json", "text": '{"model":"gpt-4o","stream":true}'}},
             "response": {"status": 200, "headers": [{"name": "content-encoding", "value": "gzip"}],
                          "content": {"mimeType": "text/event-stream", "encoding": "base64",
                                      "text": base64.b64encode(_bomb(2 << 30)).decode()}},
             "timings": {"send": 0, "wait": 1, "receive": 0}}
    return [_json(d / "bomb.har", {"log": {"version": "1.2", "entries": [entry]}})]


def build_billion_laughs(d: Path) -> list[str]:
    """Nine levels of nine aliases each: 9**9 (387 million) strings once expanded, in 600 bytes."""
    lines = ["a: &a [lol, lol, lol, lol, lol, lol, lol, lol, lol]"]
    for n in range(1, 9):
        prev, cur = chr(ord("a") + n - 1), chr(ord("a") + n)
        lines.append(f"{cur}: &{cur} [" + ", ".join([f"*{prev}"] * 9) + "]")
    lines += ["interactions:", "- request: {uri: 'http://x/v1/models'}",
              "  response: {status: {code: 200}, parsed_body: *i}"]
    return [_write(d / "laughs.yaml", "\n".join(lines) + "\n")]


def build_alias_fanout(d: Path) -> list[str]:
    """One ~1 MB interaction referenced 10,000 times."""
    big = "x" * (1 << 20)
    head = ("interactions:\n- &one\n  request: {uri: 'http://x/v1/chat/completions', method: POST}\n"
            f"  response: {{status: {{code: 200}}, parsed_body: {{text: '{big}'}}}}\n")
    return [_write(d / "fanout.yaml", head + "- *one\n" * 10_000)]


DEEP = "@@deep@@"


def _deep(levels: int) -> str:
    """JSON text nested ``levels`` deep (objects and arrays in turn): orjson reads up to 1024
    levels but writes at most 254, so it is spliced in as text where ``DEEP`` stands."""
    opening = "".join('{"k":' if n % 2 == 0 else "[" for n in range(levels))
    closing = "".join("}" if n % 2 == 0 else "]" for n in reversed(range(levels)))
    return f'{opening}"x"{closing}'


def _json_deep(path: Path, doc, levels: int = 1000) -> str:
    text = orjson.dumps(doc).decode()
    return _write(path, text.replace(orjson.dumps(DEEP).decode(), _deep(levels)))


def build_deep_body(d: Path) -> list[str]:
    doc = _seed()
    doc["request"]["url"] = "https://api.openai.com/v1/models"
    doc["request"]["endpoint"] = "/v1/models"
    doc["response"] = {"body": {"data": DEEP}, "is_streaming": False}
    doc["request"]["body"]["temperature"] = DEEP
    return [_json_deep(d / "deep-body.json", doc)]


def build_deep_tool_arguments(d: Path) -> list[str]:
    doc = _seed()
    chunks = doc["response"]["body"]
    arguments = '{"q": ' + _deep(1000) + "}"
    last = copy.deepcopy(chunks[-1])
    first = copy.deepcopy(chunks[0])
    first["__data__"]["choices"][0]["delta"] = {
        "role": "assistant", "content": None,
        "tool_calls": [{"index": 0, "id": "call_1", "type": "function",
                        "function": {"name": "get_weather", "arguments": arguments}}]}
    last["__data__"]["choices"][0]["finish_reason"] = "tool_calls"
    last["__data__"]["choices"][0]["delta"] = {}
    doc["response"]["body"] = [first, last]
    return [_json(d / "deep-args.json", doc)]


def build_hostile_text(d: Path) -> list[str]:
    doc = _seed()
    doc["request"]["url"] = "https://api.together.xyz/v1/chat/completions?x=" + "\u202e\x9b"
    doc["request"]["body"]["model"] = "model" + HOSTILE
    doc["request"]["body"]["messages"][0]["content"] = "ask " + HOSTILE
    doc["request"]["body"]["tools"] = [{"type": "function", "function": {
        "name": "get_weather" + HOSTILE, "parameters": {"type": "object", "properties": {
            "ci\x9bty\u202e": {"type": "string", HOSTILE: 1}}}}}]
    for chunk in doc["response"]["body"]:
        chunk["__data__"]["model"] = "served" + HOSTILE
        delta = chunk["__data__"]["choices"][0]["delta"]
        if delta.get("content"):
            delta["content"] += HOSTILE
    hostile = _json(d / "hostile.json", doc)
    error = _seed()
    error["response"] = {"body": None, "is_streaming": False, "is_exception": True,
                         "exception_data": {"type": "BadRequestError", "status_code": 400,
                                            "message": "bad " + HOSTILE}}
    return [hostile, _json(d / "hostile-error.json", error)]


def build_secrets_meta(d: Path) -> list[str]:
    """Credentials where recorders leave them: headers, URLs, Llama Stack's endpoint, error text."""
    doc = _seed()
    doc["request"]["url"] = f"https://user:{PASSWORD}@api.together.xyz/v1/chat/completions?key={GOOGLE_KEY}"
    doc["request"]["endpoint"] = f"/v1/chat/completions?key={GOOGLE_KEY}"
    doc["request"]["headers"] = {"Authorization": f"Bearer {BEARER}", "x-api-key": ANTHROPIC_KEY}
    error = _seed()
    error["request"]["url"] = f"https://api.openai.com/v1/chat/completions#access_token={GITHUB_TOKEN}"
    error["response"] = {"body": None, "is_streaming": False, "is_exception": True,
                         "exception_data": {"type": "AuthenticationError", "status_code": 401,
                                            "message": f"Incorrect API key provided: {OPENAI_KEY}. "
                                                       f"token={SLACK_TOKEN} aws {AWS_KEY}"}}
    cassette = _cassette("    body:\n      string: 'data: [DONE]\n\n'\n",
                         uri=f"https://generativelanguage.googleapis.com/v1beta/models/x:generate?key={GOOGLE_KEY}",
                         request_extra=f"      authorization:\n      - Bearer {BEARER}\n")
    return [_json(d / "leaky.json", doc), _json(d / "leaky-error.json", error),
            _write(d / "leaky.yaml", cassette.replace("content-encoding:\n      - gzip\n      ", ""))]


def build_secrets_content(d: Path) -> list[str]:
    doc = _seed()
    for chunk in doc["response"]["body"][:1]:
        chunk["__data__"]["choices"][0]["delta"]["content"] = f"use {OPENAI_KEY} or {AWS_KEY} "
    return [_json(d / "leaky-content.json", doc)]


def build_bad_ipv6(d: Path) -> list[str]:
    doc = _seed()
    doc["request"]["url"] = "http://[::1/v1/chat/completions"
    return [_json(d / "ipv6.json", doc), str(SEED)]


def build_cr_only_sse(d: Path) -> list[str]:
    events = [{"id": "c1", "object": "chat.completion.chunk", "model": "m",
               "choices": [{"index": 0, "delta": {"content": text}, "finish_reason": None}]}
              for text in ("Hel", "lo")]
    events.append({"id": "c1", "object": "chat.completion.chunk", "model": "m",
                   "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]})
    text = "".join(f"data: {orjson.dumps(e).decode()}\r\r" for e in events) + "data: [DONE]\r\r"
    return [_write(d / "cr.sse", text)]


def build_huge_event(d: Path) -> list[str]:
    """One SSE event carrying 8 MB of content (show must stay linear, and need not wrap it all)."""
    chunk = {"id": "c1", "object": "chat.completion.chunk", "model": "m",
             "choices": [{"index": 0, "delta": {"content": "word " * ((8 << 20) // 5)}, "finish_reason": "stop"}]}
    return [_write(d / "huge.sse", f"data: {orjson.dumps(chunk).decode()}\n\ndata: [DONE]\n\n")]


def build_walk_specials(d: Path) -> list[str]:
    folder = d / "walk"
    folder.mkdir()
    os.mkfifo(folder / "fifo.json")
    (folder / "zero.json").symlink_to("/dev/zero")
    (folder / "random.yaml").symlink_to("/dev/urandom")
    (folder / "loop").symlink_to(folder)
    (folder / "seed.json").write_bytes(SEED.read_bytes())
    return [str(folder)]


def build_named_fifo(d: Path) -> list[str]:
    os.mkfifo(d / "named.fifo")
    return [str(d / "named.fifo")]


def build_opaque_lists(d: Path) -> list[str]:
    a = {"request": {"url": "http://x/v1/models"}, "response": {"body": [{"id": "a"}]}}
    b = {"request": {"url": "http://x/v1/models"}, "response": {"body": [{"id": "b"}, {"i d": "\u202e"}]}}
    return [_json(d / "models-a.json", a), _json(d / "models-b.json", b)]


CASES = [
    Case("gzip-bomb-vcr", build_gzip_bomb_vcr),
    Case("gzip-bomb-file", build_gzip_bomb_file),
    Case("har-base64-bomb", build_har_bomb),
    Case("billion-laughs", build_billion_laughs),
    Case("alias-fanout", build_alias_fanout),
    Case("deep-body", build_deep_body),
    Case("deep-tool-arguments", build_deep_tool_arguments),
    Case("hostile-text", build_hostile_text),
    Case("secrets-meta", build_secrets_meta,
         secrets=(OPENAI_KEY, ANTHROPIC_KEY, GOOGLE_KEY, AWS_KEY, GITHUB_TOKEN, SLACK_TOKEN, BEARER, PASSWORD)),
    Case("secrets-content", build_secrets_content, content_secrets=(OPENAI_KEY, AWS_KEY)),
    Case("bad-ipv6-url", build_bad_ipv6),
    Case("cr-only-sse", build_cr_only_sse),
    Case("huge-event", build_huge_event),
    Case("walk-specials", build_walk_specials),
    Case("named-fifo", build_named_fifo),
    Case("opaque-lists", build_opaque_lists),
]


def _commands(paths: list[str], out: Path) -> list[list[str]]:
    first = paths[0]
    commands = [["show", *paths], ["show", "--json", *paths], ["check", *paths], ["check", "--json", *paths],
                ["scan", "--jsonl", "-j", "1", *paths], ["report", "-o", str(out / "report.html"), *paths]]
    if not os.path.isdir(first):
        commands += [["reassemble", first], ["diff", first, paths[-1]], ["diff", "--json", first, paths[-1]],
                     ["redact", "-o", str(out / "redacted"), first]]
    return commands


def _limit() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (MEMORY_CAP, MEMORY_CAP))
    os.setsid()


def _run(args: list[str], stdin=subprocess.DEVNULL) -> tuple[int, str, str]:
    env = {**os.environ, "NO_COLOR": "1", "TERM": "dumb", "COLUMNS": "100"}
    env.pop("LLMTRACE_DEBUG", None)
    proc = subprocess.Popen([sys.executable, "-m", "llmtrace", *args], stdin=stdin, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, env=env, preexec_fn=_limit)
    try:
        out, err = proc.communicate(timeout=TIME_LIMIT)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate()
        pytest.fail(f"llmtrace {' '.join(args)}: still running after {TIME_LIMIT} s")
    return proc.returncode, out.decode("utf-8", "replace"), err.decode("utf-8", "replace")


def _assert_clean(args: list[str], code: int, out: str, err: str, case: Case) -> None:
    shown = f"llmtrace {' '.join(args)} → exit {code}\nstderr: {err[-2000:]}"
    assert code in (0, 1, 2), shown
    assert "Traceback" not in err and "Traceback" not in out, shown
    assert "internal error" not in err, shown
    for line in err.splitlines():
        assert line.startswith("llmtrace: "), f"{shown}\nstray stderr line: {line!r}"
    if code == 2:
        assert err.strip(), f"{shown}\nexit 2 without a reason"
    for name, text in (("stdout", out), ("stderr", err)):
        bad = UNSAFE.search(text)
        assert bad is None, f"{shown}\nraw {bad.group()!r} on {name} at {bad.start()}: {text[max(0, bad.start() - 60):bad.start() + 20]!r}"
    reassembling = args[0] == "reassemble"
    for secret in case.secrets + (() if reassembling else case.content_secrets):
        for text in (out, err):
            assert secret not in text and secret[-12:] not in text, f"{shown}\na secret leaked: {secret[:4]}…"


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_every_command_survives(case: Case, tmp_path: Path) -> None:
    inputs = tmp_path / "in"
    inputs.mkdir()
    out = tmp_path / "out"
    out.mkdir()
    paths = case.build(inputs)
    before = {p: (os.lstat(p).st_mtime_ns, os.lstat(p).st_size) for p in paths}
    for args in _commands(paths, out):
        code, stdout, stderr = _run(args)
        _assert_clean(args, code, stdout, stderr, case)
    page = out / "report.html"
    if page.exists():  # the page is text: nothing raw, no secret
        _assert_clean(["report"], 0, page.read_text(encoding="utf-8", errors="replace"), "", case)
    for p in paths:  # input files are read-only to llmtrace
        assert (os.lstat(p).st_mtime_ns, os.lstat(p).st_size) == before[p]


def test_closed_stdin_is_unreadable_input() -> None:
    for args in (["reassemble", "-"], ["show", "-"], ["check", "-"]):
        proc = subprocess.run([sys.executable, "-m", "llmtrace", *args], stdin=None, capture_output=True,
                              timeout=TIME_LIMIT, preexec_fn=_close_stdin)
        err = proc.stderr.decode()
        assert proc.returncode == 2, (args, err)
        assert err.startswith("llmtrace: <stdin>: ") and "Traceback" not in err and err.count("\n") == 1, err


def _close_stdin() -> None:
    os.close(0)


# --- the secret-kinds matrix (issue #25, item 13) -----------------------------------------------
# Every kind of credential, in every place a recording holds one, must be found by ``check``,
# replaced by ``redact`` and masked by ``record``. The keys are generated here (each prefix
# spelt in two parts); ``named`` kinds have no prefix and are credentials only by where they
# stand (a header or a JSON field of a secret name).

_mrng = random.Random(25)
_HEX = "0123456789abcdef"
_B64URL = string.ascii_letters + string.digits + "-_"


def _draw(n: int, alphabet: str = string.ascii_letters + string.digits) -> str:
    """``n`` characters of ``alphabet`` holding each of its classes (lower, upper, digit), as a
    generated key does (at most 100 draws: the loop is bounded)."""
    classes = [c for c in (str.islower, str.isupper, str.isdigit) if any(c(a) for a in alphabet)]
    for _ in range(100):
        text = "".join(_mrng.choice(alphabet) for _ in range(n))
        if all(any(c(t) for t in text) for c in classes):
            return text
    raise AssertionError(f"no draw of {n} characters holds every class of {alphabet!r}")


class SecretKind(NamedTuple):
    name: str
    value: str  # what is written into the recording
    secrets: tuple[str, ...]  # what must never be written or printed
    named: bool = False  # found only under a secret name
    header: str = "x-trace-note"  # the request header it is sent in


def _kind(name: str, value: str, **kw) -> SecretKind:
    return SecretKind(name, value, (value,), **kw)


_AWS_ID = "AK" + "IA" + _draw(16, string.ascii_uppercase + string.digits)
_AWS_SECRET = _draw(18) + "/" + _draw(10) + "+" + _draw(10)
SECRET_KINDS = [
    _kind("deepseek", "s" + "k-" + _draw(32, _HEX)),
    _kind("openrouter", "sk-" + "or-v1-" + _draw(64, _HEX)),
    _kind("groq", "gs" + "k_" + _draw(52)),
    _kind("huggingface", "h" + "f_" + _draw(34, string.ascii_letters + "0")),
    _kind("xai", "xa" + "i-" + _draw(80)),
    _kind("perplexity", "pp" + "lx-" + _draw(48)),
    _kind("replicate", "r" + "8_" + _draw(37)),
    _kind("fireworks", "f" + "w_" + _draw(24)),
    _kind("google-oauth", "ya" + "29." + _draw(120, _B64URL)),
    _kind("jwt", "ey" + "J" + _draw(30, _B64URL) + ".ey" + "J" + _draw(60, _B64URL) + "." + _draw(43, _B64URL)),
    SecretKind("aws-secret", f"{_AWS_ID} {_AWS_SECRET}", (_AWS_ID, _AWS_SECRET)),
    _kind("mistral", _draw(32), named=True, header="Authorization"),
    _kind("cohere", _draw(40), named=True, header="x-authkey"),
    _kind("azure", _draw(32, _HEX), named=True, header="api-key"),
]
PLACES = ["header", "json-field", "free-text", "url-query", "sse-split"]


def _applies(kind: SecretKind, place: str) -> bool:
    return not kind.named or place in ("header", "json-field")


def _header_value(kind: SecretKind) -> str:
    return f"Bearer {kind.value}" if kind.header == "Authorization" else kind.value


def _sse_split(text: str) -> str:
    """An OpenAI chat stream whose content holds ``text``, cut in its middle between two events."""
    half = len(text) // 2
    deltas = ["Here it is: ", text[:half], text[half:], " (keep it safe)"]
    events = [{"id": "chatcmpl-1", "object": "chat.completion.chunk", "model": "gpt-4o-mini",
               "choices": [{"index": 0, "delta": {"content": d}, "finish_reason": None}]} for d in deltas]
    events.append({"id": "chatcmpl-1", "object": "chat.completion.chunk", "model": "gpt-4o-mini",
                   "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]})
    return "".join(f"data: {orjson.dumps(e).decode()}\n\n" for e in events) + "data: [DONE]\n\n"


def _exchange(kind: SecretKind, place: str) -> tuple[str, dict[str, str], bytes, str]:
    """(URL, request headers, request body, response SSE) with the credential in ``place``."""
    url = "https://api.example.com/v1/chat/completions"
    headers = {"content-type": "application/json"}
    body: dict = {"model": "gpt-4o-mini", "stream": True, "messages": [{"role": "user", "content": "hello"}]}
    answer = _sse_split("nothing to see")
    if place == "header":
        headers[kind.header] = _header_value(kind)
    elif place == "json-field":
        body["api_key"] = kind.value
    elif place == "free-text":
        body["messages"][0]["content"] = f"my credentials are {kind.value} -- use them"
    elif place == "url-query":
        url += "?trace=" + kind.value.replace(" ", "&also=")
    else:
        answer = _sse_split(kind.value)
    return url, headers, orjson.dumps(body), answer


def _har_entry(url: str, headers: dict[str, str], body: bytes, answer: str) -> dict:
    return {"startedDateTime": "2026-01-01T00:00:00.000Z", "time": 10,
            "request": {"method": "POST", "url": url, "httpVersion": "HTTP/1.1", "cookies": [], "queryString": [],
                        "headers": [{"name": k, "value": v} for k, v in headers.items()], "headersSize": -1,
                        "bodySize": len(body), "postData": {"mimeType": "application/json", "text": body.decode()}},
            "response": {"status": 200, "statusText": "OK", "httpVersion": "HTTP/1.1", "cookies": [],
                         "headers": [{"name": "content-type", "value": "text/event-stream"}], "redirectURL": "",
                         "headersSize": -1, "bodySize": len(answer),
                         "content": {"size": len(answer), "mimeType": "text/event-stream", "text": answer}},
            "cache": {}, "timings": {"send": 0, "wait": 5, "receive": 5}}


def _matrix_files(folder: Path) -> dict[str, list[SecretKind]]:
    """One HAR file per place, one exchange per kind that applies there."""
    files = {}
    for place in PLACES:
        kinds = [k for k in SECRET_KINDS if _applies(k, place)]
        doc = {"log": {"version": "1.2", "creator": {"name": "test", "version": "1"},
                       "entries": [_har_entry(*_exchange(k, place)) for k in kinds]}}
        path = folder / f"{place}.har"
        path.write_bytes(orjson.dumps(doc, option=orjson.OPT_INDENT_2))
        files[str(path)] = kinds
    return files


def test_secret_kinds_matrix_check_finds_every_one(tmp_path: Path) -> None:
    files = _matrix_files(tmp_path)
    code, out, err = _run(["check", "--json", *files])
    assert code == 1, err
    for line in out.splitlines():
        doc = orjson.loads(line)
        kinds = files[doc["source"]]
        flagged = {a["exchange"] for a in doc["anomalies"] if a["code"] == "unmasked-secret"}
        missed = [k.name for n, k in enumerate(kinds) if n not in flagged]
        assert not missed, f"{Path(doc['source']).name}: check misses {missed}"
    for kind in SECRET_KINDS:
        for secret in kind.secrets:
            assert secret not in out and secret not in err


def test_secret_kinds_matrix_redact_replaces_every_one(tmp_path: Path) -> None:
    """Every kind in every place is replaced; a key the stream spells across two events has each
    piece overwritten in place. Afterwards ``check`` finds nothing and every file still reads."""
    files = _matrix_files(tmp_path)
    code, out, err = _run(["redact", "--in-place", *files])
    assert code == 1 and err == "", err
    for path, kinds in files.items():
        data = Path(path).read_text()
        for kind in kinds:
            for secret in kind.secrets:
                assert secret not in data, f"{Path(path).name}: {kind.name} left in place"
            if path.endswith("sse-split.har"):
                half = len(kind.value) // 2
                for piece in (kind.value[:half], kind.value[half:]):
                    assert piece not in data, f"sse-split.har: a piece of {kind.name} left in place"
    code, out, err = _run(["check", "--json", *files])
    assert code in (0, 1) and "unmasked-secret" not in out, out


def _matrix_upstream(gzipped: bool = False):
    """An upstream on loopback that answers ``/v1/{place}/{n}`` with that exchange's stream,
    written event by event (each a separate network read), gzipped when asked."""
    from aiohttp import web

    async def answer(request: web.Request) -> web.StreamResponse:
        await request.read()
        place, n = request.match_info["place"], int(request.match_info["n"])
        text = _exchange(SECRET_KINDS[n], place)[3]
        headers = {"content-type": "text/event-stream"}
        if gzipped:
            headers["content-encoding"] = "gzip"
        out = web.StreamResponse(headers=headers)
        await out.prepare(request)
        packer = zlib.compressobj(wbits=31) if gzipped else None
        for event in text.split("\n\n"):
            data = (event + "\n\n").encode() if event else b""
            if packer is not None:
                data = packer.compress(data) + packer.flush(zlib.Z_SYNC_FLUSH)
            if data:
                await out.write(data)
                await asyncio.sleep(0.005)  # its own read at the proxy
        if packer is not None:
            await out.write(packer.flush())
        await out.write_eof()
        return out

    app = web.Application()
    app.router.add_post("/v1/{place}/{n}", answer)
    return app


@pytest.mark.parametrize("save_as", ["har", "vcr"])
@pytest.mark.parametrize("gzipped", [False, True], ids=["plain", "gzip"])
def test_secret_kinds_matrix_record_writes_none(tmp_path: Path, save_as: str, gzipped: bool) -> None:
    import httpx
    from test_record import _in_thread, recording

    from llmtrace.server.app import Listening

    class Upstream(Listening):
        def application(self):
            return _matrix_upstream(gzipped)

    out = tmp_path / "recorded"
    sent = 0
    with _in_thread(Upstream("127.0.0.1", 0)) as upstream, recording(upstream.base_url, out, save_as) as (proxy, lines):
        with httpx.Client(timeout=30) as client:
            for place in PLACES:
                for n, kind in enumerate(SECRET_KINDS):
                    if not _applies(kind, place):
                        continue
                    url, headers, body, _ = _exchange(kind, place)
                    path = f"/v1/{place}/{n}" + (url.partition("?")[1] + url.partition("?")[2] if "?" in url else "")
                    response = client.post(proxy + path, content=body, headers=headers)
                    assert response.status_code == 200
                    sent += 1
        deadline = time.monotonic() + 30
        while len(lines) < sent and time.monotonic() < deadline:
            time.sleep(0.02)
    assert len(lines) == sent, lines[-3:]
    files = sorted(out.iterdir())
    written = b"".join(p.read_bytes() for p in files)
    for kind in SECRET_KINDS:
        for secret in kind.secrets:
            assert secret.encode() not in written, f"record wrote {kind.name} unmasked"
            assert base64.b64encode(secret.encode())[:40] not in written
    code, stdout, err = _run(["check", "--json", *map(str, files)])
    assert "unmasked-secret" not in stdout, stdout[:3000]
    if gzipped and save_as == "har":
        assert b"_chunks_dropped" in written


# --- record and serve under hostile input (issue #25) --------------------------------------------


def _har_doc(*entries: dict) -> dict:
    return {"log": {"version": "1.2", "creator": {"name": "test", "version": "1"}, "entries": list(entries)}}


def test_check_reads_raw_chunks_and_the_redirect_url(tmp_path: Path) -> None:
    key = SECRET_KINDS[2].value  # groq
    token = _draw(32)
    entry = _har_entry("https://api.example.com/v1/chat/completions", {}, b"{}", _sse_split("fine"))
    entry["response"]["content"]["_chunks"] = [{"offset_ms": 1, "text": f"data: {key[:10]}"},
                                               {"offset_ms": 2, "text": f"{key[10:]}\n\n"}]
    entry["response"]["redirectURL"] = f"https://example.com/cb?access_token={token}"
    path = tmp_path / "raw.har"
    path.write_bytes(orjson.dumps(_har_doc(entry)))
    code, out, err = _run(["check", "--json", str(path)])
    places = {a["details"]["place"] for a in orjson.loads(out)["anomalies"] if a["code"] == "unmasked-secret"}
    assert places == {"response _chunks", "response redirectURL"}, out
    assert key not in out and token not in out


def test_a_stream_cut_inside_its_first_event_is_a_readable_recording(tmp_path: Path) -> None:
    entry = _har_entry("https://api.openai.com/v1/chat/completions", {}, b'{"model": "gpt-4o", "stream": true}',
                       'data: {"id":"c","object":"chat.completion.chunk","choices":[{"index":0,"delta":{"con')
    entry["response"]["_error"] = "the upstream dropped the connection mid-stream"
    path = tmp_path / "cut.har"
    path.write_bytes(orjson.dumps(_har_doc(entry)))
    code, out, err = _run(["check", str(path)])
    assert code == 1 and "no-finish" in out, (code, out, err)


def _bomb_upstream(member: bytes):
    from aiohttp import web

    async def answer(request: web.Request) -> web.StreamResponse:
        await request.read()
        out = web.StreamResponse(headers={"content-type": "application/json", "content-encoding": "gzip"})
        await out.prepare(request)
        for at in range(0, len(member), 1 << 16):
            await out.write(member[at:at + (1 << 16)])
        await out.write_eof()
        return out

    app = web.Application()
    app.router.add_post("/{tail:.*}", answer)
    return app


@functools.lru_cache(maxsize=2)
def _gzip_of_zeros(total: int, block: int = 16 << 20) -> bytes:
    """One gzip member inflating to ``total`` zero bytes (about total/1000 bytes of it), made in
    a fraction of a second: one block of zeros compressed and ended by a full flush (the
    output byte-aligned and referring to nothing before it), that piece repeated, then an empty
    final block and the trailer (CRC-32 and size of the whole)."""
    assert total % block == 0
    packer = zlib.compressobj(9, zlib.DEFLATED, -15)
    piece = packer.compress(bytes(block)) + packer.flush(zlib.Z_FULL_FLUSH)
    crc, zeros = 0, bytes(block)
    for _ in range(total // block):
        crc = zlib.crc32(zeros, crc)
    return (b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x02\xff" + piece * (total // block) + b"\x03\x00"
            + struct.pack("<II", crc, total & 0xFFFFFFFF))


def test_the_gzip_bomb_is_one_valid_member() -> None:
    small = _gzip_of_zeros(64 << 20)
    assert gzip.decompress(small) == bytes(64 << 20)
    inflater = zlib.decompressobj(31)
    assert len(inflater.decompress(small)) == 64 << 20 and inflater.eof and not inflater.unused_data


@pytest.mark.parametrize("save_as", ["har", "vcr"])
def test_record_saves_a_gzip_bomb_truncated_under_a_memory_cap(tmp_path: Path, save_as: str) -> None:
    """2 GiB of zeros in a 2 MB gzip, recorded by a ``record`` process capped at 1 GiB of
    address space with ``--max-size 4M``: saved truncated at 4 MiB with ``_error`` saying so."""
    import httpx
    from test_record import _in_thread

    from llmtrace.server.app import Listening

    member = _gzip_of_zeros(2 << 30)

    class Upstream(Listening):
        def application(self):
            return _bomb_upstream(member)

    out = tmp_path / "rec"
    env = {**os.environ, "NO_COLOR": "1", "COLUMNS": "100"}
    with _in_thread(Upstream("127.0.0.1", 0)) as upstream:
        proc = subprocess.Popen([sys.executable, "-m", "llmtrace", "record", "--upstream", upstream.base_url,
                                 "--listen", "127.0.0.1:0", "-o", str(out), "--save-as", save_as, "--max-size", "4M"],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, preexec_fn=_limit)
        try:
            base = proc.stdout.readline().strip()
            assert base.startswith("http://127.0.0.1:"), proc.stderr.read() if proc.poll() is not None else base
            with httpx.Client(timeout=60) as client:
                with client.stream("POST", base + "/v1/chat/completions", content=b"{}") as response:
                    assert response.status_code == 200
                    assert sum(map(len, response.iter_raw())) == len(member)  # passed on as sent
            deadline = time.monotonic() + 60
            log = []
            while time.monotonic() < deadline and not any("→" in line and "POST" in line for line in log):
                log.append(proc.stderr.readline())
        finally:
            proc.send_signal(signal.SIGTERM)
            rest = proc.communicate(timeout=60)[1]
    err = "".join(log) + rest
    assert proc.returncode == 0, err
    assert "Traceback" not in err and "MemoryError" not in err and "NOT SAVED" not in err, err
    (path,) = [p for p in out.iterdir() if p.suffix in (".har", ".yaml")]
    data = path.read_bytes()
    assert b"limit (--max-size): saved truncated there" in data
    if save_as == "har":
        content = orjson.loads(data)["log"]["entries"][0]["response"]["content"]
        assert content["size"] == 4 << 20


_CHAT = Path(__file__).parent / "data" / "cassettes" / "crewAI" / "cassettes--test_usage_info_streaming_with_acall.yaml"


class _Served(NamedTuple):
    proc: subprocess.Popen
    base: str


def _serve(*args: str, cap: int = MEMORY_CAP):
    """``llmtrace serve`` in its own process (address space capped) on a free port of
    127.0.0.1; returns (process, base URL). Stop with ``_stop``."""
    env = {**os.environ, "NO_COLOR": "1", "COLUMNS": "100"}

    def limit() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (cap, cap))
        os.setsid()

    proc = subprocess.Popen([sys.executable, "-m", "llmtrace", "serve", "--port", "0", "--speed", "max", *args],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, preexec_fn=limit)
    base = proc.stdout.readline().strip()
    if not base.startswith("http://127.0.0.1:"):
        proc.kill()
        pytest.fail(f"serve did not start: {proc.communicate(timeout=30)[1][-2000:]}")
    return _Served(proc, base)


def _peak_rss(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    raise AssertionError("no VmHWM")


def _stop(served: _Served) -> str:
    served.proc.send_signal(signal.SIGTERM)
    try:
        _, err = served.proc.communicate(timeout=30)
    except subprocess.TimeoutExpired:
        os.killpg(served.proc.pid, signal.SIGKILL)
        _, err = served.proc.communicate()
    return err


def _chat_body() -> dict:
    from llmtrace.loader import load

    return dict(load(str(_CHAT)).exchanges[0].request.body)


def _rss(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise AssertionError("no VmRSS")


def test_serve_memory_stays_bounded_under_padded_requests() -> None:
    """Matching requests padded with 16 MiB (and n) spaces each, every one different: the memo
    of matched requests keeps digests, not bodies, so what the server holds does not grow with
    them. Two sizes in one run: from 4 requests to 16 its resident memory grows by less than
    64 MiB, where keeping the bodies would add 192 MiB; the peak stays under 400 MB (the
    memo once held 3 GB after 100 requests padded with 30 MiB)."""
    import httpx

    body = orjson.dumps(_chat_body() | {"stream": False})
    served = _serve(str(_CHAT))
    held = []
    try:
        with httpx.Client(timeout=60) as client:
            for n in range(16):
                padded = body[:-1] + b" " * ((16 << 20) + n) + b"}"
                response = client.post(served.base + "/v1/chat/completions", content=padded,
                                       headers={"content-type": "application/json"})
                assert response.status_code == 200, response.text[:300]
                if n in (3, 15):
                    held.append(_rss(served.proc.pid))
        peak = _peak_rss(served.proc.pid)
    finally:
        err = _stop(served)
    assert held[1] - held[0] < 64 << 20, f"resident memory grew by {(held[1] - held[0]) >> 20} MiB over 12 requests"
    assert peak < 400 << 20, f"peak RSS {peak >> 20} MB"
    assert "Traceback" not in err


@pytest.mark.parametrize("spec", ["stall:after=1,seconds=nan", "stall:after=1,seconds=inf",
                                  "error:status=429,retry_after=nan", "error:status=429,retry_after=inf",
                                  "error:status=429,retry_after=1e400"])
def test_fault_values_must_be_finite(spec: str) -> None:
    code, out, err = _run(["serve", "--fault", spec, str(_CHAT)])
    assert code == 2 and err.count("\n") == 1 and "finite" in err, err


def test_retry_after_is_sent_as_a_whole_number() -> None:
    import httpx

    served = _serve("--fault", "error:status=429,retry_after=2.5", str(_CHAT))
    try:
        with httpx.Client(timeout=30) as client:
            response = client.post(served.base + "/v1/chat/completions", json=_chat_body())
    finally:
        _stop(served)
    assert response.status_code == 429 and response.headers["retry-after"] == "3"


@pytest.mark.parametrize("status, body", [(999, True), (600, True), (103, True), (204, True), (304, True), (-7, True)])
def test_a_recorded_status_no_server_sends_is_served_as_502_and_flagged(tmp_path: Path, status: int, body: bool) -> None:
    import httpx

    answer = {"id": "chatcmpl-1", "object": "chat.completion", "model": "gpt-4o-mini",
              "choices": [{"index": 0, "message": {"role": "assistant", "content": "hi"}, "finish_reason": "stop"}]}
    request = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hello"}]}
    entry = _har_entry("https://api.openai.com/v1/chat/completions", {"content-type": "application/json"},
                       orjson.dumps(request), orjson.dumps(answer).decode())
    entry["response"]["status"] = status
    entry["response"]["content"]["mimeType"] = "application/json"
    entry["response"]["headers"] = [{"name": "content-type", "value": "application/json"}]
    path = tmp_path / "status.har"
    path.write_bytes(orjson.dumps(_har_doc(entry)))
    code, out, err = _run(["check", "--json", str(path)])
    doc = orjson.loads(out) if out.strip() else {}
    if code == 2:  # a status the container itself refuses: one line, no serving
        assert err.count("\n") == 1 and "status" in err, err
        return
    assert "bad-status" in {a["code"] for a in doc["anomalies"]}, out
    served = _serve(str(path))
    try:
        with httpx.Client(timeout=30) as client:
            for stream in (False, True):
                response = client.post(served.base + "/v1/chat/completions", json=request | {"stream": stream})
                assert response.status_code == 502, response.status_code
                assert response.headers["x-llmtrace-recorded-status"] == str(status)
    finally:
        err = _stop(served)
    assert "Traceback" not in err


# --- the API and the plugin (issue #25, items 14 and 15) -------------------------------------------


@pytest.mark.parametrize("source", ["a\0b", Path("dir\0name.yaml"), "x" * 5000, "a/" * 3000, "/nonexistent/x.har",
                                    b"\0\0", b"", "", b"\xff\xfe" * 10, ".", "-" * 300],
                         ids=["nul", "path-nul", "too-long", "deep", "missing", "nul-bytes", "no-bytes", "empty",
                              "binary", "dot", "dashes"])
def test_load_raises_only_unreadable_input(source) -> None:
    import llmtrace

    with pytest.raises(llmtrace.UnreadableInput) as caught:
        llmtrace.load(source)
    assert "\n" not in caught.value.line() and "\0" not in caught.value.line()


@pytest.mark.parametrize("source", [123, None, 1.5, ["a.har"]])
def test_load_of_something_that_is_no_path_is_a_type_error(source) -> None:
    import llmtrace

    with pytest.raises(TypeError):
        llmtrace.load(source)


def test_serve_refuses_foreign_hosts_names_recordings_relatively_and_answers_405(tmp_path: Path) -> None:
    import shutil

    import httpx

    from llmtrace.server.app import Server, is_loopback_host

    folder = tmp_path / "recs"
    folder.mkdir()
    shutil.copy(_CHAT, folder / "chat.yaml")
    served = _serve(str(folder.resolve()))
    try:
        with httpx.Client(timeout=30) as client:
            base = served.base
            for host in ("evil.example", "evil.example:80", "127.0.0.1.nip.io", "[::2]", "10.0.0.1"):
                assert client.get(base + "/llmtrace/health", headers={"Host": host}).status_code == 421, host
                assert client.post(base + "/v1/chat/completions", json=_chat_body(),
                                   headers={"Host": host}).status_code == 421, host
            for host in ("localhost", f"localhost:{base.rsplit(':', 1)[1]}", "127.0.0.1", "app.localhost", "[::1]:9"):
                assert client.get(base + "/llmtrace/health", headers={"Host": host}).status_code == 200, host
            health = client.get(base + "/llmtrace/health").json()
            assert health["recordings"] == ["chat.yaml"], health
            miss = client.post(base + "/v1/chat/completions", json={"model": "other", "messages": []})
            assert miss.status_code == 404 and str(tmp_path) not in miss.text
            assert miss.json()["error"]["llmtrace"]["closest"]["file"] == "chat.yaml", miss.text
            for method in ("GET", "OPTIONS", "HEAD", "PUT"):
                response = client.request(method, base + "/v1/chat/completions")
                assert response.status_code == 405 and "text/event-stream" not in response.headers.get("content-type", "")
    finally:
        err = _stop(served)
    assert "Traceback" not in err and str(tmp_path) not in err.replace(str(folder.resolve()), "")
    cors = _serve("--cors", str(_CHAT))
    try:
        with httpx.Client(timeout=30) as client:
            preflight = client.request("OPTIONS", cors.base + "/v1/chat/completions",
                                       headers={"Origin": "http://localhost:3000", "Access-Control-Request-Method": "POST"})
            assert preflight.status_code == 204 and preflight.headers["access-control-allow-origin"] == "*"
            assert client.get(cors.base + "/v1/chat/completions").status_code == 405
    finally:
        _stop(cors)
    assert Server([], host="0.0.0.0").replay.loopback_only is False  # --host 0.0.0.0 allows any Host
    assert not is_loopback_host("localhost.evil.example") and is_loopback_host("127.8.9.10:1")


@pytest.mark.parametrize("encoder", ["wire", "cohere", "anthropic_completions", "openai_assistants", "replicate"])
@pytest.mark.parametrize("name", ["a\rb", "a\nb", "a\r\nevent: forged", "x\0y"])
def test_recorded_values_never_frame_the_stream(encoder: str, name: str) -> None:
    """A CR or LF in a recorded value that becomes an ``event:`` name or a ``data:`` line is
    dropped or split as SSE reads it: the client parses exactly the event served."""
    import importlib
    import io

    from llmtrace.containers.bodies import text_lines
    from llmtrace.sse import iter_events

    if encoder == "wire":
        from llmtrace.server.wire import _event as encode
    else:
        encode = importlib.import_module(f"llmtrace.dialects.{encoder}").encode
    chunk = ({"event": name, "data": f"one{name}two"} if encoder == "replicate"
             else {"type": name, "event": name, "object": "thread.run", "status": "queued", "delta": "hi"})
    frame = encode(chunk)
    events = list(iter_events(text_lines(frame.decode())))
    assert len(events) == 1, frame
    (event,) = events
    assert "\r" not in event.event and "\n" not in event.event and "forged" != event.event
    if encoder == "replicate":
        assert event.data == "one{}two".format(name.replace("\r\n", "\n").replace("\r", "\n")), frame
    else:
        assert orjson.loads(event.data) == chunk
        if encoder != "openai_assistants":  # which names events from the object, not from "type"
            assert event.event == "message"  # the unsafe name is left out


def test_gzipped_request_bodies_inflate_under_the_bound_and_ten_bombs_leave_serve_answering() -> None:
    """Ten concurrent 2 MB gzip bombs (2 GiB each inflated) at a server capped at 1 GiB of
    address space: each is a 413 once 64 MiB came out, none a 500 or a traceback; a gzipped
    ordinary body is still read."""
    import concurrent.futures

    import httpx

    bomb = _gzip_of_zeros(2 << 30)
    assert len(bomb) < 3 << 20
    served = _serve(str(_CHAT))
    try:
        def send(_: int) -> int:
            with httpx.Client(timeout=120) as client:
                return client.post(served.base + "/v1/chat/completions", content=bomb,
                                   headers={"content-encoding": "gzip", "content-type": "application/json"}).status_code

        with concurrent.futures.ThreadPoolExecutor(10) as pool:
            assert list(pool.map(send, range(10))) == [413] * 10
        with httpx.Client(timeout=30) as client:
            assert client.get(served.base + "/llmtrace/health").status_code == 200
            body = gzip.compress(orjson.dumps(_chat_body() | {"stream": False}))
            ok = client.post(served.base + "/v1/chat/completions", content=body,
                             headers={"content-encoding": "gzip", "content-type": "application/json"})
            assert ok.status_code == 200, ok.text[:300]
    finally:
        err = _stop(served)
    assert "Traceback" not in err and err.count("→ 413") == 10, err[-2000:]


def test_sigterm_ends_streams_in_flight_at_once() -> None:
    """A stream stalled for a minute, then SIGTERM: serve ends it and exits 0 without waiting
    for aiohttp's grace time (it says so in its log); the bound here is generous, the log line
    is what tells the two behaviours apart."""
    import threading

    import httpx

    served = _serve("--fault", "stall:after=1,seconds=60", str(_CHAT))
    got: list = []

    def client() -> None:
        try:
            with httpx.Client(timeout=90) as http:
                with http.stream("POST", served.base + "/v1/chat/completions", json=_chat_body()) as response:
                    for chunk in response.iter_raw():
                        got.append(chunk)
        except httpx.HTTPError as exc:
            got.append(exc)

    thread = threading.Thread(target=client, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not got and time.monotonic() < deadline:
        time.sleep(0.02)
    assert got, "no frame arrived"
    served.proc.send_signal(signal.SIGTERM)
    assert served.proc.wait(30) == 0
    err = served.proc.stderr.read()
    thread.join(30)
    assert "stopping: 1 stream in flight ended" in err and "Traceback" not in err, err
    assert isinstance(got[-1], httpx.HTTPError)  # the client sees the stream end early


RST = b"\x01\x00\x00\x00\x00\x00\x00\x00"  # SO_LINGER on, 0 s: close() sends a reset


class _Client(NamedTuple):
    sock: object
    port: int  # the client's own port: what a "bad HTTP request from" line names


def _raw(port: int, data: bytes, *, read: int = 0, reset_after: float | None = None, answer: bool = False) -> _Client:
    """A raw client: sends ``data``; reads ``read`` bytes first if asked; then resets the
    connection after ``reset_after`` seconds, or reads the answer (``answer``), or keeps the
    socket open (the caller closes it)."""
    import socket

    sock = socket.create_connection(("127.0.0.1", port), timeout=10)
    client = _Client(sock, sock.getsockname()[1])
    sock.sendall(data)
    got = b""
    while len(got) < read:
        more = sock.recv(read - len(got))
        if not more:
            break
        got += more
    if reset_after is not None:
        time.sleep(reset_after)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, RST)
        sock.close()
    elif answer:
        try:
            sock.recv(1024)
        except OSError:
            pass
        sock.close()
    return client


def _post(body: bytes, path: str = "/v1/chat/completions", length: int | None = None) -> bytes:
    return (b"POST %s HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n"
            % (path.encode(), len(body) if length is None else length)) + body


def _collect(proc: subprocess.Popen):
    """The process's stderr lines as they come (a reader thread, done when the process ends)."""
    import threading

    lines: list[str] = []
    reader = threading.Thread(target=lambda: lines.extend(iter(proc.stderr.readline, "")), daemon=True)
    reader.start()
    return lines, reader


def _until(lines: list[str], count: Callable[[list[str]], int], n: int) -> None:
    """Wait until ``count(lines)`` reaches ``n``: a guard against a hang, not a time bound."""
    deadline = time.monotonic() + 60
    while count(list(lines)) < n and time.monotonic() < deadline:
        time.sleep(0.05)


def _slow_upstream():
    """An upstream for ``record``: ``/late`` answers after half a second (the client has left
    by then), ``/stall`` sends a chunk, waits 0.3 s, sends another, ``/hold`` sends a chunk
    and waits a minute (the proxy is stopped meanwhile)."""
    from aiohttp import web
    from test_record import posting

    async def answer(request: web.Request) -> web.StreamResponse:
        await request.read()
        if request.path == "/late":
            await asyncio.sleep(0.5)
        out = web.StreamResponse(headers={"content-type": "text/event-stream"})
        await out.prepare(request)
        await out.write(b'data: {"n": 1}\n\n')
        if request.path == "/stall":
            await asyncio.sleep(0.3)
        for _ in range(600 if request.path == "/hold" else 0):  # until the proxy goes (a minute at most)
            if request.transport is None or request.transport.is_closing():
                return out
            await asyncio.sleep(0.1)
        await out.write(b"data: [DONE]\n\n")
        await out.write_eof()
        return out

    return posting(answer)


@pytest.mark.parametrize("command", ["serve", "record"])
def test_ordinary_client_behaviour_is_one_line_each_and_no_traceback(command: str, tmp_path: Path) -> None:
    """Malformed HTTP (a bad method on a connection's first request too), a body cut off by a
    reset, a client that leaves before the answer or mid-stream (the reset surfacing inside
    aiohttp's own write), a stream and a body still in flight when the process is stopped (the
    handler cancelled): each request is exactly one ``llmtrace:`` line on stderr, a malformed
    one naming the client's address and port and what was wrong; never a traceback."""
    import contextlib

    from test_record import _in_thread

    from llmtrace.server.app import Listening

    class Upstream(Listening):
        def application(self):
            return _slow_upstream()

    body = orjson.dumps(_chat_body())
    held: list = []
    with contextlib.ExitStack() as stack:
        if command == "serve":  # the first matched request stalls 0.3 s after frame 1, the second a minute
            served = _serve("--fault", "stall:after=1,seconds=0.3,request=0", "--fault",
                            "stall:after=1,seconds=60,request=1", str(_CHAT))
            proc, port = served.proc, int(served.base.rsplit(":", 1)[1])
            stall = hold = "/v1/chat/completions"
        else:
            upstream = stack.enter_context(_in_thread(Upstream("127.0.0.1", 0)))
            env = {**os.environ, "NO_COLOR": "1", "COLUMNS": "100"}
            proc = subprocess.Popen([sys.executable, "-m", "llmtrace", "record", "--upstream", upstream.base_url,
                                     "--listen", "127.0.0.1:0", "-o", str(tmp_path / "rec")], stdout=subprocess.PIPE,
                                    stderr=subprocess.PIPE, text=True, env=env, preexec_fn=_limit)
            port = int(proc.stdout.readline().strip().rsplit(":", 1)[1])
            stall, hold = "/stall", "/hold"
        stack.callback(lambda: proc.poll() is None and (proc.kill(), proc.wait(30)))
        stack.callback(lambda: [sock.close() for sock in held])
        lines, reader = _collect(proc)
        requests = lambda seen: sum(" → " in line and "POST /" in line for line in seen)  # noqa: E731
        bad = [_raw(port, b"GARBAGE\r\n\r\n", answer=True),  # a bad method: aiohttp logs it at debug level only
               _raw(port, b"GET / HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: chunked\r\n"
                          b"Content-Length: 5\r\n\r\n", answer=True)]
        _raw(port, _post(b'{"a":', length=1000), reset_after=0.3)  # the body cut off by a reset
        if command == "record":  # the client leaves before the upstream answers: the answer cannot begin
            _raw(port, _post(body, "/late"), reset_after=0.2)
        _raw(port, _post(body, stall), read=100, reset_after=0.0)  # leaves mid-stream, during the stall
        _until(lines, requests, 2 if command == "serve" else 3)
        held.append(_raw(port, _post(body, hold), read=100).sock)  # a stream still going when stopped
        held.append(_raw(port, _post(b'{"a":', length=1000)).sock)  # a body still coming when stopped
        time.sleep(0.3)
        proc.send_signal(signal.SIGTERM)
        proc.wait(60)
        reader.join(30)
    err = "".join(lines)
    assert "Traceback" not in err, err
    for line in err.splitlines():
        assert line.startswith("llmtrace: "), f"stray line: {line!r}\n{err}"
    assert requests(lines) == (5 if command == "record" else 4), err  # one line per request, no more, no fewer
    for client, what in zip(bad, ("Invalid method", "Content-Length can't be present with Transfer-Encoding")):
        assert f"llmtrace: bad HTTP request from 127.0.0.1:{client.port}: {what}" in err, err
    assert err.count("bad HTTP request") == 2 and "Error handling request" not in err, err
    assert err.count("aborted (the client left while sending its body") == 1, err
