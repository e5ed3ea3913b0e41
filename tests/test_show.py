"""`llmtrace show`: every corpus file rendered and as JSON, several files at once, unreadable
inputs, narrow and wide terminals, NO_COLOR, and hostile recorded text shown literally."""

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
from rich.cells import cell_len
from rich.console import Console

from conftest import CORPUS, SEED, all_recordings, corpus
from llmtrace.commands import show
from llmtrace.commands.reassemble import normalized_json
from llmtrace.loader import load
from llmtrace.model import Recording
from llmtrace.render.recording import RecordingView, runs

ENV = {**os.environ, "NO_COLOR": "1", "COLUMNS": "100"}
SGR = re.compile("\x1b\\[[0-9;]*m")
HOSTILE = ("[red]alarm[/red] [link=https://evil.example]click[/link] \x1b[5;31mblink\x1b[0m "
           "\x1b]8;;https://evil.example\x1b\\here\x1b]8;;\x1b\\ \rover\x07\x9b2J \u202eevil")
RAW_SEQUENCES = ("\x1b[5;31m", "\x1b]8;;", "\x1b\\", "\r", "\x07", "\x9b", "\u202e")
DOC_KEYS = {"source", "exchanges"}
EXCHANGE_KEYS = {"index", "container", "dialect", "fidelity", "request", "response", "choices", "usage", "timeline",
                 "anomalies", "skipped"}
REQUEST_KEYS = {"model", "messages", "tools", "params", "method", "url", "host", "endpoint", "stream"}
RESPONSE_KEYS = {"status", "streaming", "model", "chunks", "error"}
TIMELINE_KEYS = {"timing", "ttft_s", "gap_p50_s", "gap_p95_s", "tokens_per_second", "longest_stall", "entries"}
ENTRY_KEYS = {"index", "offset_s", "gap_s", "text", "token_id"}
ANOMALY_KEYS = {"code", "severity", "message", "exchange", "choice", "chunks", "span", "details"}


def cli(*args: str, stdin: bytes | None = None, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "llmtrace", "show", *args], input=stdin, capture_output=True,
                          env=env or ENV, timeout=300)


def render(paths: list, width: int = 100, color: bool = False, **options) -> tuple[int, str]:
    console = Console(file=io.StringIO(), width=width, force_terminal=color,
                      color_system="truecolor" if color else None, highlight=False, markup=False)
    code = show.run([str(p) for p in paths], console=console, **options)
    return code, console.file.getvalue()


def ollama_timed_stream() -> Path:
    for path in corpus("ollama-generate-stream"):
        if load(str(path)).exchanges[0].result.timeline.timing == "created_at":
            return path
    pytest.fail("no Ollama stream with created_at times in the corpus")


# --- every corpus file -------------------------------------------------------------------------


def test_json_for_every_corpus_file_follows_the_contract():
    files = all_recordings()
    proc = cli("--json", *map(str, files))
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == b""
    docs = [json.loads(line) for line in proc.stdout.splitlines()]
    assert [d["source"] for d in docs] == [str(f) for f in files]
    for doc in docs:
        assert set(doc) == DOC_KEYS
        for ex in doc["exchanges"]:
            assert set(ex) == EXCHANGE_KEYS
            assert set(ex["request"]) == REQUEST_KEYS
            assert set(ex["response"]) == RESPONSE_KEYS
            assert set(ex["usage"]) == {"reported", "observed"}
            assert set(ex["usage"]["observed"]) == {"chunks", "content_chunks", "characters"}
            tl = ex["timeline"]
            assert set(tl) == TIMELINE_KEYS
            assert tl["timing"] in ("created_at", "har", "durations", "none")
            assert len(tl["entries"]) == ex["usage"]["observed"]["chunks"]
            assert [e["index"] for e in tl["entries"]] == list(range(len(tl["entries"])))
            assert all(set(e) == ENTRY_KEYS for e in tl["entries"])
            if tl["timing"] == "none":
                assert tl["ttft_s"] is None and tl["gap_p50_s"] is None and tl["longest_stall"] is None
                assert all(e["offset_s"] is None and e["gap_s"] is None for e in tl["entries"])
            if ex["response"]["streaming"] and ex["choices"]:
                assert ex["response"]["chunks"] == len(tl["entries"])
            severities = [a["severity"] for a in ex["anomalies"]]
            assert all(set(a) == ANOMALY_KEYS for a in ex["anomalies"])
            order = {"error": 0, "warning": 1, "info": 2}
            assert severities == sorted(severities, key=order.__getitem__)


