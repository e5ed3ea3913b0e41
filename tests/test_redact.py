"""``llmtrace redact``: credentials replaced with placeholders at the byte level, every other byte
kept; compressed and base64 bodies re-encoded only when a secret was inside; atomic in-place
writes; idempotent; ``check`` finds nothing afterwards. Keys are generated at test time and
injected into temporary copies of real cassettes (tests/data/secrets, with their LICENSE)."""

from __future__ import annotations

import base64
import gzip
import os
import re
import stat
import subprocess
import sys
from pathlib import Path
from typing import NamedTuple

import orjson
import pytest
from typer.testing import CliRunner

from llmtrace.anomalies import detect_recording
from llmtrace.cli import app
from llmtrace.commands.redact import redact_recording
from llmtrace.loader import load
from secrets_gen import keys

DATA = Path(__file__).parent / "data" / "secrets"
EXAMPLES = Path(__file__).parent.parent / "examples" / "containers"
CREWAI = DATA / "crewAI" / "llms--TestMixedStreamingEvents.test_streaming_distinguishes_text_and_tool_calls.yaml"
GZIP_BODIES = DATA / "openllmetry" / "test_assistant--test_streaming_existing_assistant.yaml"
K = keys(7)
AZURE_KEY = "0f3c2a9b" + "8e7d6c5b4a3928170" + "6f5e4d3c"  # a bare hex key: found by its header's name


class Result(NamedTuple):
    returncode: int
    stdout: bytes
    stderr: bytes


def llmtrace(*args: str) -> Result:
    """The command line, run in this process (a subprocess costs a start-up per call)."""
    result = CliRunner().invoke(app, list(args))
    return Result(result.exit_code, result.stdout_bytes, result.stderr_bytes)


def leaky_cassette(tmp_path: Path) -> tuple[Path, dict[str, str]]:
    """The crewAI cassette with a key in its Authorization header, its URL, a request body, a
    response chunk, and a hex key in an api-key header and a session cookie: secret → placeholder."""
    text = CREWAI.read_text()
    secrets = {K["openai-api-key"]: "<OPENAI_API_KEY>", K["google-api-key"]: "<GOOGLE_API_KEY>",
               K["anthropic-api-key"]: "<ANTHROPIC_API_KEY>", K["github-token"]: "<GITHUB_TOKEN>",
               AZURE_KEY: "<REDACTED>", "Zx81bc9dke83nxmzQ": "<REDACTED>"}
    text = text.replace("- AUTHORIZATION-XXX", f"- Bearer {K['openai-api-key']}\n      api-key:\n      - {AZURE_KEY}"
                        f"\n      cookie:\n      - __cf_bm=abc123def456ghi789; session=Zx81bc9dke83nxmzQ", 1)
    text = text.replace("uri: https://api.openai.com/v1/chat/completions",
                        f"uri: https://api.openai.com/v1/chat/completions?key={K['google-api-key']}", 1)
    assert '"content":"' in text
    text = text.replace('"content":"', f'"content":"my key is {K["anthropic-api-key"]}, ', 1)
    text = text.replace('"arguments":"city"', f'"arguments":"city {K["github-token"]}"', 1)
    path = tmp_path / "leaky.yaml"
    path.write_text(text)
    for secret in secrets:
        assert secret in text
    return path, secrets


def expected(original: bytes, secrets: dict[str, str]) -> bytes:
    """The original with each secret's bytes replaced by its placeholder, nothing else."""
    for secret, placeholder in secrets.items():
        original = original.replace(secret.encode(), placeholder.encode())
    return original


def unmasked(path: Path) -> list[dict]:
    recording = load(str(path))
    return [a.model_dump() for a in detect_recording(recording) if a.code == "unmasked-secret"]


