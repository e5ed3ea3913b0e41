"""`llmtrace check` end to end, as a user or CI runs it (a subprocess: real stdout, stderr, exit)."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys

import orjson

from conftest import CORPUS, SEED

ENV = {**os.environ, "NO_COLOR": "1"}
ENV.pop("FORCE_COLOR", None)


def run(*args: str, stdin: bytes | None = None, env: dict | None = None, cwd=None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "llmtrace", "check", *args], input=stdin, capture_output=True,
                          env=env or ENV, timeout=120, cwd=cwd)


def json_lines(proc: subprocess.CompletedProcess) -> list[dict]:
    return [json.loads(line) for line in proc.stdout.splitlines()]


def test_the_seed_reports_a_textual_tool_call_and_passes_at_the_default_level():
    # Named relative to its folder: the file line must not wrap at any terminal width, wherever
    # the checkout lives.
    proc = run(SEED.name, cwd=SEED.parent)
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == b""
    out = proc.stdout.decode()
    assert out.startswith(SEED.name + "\n")
    assert "tool-call-in-text" in out and "get_weather" in out and "malformed-url" in out
    assert out.rstrip().endswith("1 file checked, 0 clean: 1 warning, 1 info")


def test_fail_on_warning_fails_on_the_seed():
    assert run(str(SEED), "--fail-on", "warning").returncode == 1
    assert run(str(SEED), "--fail-on", "info", "--ignore", "tool-call-in-text").returncode == 1
    assert run(str(SEED), "--fail-on", "warning", "--ignore", "tool-call-in-text").returncode == 0


def test_json_lines_one_per_file():
    proc = run(str(SEED), str(CORPUS / "llama-stack/openai-chat-stream/8a174c150228.json"), "--json")
    assert proc.returncode == 0, proc.stderr
    first, second = json_lines(proc)
    assert set(first) == {"source", "anomalies", "error", "skipped"} and first["error"] is None
    assert first["skipped"] == []  # every check runs on a recording with chunks
    assert first["source"] == str(SEED)
    [call] = [a for a in first["anomalies"] if a["code"] == "tool-call-in-text"]
    assert call["severity"] == "warning" and call["exchange"] == 0 and call["choice"] == 0
    assert call["span"] == [0, 76] and call["chunks"] == list(range(23))
    assert call["details"]["calls"] == [{"name": "get_weather", "arguments": {"city": "Tokyo"}}]
    assert {a["code"] for a in second["anomalies"]} == {"malformed-url", "model-mismatch"}


def test_ignore_drops_a_code_everywhere():
    [doc] = json_lines(run(str(SEED), "--json", "--ignore", "tool-call-in-text", "--ignore", "malformed-url"))
    assert doc["anomalies"] == []


def test_an_unknown_code_to_ignore_is_a_usage_error():
    proc = run(str(SEED), "--ignore", "no-such-code")
    assert proc.returncode == 2 and proc.stdout == b""
    assert b"no-such-code" in proc.stderr and proc.stderr.count(b"\n") == 1


def test_stdin():
    [doc] = json_lines(run("-", "--json", stdin=SEED.read_bytes()))
    assert doc["source"] == "<stdin>"
    assert "tool-call-in-text" in {a["code"] for a in doc["anomalies"]}


def test_a_directory_is_walked_and_non_recordings_are_skipped(tmp_path):
    (tmp_path / "sub").mkdir()
    shutil.copy(SEED, tmp_path / "sub" / "seed.json")
    shutil.copy(CORPUS / "llama-stack/openai-chat-stream/8a174c150228.json", tmp_path / "clean.json")
    shutil.copy(CORPUS / "llama-stack/LICENSE", tmp_path / "LICENSE")
    (tmp_path / "README.md").write_text("# fixtures\n")
    (tmp_path / "SOURCE").write_text('{"from": "llama-stack"}\n')
    proc = run(str(tmp_path))
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.decode().rstrip().endswith("2 files checked, 0 clean, 3 skipped: 1 warning, 3 info")
    docs = json_lines(run(str(tmp_path), "--json"))
    assert [d["source"] for d in docs] == [str(tmp_path / "clean.json"), str(tmp_path / "sub" / "seed.json")]


def test_unreadable_inputs_exit_2_and_the_others_are_still_checked(tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_bytes(SEED.read_bytes()[:500])  # cut off mid-file
    license_ = CORPUS / "llama-stack/LICENSE"  # named explicitly: not a recording, so unreadable
    proc = run(str(bad), str(license_), str(SEED), "--json")
    assert proc.returncode == 2
    docs = json_lines(proc)
    assert [d["source"] for d in docs] == [str(bad), str(license_), str(SEED)]
    assert docs[0]["error"].startswith(f"{bad}: cut off") and docs[1]["error"] and docs[2]["error"] is None
    errors = proc.stderr.decode().splitlines()
    assert len(errors) == 2 and all(line.startswith("llmtrace: ") for line in errors)
    human = run(str(bad), str(SEED), "--fail-on", "warning")
    assert human.returncode == 2  # unreadable wins over findings
    assert "tool-call-in-text" in human.stdout.decode() and "1 unreadable" in human.stdout.decode()


def test_a_single_unreadable_file_prints_nothing_on_stdout(tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    proc = run(str(bad))
    assert proc.returncode == 2 and proc.stdout == b""
    assert proc.stderr.decode().startswith(f"llmtrace: {bad}: not JSON")


def test_error_responses_fail_the_check():
    proc = run(str(CORPUS / "llama-stack/exception"))
    assert proc.returncode == 1
    assert "12 errors" in proc.stdout.decode()


def test_recorded_text_is_shown_literally(tmp_path):
    doc = orjson.loads(SEED.read_bytes())
    for item in doc["response"]["body"]:
        item["__data__"]["choices"][0]["delta"]["content"] = None
    first = doc["response"]["body"][0]["__data__"]["choices"][0]["delta"]
    first["content"] = '<tool_call>{"name": "[red]get\\u001b[2Jweather[/red]", "arguments": {}}</tool_call>'
    path = tmp_path / "[bold]hostile.json"
    path.write_bytes(orjson.dumps(doc))
    proc = run(str(path), env={**ENV, "FORCE_COLOR": "1", "COLUMNS": "300"})
    out = proc.stdout.decode()
    assert "\x1b[2J" not in out
    plain = re.sub(r"\x1b\[[0-9;]*m", "", out)  # styles aside
    assert "[red]get\\x1b[2Jweather[/red]" in plain and "[bold]hostile.json" in plain


def test_no_color_is_respected():
    colored_env = {k: v for k, v in ENV.items() if k != "NO_COLOR"}
    colored = run(str(SEED), env={**colored_env, "FORCE_COLOR": "1"}).stdout
    plain = run(str(SEED), env={**ENV, "NO_COLOR": "1", "FORCE_COLOR": "1"}).stdout
    assert re.search(rb"\x1b\[[0-9;]*3[0-7]m", colored)  # a foreground colour
    assert not re.search(rb"\x1b\[[0-9;]*3[0-7]m", plain)