def cassettes() -> list[Path]:
    """The VCR and HAR recordings under tests/data/cassettes (several exchanges per file)."""
    folder = CORPUS.parent / "cassettes"
    return sorted(p for p in folder.glob("**/*") if p.suffix in (".yaml", ".yml", ".har"))


@pytest.mark.parametrize("width", [60, 200])
def test_every_recording_renders_within_the_width(width):
    for path in all_recordings() + cassettes():
        code, out = render([path], width=width)
        assert code == 0, path
        assert "\x1b" not in out
        for line in out.splitlines():
            assert cell_len(line) <= width, (path, line)
        n = len(load(str(path)).exchanges)
        for heading in ("response", "anomalies"):
            assert len(re.findall(rf"^{heading} ─", out, re.M)) == n, (path, heading)


def test_text_output_of_the_whole_corpus_in_one_run():
    proc = cli(*map(str, all_recordings()))
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout.decode()
    assert "\x1b" not in out  # piped, NO_COLOR: plain text
    assert len(re.findall("^file  ", out, re.M)) == len(all_recordings())
    assert len(re.findall("^anomalies ─", out, re.M)) == len(all_recordings())
    assert max(cell_len(line) for line in out.splitlines()) <= 100


# --- what a show holds -------------------------------------------------------------------------


def test_seed_shows_request_response_timeline_usage_and_anomalies():
    code, out = render([SEED])
    assert code == 0
    assert "llama-stack · openai-chat" in out
    assert "api.together.xyz" in out and "POST /v1/chat/completions" in out
    assert "requested meta-llama/Llama-3.3-70B-Instruct-Turbo-Free · served the same" in out
    assert "yes, 24 chunks" in out
    assert "user What's the weather in Tokyo?" in out
    assert 'response_format {"type":"text"}' in out
    assert '{"type": "function", "name": "get_weather", "parameters": {"city": "Tokyo"}}' in out
    assert "choice 0 · finish stop" in out
    assert "no timing in this recording" in out
    assert re.search(r"^ *3 +·\" +330$", out, re.M)  # whitespace made visible, token id shown
    assert "… 4 chunks …" in out
    assert re.search(r"reported +42 +24 +66 +0 +—", out)
    assert "observed: 24 chunks, 23 with content, 76 characters of content" in out
    anomalies = out[out.index("anomalies ─"):]
    assert "tool-call-in-text" in anomalies and "choice 0" in anomalies


def test_streamed_tool_calls_are_pretty_printed():
    code, out = render([CORPUS_TOOLS])
    assert "tool call get_weather  id call_kA8FgzeqrlXN9eYOvixJci8T" in out
    assert '"location": "San Francisco, USA"' in out and '"location": "Los Angeles, USA"' in out
    assert "finish tool_calls" in out
    assert "requested gpt-4o · served gpt-4o-2024-08-06" in out
    assert "parallel_tool_calls true" in out and 'stream_options      {"include_usage":true}' in out


CORPUS_TOOLS = next(p for p in corpus("openai-chat-stream") if p.name == "6a6343d8e4a2.json")


def test_condensed_timeline_and_all_chunks():
    long_stream = max(corpus("openai-chat-stream"), key=lambda p: p.stat().st_size)
    n = load(str(long_stream)).exchanges[0].result.timeline.chunks
    assert n > 21
    _, condensed = render([long_stream], width=200)
    assert f"… {n - 20} chunks …" in condensed
    assert re.search(rf"^ *{n - 1} ", condensed, re.M) and not re.search(r"^ *10 ", condensed, re.M)
    _, full = render([long_stream], width=200, all_chunks=True)
    assert "chunks …" not in full
    assert all(re.search(rf"^ *{i} ", full, re.M) for i in range(n))