def test_redact_replaces_only_the_secrets(tmp_path):
    path, secrets = leaky_cassette(tmp_path)
    original = path.read_bytes()
    found = unmasked(path)
    assert {a["details"]["place"] for a in found} >= {"request header authorization", "request header api-key",
                                                       "request header cookie", "request URL", "request body",
                                                       "response chunks (tool call)"}
    out = tmp_path / "out.yaml"
    result = llmtrace("redact", "-o", str(out), str(path))
    assert result.returncode == 1, result.stderr
    assert out.read_bytes() == expected(original, secrets)
    assert path.read_bytes() == original  # the input is never written without --in-place
    lines = result.stdout.decode().splitlines()
    assert len(lines) == len(secrets)
    assert all(line.startswith(f"{path}: line ") and "→ <" in line for line in lines)
    for secret in secrets:
        assert secret not in result.stdout.decode() + result.stderr.decode()
    assert "__cf_bm=abc123def456ghi789" in out.read_text()  # a bot-management cookie is no credential
    assert unmasked(out) == []


def test_redact_is_idempotent(tmp_path):
    path, _ = leaky_cassette(tmp_path)
    once, twice = tmp_path / "once.yaml", tmp_path / "twice.yaml"
    assert llmtrace("redact", "-o", str(once), str(path)).returncode == 1
    again = llmtrace("redact", "-o", str(twice), str(once))
    assert again.returncode == 0 and again.stdout == b""
    assert twice.read_bytes() == once.read_bytes()


def test_in_place_is_atomic_keeps_permissions_and_backup(tmp_path):
    path, secrets = leaky_cassette(tmp_path)
    original = path.read_bytes()
    path.chmod(0o640)
    result = subprocess.run([sys.executable, "-m", "llmtrace", "redact", "--in-place", "--backup", ".orig", str(path)],
                            capture_output=True, timeout=120)  # once as a real process
    assert result.returncode == 1, result.stderr
    assert path.read_bytes() == expected(original, secrets)
    assert stat.S_IMODE(path.stat().st_mode) == 0o640
    assert (tmp_path / "leaky.yaml.orig").read_bytes() == original
    assert sorted(p.name for p in tmp_path.iterdir()) == ["leaky.yaml", "leaky.yaml.orig"]  # no temp file left
    clean = llmtrace("redact", "--in-place", str(path))
    assert clean.returncode == 0 and path.read_bytes() == expected(original, secrets)


def test_nothing_found_leaves_the_file_alone(tmp_path):
    path = tmp_path / "clean.yaml"
    path.write_bytes(CREWAI.read_bytes())
    before = os.stat(path).st_mtime_ns
    assert llmtrace("redact", "--in-place", str(path)).returncode == 0
    assert os.stat(path).st_mtime_ns == before
    out = tmp_path / "copy.yaml"
    assert llmtrace("redact", "-o", str(out), str(path)).returncode == 0
    assert out.read_bytes() == CREWAI.read_bytes()


@pytest.mark.parametrize("args, message", [
    ([], "give --in-place"),
    (["--in-place", "-o", "x"], "not both"),
    (["--backup", ".b", "-o", "x"], "--backup SUFFIX goes with --in-place"),
    (["-o", "x", "EXTRA"], "exactly one FILE"),
])
def test_usage_errors(tmp_path, args, message):
    args = [a if a not in ("x", "EXTRA") else str(tmp_path / a) for a in args]
    result = llmtrace("redact", *args, str(CREWAI))
    assert result.returncode == 2
    assert message in result.stderr.decode() and result.stderr.decode().startswith("llmtrace: ")
    assert not (tmp_path / "x").exists()