def test_timed_stream_shows_the_same_numbers_as_the_json():
    path = ollama_timed_stream()
    _, out = render([path])
    tl = show.document(str(path), [show.shown(load(str(path)), load(str(path)).exchanges[0])])["exchanges"][0]["timeline"]
    assert "per-chunk times" in out
    assert f"median {tl['gap_p50_s']:.3f} s · p95 {tl['gap_p95_s']:.3f} s" in out
    assert f"{tl['ttft_s']:.3f} s (server: load + prompt eval)" in out
    assert f"{tl['tokens_per_second']:.2f} (eval_count / eval_duration)" in out
    stall = tl["longest_stall"]
    assert f"{stall['seconds']:.3f} s after chunk {stall['after_chunk']}" in out
    assert "first text" in out and "request start is not recorded" in out
    entry = tl["entries"][1]
    assert re.search(rf"^ *1 +{entry['offset_s']:.3f} +{entry['gap_s']:.3f} ", out, re.M)
    assert re.search("gap chart +[▁▂▃▄▅▆▇█]+$", out, re.M)


def test_json_choices_and_usage_match_reassemble_normalized():
    for path in [SEED, CORPUS_TOOLS, ollama_timed_stream()]:
        recording = load(str(path))
        doc = show.document(recording.source, [show.shown(recording, ex) for ex in recording.exchanges])
        normalized = normalized_json(recording.exchanges[0])
        assert doc["exchanges"][0]["choices"] == normalized["choices"]
        assert doc["exchanges"][0]["usage"]["reported"] == normalized["usage"]


def test_recorded_error_and_opaque_exchanges():
    error_file = corpus("exception")[0]
    _, out = render([error_file])
    assert "recorded error" in out and re.search(r"^error +\S", out, re.M)
    proc = cli(str(error_file))
    assert proc.returncode == 0  # showing an error response is not a failure of show
    doc = json.loads(cli("--json", str(error_file)).stdout)["exchanges"][0]
    assert doc["response"]["error"] is not None and doc["choices"] == []
    assert doc["timeline"]["entries"] == [] and doc["timeline"]["timing"] == "none"
    embeddings = corpus("embeddings")[0]
    _, out = render([embeddings])
    assert "opaque: not an LLM generation" in out
    assert re.search(r"^  data +1 item *$", out, re.M) and re.search(r"^  model +nomic-embed-text:latest *$", out, re.M)


def test_several_exchanges_get_usage_totals():
    seed, other = load(str(SEED)), load(str(CORPUS_TOOLS))
    exchanges = [seed.exchanges[0], other.exchanges[0].model_copy(update={"index": 1})]
    recording = Recording(source="two.json", container="llama-stack", exchanges=exchanges)
    items = [show.shown(recording, ex) for ex in exchanges]
    console = Console(file=io.StringIO(), width=100, color_system=None)
    console.print(RecordingView(recording, items))
    out = console.file.getvalue()
    assert "(exchange 0 of 2)" in out and "(exchange 1 of 2)" in out
    assert "totals over 2 exchanges" in out
    assert re.search(rf"reported +{42 + 67} +{24 + 50} +{66 + 117} +0 +0$", out.split("totals over")[1], re.M)
    assert "2 of 2 exchanges reported usage" in out


def test_chunk_ranges():
    assert runs([0, 1, 2, 5, 7, 8]) == "0–2, 5, 7–8"
    assert runs(list(range(0, 30, 2)), limit=3) == "0, 2, 4, … (12 more ranges)"


# --- the command line --------------------------------------------------------------------------


def test_several_files_with_unreadable_ones(tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text('{"request": {')
    missing = tmp_path / "missing.json"
    proc = cli(str(SEED), str(bad), str(missing), str(CORPUS_TOOLS))
    assert proc.returncode == 2
    err = proc.stderr.decode().splitlines()
    assert len(err) == 2
    assert err[0].startswith(f"llmtrace: {bad}: ") and err[1].startswith(f"llmtrace: {missing}: no such file")
    out = proc.stdout.decode()
    assert [names(line, path) for line, path in zip(file_lines(out), [SEED, CORPUS_TOOLS])] == [True, True]
    assert "bad.json" not in out
    proc = cli("--json", str(bad), str(SEED), str(CORPUS_TOOLS))
    assert proc.returncode == 2
    assert [json.loads(line)["source"] for line in proc.stdout.splitlines()] == [str(SEED), str(CORPUS_TOOLS)]


def file_lines(out: str) -> list[str]:
    """The value of each ``file`` line ``show`` printed."""
    return [line[len("file"):].strip() for line in out.splitlines() if line.startswith("file ")]


def names(shown: str, path) -> bool:
    """Whether a ``file`` line names ``path``: whole, or its start and end around "…"."""
    path = str(path)
    if shown == path:
        return True
    head, cut, tail = shown.partition("…")
    return bool(cut) and path.startswith(head) and path.endswith(tail) and len(tail) >= len(head)


@pytest.mark.parametrize("columns", ["40", "60", "100", "300"])
def test_a_long_path_is_one_line_cut_in_the_middle(tmp_path, columns):
    folder = tmp_path.joinpath(*(["a-folder-with-a-long-name"] * 6))
    folder.mkdir(parents=True)
    path = folder / "the-recording-itself.json"
    path.write_bytes(SEED.read_bytes())
    proc = cli(str(path), str(path), env={**ENV, "COLUMNS": columns})
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.decode().splitlines()
    shown = file_lines(proc.stdout.decode())
    assert len(shown) == 2 and all(names(line, path) for line in shown)
    after = lines[lines.index(next(line for line in lines if line.startswith("file "))) + 1]
    assert after.startswith("format "), "the path went on to the next line"
    if len(str(path)) + 10 > int(columns):
        assert "…" in shown[0] and shown[0].endswith("the-recording-itself.json"[-(int(columns) // 3):])
    else:
        assert shown[0] == str(path)
    assert json.loads(cli("--json", str(path), env={**ENV, "COLUMNS": columns}).stdout)["source"] == str(path)


def test_only_unreadable_input_prints_nothing(tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text("not json")
    proc = cli(str(bad))
    assert proc.returncode == 2 and proc.stdout == b""
    assert proc.stderr.decode().count("\n") == 1 and "Traceback" not in proc.stderr.decode()


def test_one_file_json_is_one_document_and_stdin_works():
    proc = cli("--json", "-", stdin=SEED.read_bytes())
    assert proc.returncode == 0
    assert proc.stdout.count(b"\n") == 1
    doc = json.loads(proc.stdout)
    assert doc["source"] == "<stdin>"
    ex = doc["exchanges"][0]
    assert ex["request"]["stream"] is True and ex["response"]["chunks"] == 24
    assert ex["usage"]["observed"] == {"chunks": 24, "content_chunks": 23, "characters": 76}
    assert ex["timeline"]["entries"][3] == {"index": 3, "offset_s": None, "gap_s": None, "text": ' "',
                                            "token_id": 330}
    assert ex["timeline"]["entries"][23]["text"] == ""


def test_index_selects_an_exchange_and_out_of_range_is_exit_2():
    assert json.loads(cli("--json", "--index", "0", str(SEED)).stdout)["exchanges"][0]["index"] == 0
    proc = cli("--index", "3", str(SEED), str(CORPUS_TOOLS))
    assert proc.returncode == 2 and proc.stdout == b""
    assert proc.stderr.decode().count("out of range") == 2


def test_no_color_is_respected_on_a_terminal():
    env = {**ENV, "FORCE_COLOR": "1"}
    colored = cli(str(SEED), env={k: v for k, v in env.items() if k != "NO_COLOR"}).stdout.decode()
    plain = cli(str(SEED), env=env).stdout.decode()
    assert re.search("\x1b\\[[0-9;]*3[0-9]m", colored)  # colours when allowed
    assert not re.search("\x1b\\[[0-9;]*(3[0-9]|38;)", plain)  # none with NO_COLOR


def test_json_does_not_import_rich():
    code = ("import sys; from llmtrace.commands import show; show.run([sys.argv[1]], as_json=True); "
            "assert not [m for m in sys.modules if m == 'rich' or m.startswith('rich.')], 'rich imported'")
    proc = subprocess.run([sys.executable, "-c", code, str(SEED)], capture_output=True, env=ENV, timeout=60)
    assert proc.returncode == 0, proc.stderr


# --- terminal safety ---------------------------------------------------------------------------


def _mutated(tmp_path: Path, source: Path, change) -> Path:
    doc = orjson.loads(source.read_bytes())
    change(doc)
    out = tmp_path / source.name
    out.write_bytes(orjson.dumps(doc))
    return out


def _assert_literal(out: str, escaped_esc: str = "\\x1b") -> None:
    """No raw sequence of HOSTILE reached the output; its markup and (escaped) ESC are visible."""
    for raw in RAW_SEQUENCES:
        assert raw not in out, repr(raw)
    plain = SGR.sub("", out)
    assert "\x1b" not in plain
    assert "[red]alarm[/red]" in plain
    assert f"{escaped_esc}[5;31mblink" in plain


def _data(item: dict) -> dict:
    return item["__data__"]


def test_hostile_text_in_content_model_and_url(tmp_path):
    def change(doc):
        doc["request"]["url"] = "https://evil.example/[link=https://x]\x1b]8;;x\x1b\\/v1/chat/completions"
        doc["request"]["body"]["messages"][0]["content"] = HOSTILE
        doc["request"]["body"]["model"] = doc["request"]["model"] = "[bold]model\x1b[5;31m"
        for item in doc["response"]["body"]:
            _data(item)["model"] = "served\x1b[5;31m[red]"
        _data(doc["response"]["body"][3])["choices"][0]["delta"]["content"] = HOSTILE

    path = _mutated(tmp_path, SEED, change)
    for color in (False, True):
        for width in (60, 200):
            _, out = render([path], width=width, color=color)
            _assert_literal(out)
            assert "[bold]model" in SGR.sub("", out) and "[link=https://x]" in SGR.sub("", out).replace("\n", "")
            _, full = render([path], width=width, color=color, all_chunks=True)
            _assert_literal(full)


def test_hostile_text_in_reasoning_tool_names_and_arguments(tmp_path):
    def change(doc):
        body = doc["response"]["body"]
        _data(body[0])["choices"][0]["delta"]["reasoning_content"] = HOSTILE
        _data(body[1])["choices"][0]["delta"]["tool_calls"][0]["function"]["name"] = "get[red]\x1b[5;31m\u202e"
        _data(body[2])["choices"][0]["delta"]["tool_calls"][0]["function"]["arguments"] = HOSTILE

    path = _mutated(tmp_path, CORPUS_TOOLS, change)
    _, out = render([path], color=True)
    _assert_literal(out)
    plain = SGR.sub("", out)
    assert "get[red]\\x1b[5;31m\\u202e" in plain
    assert "(not valid JSON)" in plain  # the arguments are now raw text, shown as such


def test_hostile_text_in_pretty_printed_arguments(tmp_path):
    def change(doc):
        # Chunks 2-8 carry the first call's arguments: all of them now in chunk 2, valid JSON.
        body = doc["response"]["body"]
        for n in range(2, 9):
            call = _data(body[n])["choices"][0]["delta"]["tool_calls"][0]
            call["function"]["arguments"] = orjson.dumps({"city": HOSTILE}).decode() if n == 2 else ""

    path = _mutated(tmp_path, CORPUS_TOOLS, change)
    _, out = render([path], color=True)
    _assert_literal(out, escaped_esc="\\u001b")  # JSON's own escape, from the pretty-printer
    assert '"city": "[red]alarm[/red]' in SGR.sub("", out)


def test_hostile_error_message(tmp_path):
    def change(doc):
        doc["response"]["exception_message"] = HOSTILE
        doc["response"]["exception_data"]["message"] = HOSTILE
        doc["response"]["exception_data"]["body"]["message"] = HOSTILE  # the message shown first

    path = _mutated(tmp_path, corpus("exception")[0], change)
    for color in (False, True):
        _, out = render([path], width=60, color=color)
        _assert_literal(out)
    proc = cli(str(path))
    assert proc.returncode == 0
    assert b"\x1b" not in proc.stdout and b"\x07" not in proc.stdout