def test_unreadable_input(tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text('{"request": {')
    result = llmtrace("redact", "-o", str(tmp_path / "out"), str(bad))
    assert result.returncode == 2
    assert result.stderr.decode().count("\n") == 1 and str(bad) in result.stderr.decode()
    assert not (tmp_path / "out").exists()


def _gzip_block(text: str, index: int) -> re.Match:
    return list(re.finditer(r"!!binary \|\n((?:        [A-Za-z0-9+/=]+\n)+)", text))[index]


def test_gzip_bodies_are_reencoded_only_where_a_secret_was(tmp_path):
    text = GZIP_BODIES.read_text()
    block = _gzip_block(text, 1)
    body = gzip.decompress(base64.b64decode("".join(block.group(1).split())))
    leaky = body.replace(b'"object"', f'"note":"token {K["slack-token"]}","object"'.encode(), 1)
    encoded = base64.b64encode(gzip.compress(leaky)).decode()
    lines = "".join(f"        {encoded[i:i + 76]}\n" for i in range(0, len(encoded), 76))
    text = text[:block.start(1)] + lines + text[block.end(1):]
    path = tmp_path / "gz.yaml"
    path.write_text(text)
    assert [a["details"]["kind"] for a in unmasked(path)] == ["slack-token"]
    out = tmp_path / "out.yaml"
    result = llmtrace("redact", "-o", str(out), str(path))
    assert result.returncode == 1, result.stderr
    assert b"encoded body, gzip" in result.stdout
    new = out.read_text()
    new_block = _gzip_block(new, 1)
    assert new[:new_block.start(1)] == text[:block.start(1)]  # everything before the block: as it was
    assert new[new_block.end(1):] == text[block.start(1) + len(lines):]  # and after it
    assert all(len(line) == 84 for line in new_block.group(1).splitlines()[:-1])  # same layout
    decoded = gzip.decompress(base64.b64decode("".join(new_block.group(1).split())))
    assert decoded == leaky.replace(K["slack-token"].encode(), b"<SLACK_TOKEN>")
    assert unmasked(out) == []


def test_har_base64_body(tmp_path):
    doc = orjson.loads((EXAMPLES / "har" / "openai-chat-base64.har").read_bytes())
    content = doc["log"]["entries"][0]["response"]["content"]
    body = base64.b64decode(content["text"]).decode()
    content["text"] = base64.b64encode(body.replace('"content":"', f'"content":"{K["openai-legacy"]} ', 1).encode()).decode()
    path = tmp_path / "b64.har"
    original = orjson.dumps(doc, option=orjson.OPT_INDENT_2)
    path.write_bytes(original)
    assert unmasked(path)
    out = tmp_path / "out.har"
    assert llmtrace("redact", "-o", str(out), str(path)).returncode == 1
    new = orjson.loads(out.read_bytes())
    text = base64.b64decode(new["log"]["entries"][0]["response"]["content"]["text"]).decode()
    assert K["openai-legacy"] not in text and "<OPENAI_API_KEY>" in text
    new["log"]["entries"][0]["response"]["content"]["text"] = content["text"]
    assert new == doc  # nothing else changed
    assert unmasked(out) == []


def test_whole_gzipped_file(tmp_path):
    text = gzip.decompress((EXAMPLES / "vcr" / "langchain-openai-chat.yaml.gz").read_bytes()).decode()
    text = text.replace("- AUTHORIZATION-XXX", f"- Bearer {K['openai-svcacct']}", 1)
    path = tmp_path / "chat.yaml.gz"
    path.write_bytes(gzip.compress(text.encode()))
    out = tmp_path / "out.yaml.gz"
    result = llmtrace("redact", "-o", str(out), str(path))
    assert result.returncode == 1, result.stderr
    assert gzip.decompress(out.read_bytes()).decode() == text.replace(K["openai-svcacct"], "<OPENAI_API_KEY>")


def test_ruby_vcr_base64_string(tmp_path):
    body = f'{{"error":{{"message":"Incorrect API key provided: {K["openai-api-key"]}"}}}}'
    encoded = base64.b64encode(gzip.compress(body.encode())).decode()
    cassette = ("---\nhttp_interactions:\n- request:\n    method: post\n    uri: https://api.openai.com/v1/chat/completions\n"
                "    body:\n      encoding: UTF-8\n      string: '{\"model\":\"gpt-4o\",\"messages\":[]}'\n"
                "    headers:\n      Content-Type:\n      - application/json\n"
                "  response:\n    status:\n      code: 401\n      message: Unauthorized\n    headers:\n"
                "      Content-Encoding:\n      - gzip\n    body:\n      encoding: ASCII-8BIT\n"
                f"      base64_string: |\n        {encoded[:60]}\n        {encoded[60:]}\n"
                "  recorded_at: Mon, 01 Jan 2024 00:00:00 GMT\nrecorded_with: VCR 6.2.0\n")
    path = tmp_path / "ruby.yml"
    path.write_text(cassette)
    assert [a["details"]["place"] for a in unmasked(path)] == ["recorded error"]
    show = llmtrace("show", str(path))
    assert K["openai-api-key"] not in show.stdout.decode() + show.stderr.decode()
    out = tmp_path / "out.yml"
    assert llmtrace("redact", "-o", str(out), str(path)).returncode == 1
    new = out.read_text()
    assert new.split("base64_string")[0] == cassette.split("base64_string")[0]
    assert new.split("recorded_at")[1] == cassette.split("recorded_at")[1]
    assert unmasked(out) == []


def test_llama_stack_endpoint_and_user_password(tmp_path):
    doc = orjson.loads((EXAMPLES / "llama-stack" / "openai-chat.json").read_bytes())
    doc["request"]["endpoint"] = f"/v1beta/models/gemini-2.0-flash:streamGenerateContent?alt=sse&key={K['google-api-key']}"
    doc["request"]["url"] = "http://proxyuser:" + "s3cr3tPw9" + "@0.0.0.0:11434/v1/v1/chat/completions"
    path = tmp_path / "ls.json"
    original = orjson.dumps(doc, option=orjson.OPT_INDENT_2)
    path.write_bytes(original)
    assert {a["details"]["place"] for a in unmasked(path)} == {"request endpoint", "request URL"}
    for args in (["show", str(path)], ["show", "--json", str(path)], ["scan", "--jsonl", str(path)],
                 ["check", str(path)]):
        result = llmtrace(*args)
        shown = result.stdout.decode() + result.stderr.decode()
        assert K["google-api-key"] not in shown and "s3cr3tPw9" not in shown, args
    out = tmp_path / "out.json"
    assert llmtrace("redact", "-o", str(out), str(path)).returncode == 1
    assert out.read_bytes() == expected(original, {K["google-api-key"]: "<GOOGLE_API_KEY>",
                                                   "s3cr3tPw9": "<REDACTED>"})


@pytest.mark.parametrize("path", sorted(p for p in DATA.glob("*/*") if p.suffix in (".yaml", ".har")),
                         ids=lambda p: p.name[:40])
def test_real_cassettes_hold_only_placeholders(path):
    """AUTHORIZATION-XXX, [REDACTED], <filtered>: what recorders write instead of keys is no leak,
    and redact leaves such files byte for byte."""
    data = path.read_bytes()
    assert unmasked(path) == []
    assert redact_recording(data) == (data, [])


def test_a_credential_that_cannot_be_located_is_an_error(tmp_path):
    # The key is written with a JSON escape: it reads as a key, but its bytes are not the key's.
    doc = orjson.loads((EXAMPLES / "llama-stack" / "openai-chat.json").read_bytes())
    doc["request"]["body"]["messages"][0]["content"] = "KEY"
    text = orjson.dumps(doc).decode().replace("KEY", "\\u0073" + K["openai-api-key"][1:])
    path = tmp_path / "escaped.json"
    path.write_text(text)
    assert unmasked(path)
    result = llmtrace("redact", "-o", str(tmp_path / "out.json"), str(path))
    assert result.returncode == 2
    assert "cannot redact" in result.stderr.decode()


def test_output_to_stdout_reports_on_stderr(tmp_path):
    key = K["aws-access-key-id"]
    path = tmp_path / "s.sse"
    chunk = {"id": "c", "object": "chat.completion.chunk", "model": "m",
             "choices": [{"index": 0, "delta": {"content": f"aws_access_key_id = {key}"}, "finish_reason": "stop"}]}
    original = f"data: {orjson.dumps(chunk).decode()}\n\ndata: [DONE]\n\n".encode()
    path.write_bytes(original)
    result = llmtrace("redact", "-o", "-", str(path))
    assert result.returncode == 1
    assert result.stdout == original.replace(key.encode(), b"<AWS_ACCESS_KEY_ID>")
    assert result.stderr.decode() == f"llmtrace: {path}: line 1: aws-access-key-id AKIA*** → <AWS_ACCESS_KEY_ID>\n"


def test_in_place_through_a_symlink_replaces_the_target(tmp_path):
    path, secrets = leaky_cassette(tmp_path)
    link = tmp_path / "link.yaml"
    link.symlink_to(path.name)
    assert llmtrace("redact", "--in-place", str(link)).returncode == 1
    assert link.is_symlink() and unmasked(path) == []


# --- a credential spelt across two stream events: each piece masked in place ------------------------

SPLIT_KEY = K["openai-api-key"]
HALVES = (SPLIT_KEY[:20], SPLIT_KEY[20:])


def _sse_with_split_key(newline: str) -> str:
    events = [{"id": "c", "object": "chat.completion.chunk", "model": "m",
               "choices": [{"index": 0, "delta": {"content": text}, "finish_reason": None}]}
              for text in ("Here: ", HALVES[0], HALVES[1], " ok")]
    events.append({"id": "c", "object": "chat.completion.chunk", "model": "m",
                   "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]})
    return "".join(f"data: {orjson.dumps(e).decode()}{newline}{newline}" for e in events) + f"data: [DONE]{newline}{newline}"


def _pieces_masked(original: bytes) -> bytes:
    """The original with each half of the key overwritten by ``*``, nothing else."""
    for half in HALVES:
        assert original.count(half.encode()) == 1
        original = original.replace(half.encode(), b"*" * len(half))
    return original


def _split_cassette() -> bytes:
    """The crewAI chat cassette (a vcrpy body: a YAML single-quoted scalar of SSE lines, an event
    whose text starts with a space folded onto the next line there) with the key in its second
    and third text deltas: " did" (folded) becomes " " and the first half, " the" the second."""
    text = (DATA.parent / "cassettes" / "crewAI" / "cassettes--test_usage_info_streaming_with_acall.yaml").read_text()
    for old, new in (('"content":"\n        did"}', f'"content":"\n        {HALVES[0]}"}}'),
                     ('"content":"\n        the"}', f'"content":"{HALVES[1]}"}}')):
        assert text.count(old) == 1
        text = text.replace(old, new, 1)
    return text.encode()


def _split_har() -> bytes:
    """A HAR file whose SSE body is one JSON string (its quotes and line ends escaped), CRLF lines."""
    doc = orjson.loads((EXAMPLES / "har" / "openai-chat-base64.har").read_bytes())
    content = doc["log"]["entries"][0]["response"]["content"]
    content.pop("encoding", None)
    content["text"] = _sse_with_split_key("\n")
    return orjson.dumps(doc, option=orjson.OPT_INDENT_2).replace(b"\n", b"\r\n")


@pytest.mark.parametrize("name, data", [
    ("bom-crlf.sse", b"\xef\xbb\xbf" + _sse_with_split_key("\r\n").encode()),
    ("plain.sse", _sse_with_split_key("\n").encode()),
    ("cassette.yaml", _split_cassette()),
    ("crlf.har", _split_har()),
], ids=["sse-bom-crlf", "sse", "vcr-cassette", "har-crlf"])
def test_a_key_split_across_events_is_masked_piece_by_piece(tmp_path, name, data):
    """``check`` finds a key the stream spells only across two events; ``redact`` overwrites
    each piece with ``*`` where it stands (every other byte kept, BOM and CRLF too), after which
    ``check`` finds nothing and the stream still reads."""
    path = tmp_path / name
    path.write_bytes(data)
    assert [a["details"]["place"] for a in unmasked(path)] == ["response chunks"]
    out = tmp_path / f"out-{name}"
    result = llmtrace("redact", "-o", str(out), str(path))
    assert result.returncode == 1, result.stderr
    assert out.read_bytes() == _pieces_masked(data)
    lines = result.stdout.decode().splitlines()
    assert len(lines) == 2 and all("split credential" in line for line in lines), lines
    assert SPLIT_KEY not in result.stdout.decode() and HALVES[1] not in result.stdout.decode()
    assert unmasked(out) == []
    text = llmtrace("reassemble", str(out))
    assert text.returncode == 0 and "*" * len(SPLIT_KEY) in text.stdout.decode(), text
