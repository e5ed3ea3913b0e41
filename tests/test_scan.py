"""`llmtrace scan` over the corpus: rows, summary, skipped and unreadable files, exit codes."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

from conftest import CORPUS, SEED, run_on_terminal
from llmtrace.commands.scan import scan, summarize

ENV = {**os.environ, "NO_COLOR": "1"}
ROW_KEYS = {"file", "exchange", "container", "dialect", "host", "endpoint", "model", "streaming", "chunks",
            "input_tokens", "output_tokens", "total_tokens", "finish_reason", "anomalies", "error", "fidelity"}


def run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "llmtrace", "scan", *args], capture_output=True, env=ENV,
                          timeout=300)


def test_jsonl_rows_cover_the_corpus():
    proc = run("--jsonl", str(CORPUS))
    assert proc.returncode == 0, proc.stderr
    rows = [json.loads(line) for line in proc.stdout.splitlines()]
    files = sorted(CORPUS.glob("**/*.json"))
    assert len(rows) == len(files)  # one exchange per Llama Stack recording
    assert all(set(r) == ROW_KEYS for r in rows)
    seed = next(r for r in rows if r["file"].endswith(SEED.name))
    assert seed["dialect"] == "openai-chat" and seed["host"] == "api.together.xyz"
    assert seed["chunks"] == 24 and seed["input_tokens"] == 42 and seed["finish_reason"] == "stop"
    assert "tool-call-in-text" in seed["anomalies"]


def test_summary_counts_and_pool_equals_serial(tmp_path):
    serial = summarize(scan([str(CORPUS)], jobs=1))
    pooled = summarize(scan([str(CORPUS)], jobs=2))
    assert serial == pooled
    assert serial["files"] == len(list(CORPUS.glob("**/*.json")))
    assert serial["skipped"] >= 1  # LICENSE, README.md
    assert sum(serial["by_dialect"].values()) == serial["exchanges"]
    assert serial["anomalies"]["tool-call-in-text"]["count"] >= 1
    assert serial["usage"]["input_tokens"] > 0


def test_unreadable_file_is_reported_and_exit_2(tmp_path):
    shutil.copy(SEED, tmp_path / "good.json")
    (tmp_path / "bad.json").write_text('{"request": {')
    (tmp_path / "LICENSE").write_text("MIT")
    proc = run("--json", str(tmp_path))
    assert proc.returncode == 2
    summary = json.loads(proc.stdout)
    assert summary["files"] == 2 and summary["skipped"] == 1 and summary["exchanges"] == 1
    assert summary["failed"][0]["file"].endswith("bad.json")
    assert "bad.json" in proc.stderr.decode() and "Traceback" not in proc.stderr.decode()


def test_fail_on_and_human_output(tmp_path):
    proc = run("--fail-on", "warning", str(SEED))
    assert proc.returncode == 1
    text = proc.stdout.decode()
    assert "tool-call-in-text" in text and "exchanges by dialect" in text
    assert run(str(SEED)).returncode == 0


def test_walking_skips_notes_but_reports_broken_recordings(tmp_path):
    shutil.copy(SEED, tmp_path / "good.json")
    (tmp_path / "notes.txt").write_text("Recorded on Tuesday: key: value: more\n")
    (tmp_path / "package.json").write_text('{"name": "fixtures"}')
    (tmp_path / "broken.yaml").write_text("interactions:\n- request: {body: [\n")
    summary = summarize(scan([str(tmp_path)], jobs=1))
    assert summary["skipped"] == 2 and summary["exchanges"] == 1
    assert [f["file"] for f in summary["failed"]] == [str(tmp_path / "broken.yaml")]


def test_progress_bar_on_a_terminal_then_the_summary():
    code, text = run_on_terminal(["scan", "-j", "2", str(CORPUS)], {**ENV, "COLUMNS": "120"}, stderr_too=True)
    assert code == 0
    assert "scanning" in text  # the progress bar, drawn on the terminal
    assert "exchanges by dialect" in text and "Traceback" not in text


def test_jsonl_rows_are_written_as_the_sweep_goes(tmp_path, monkeypatch, capsysbinary):
    """``scan --jsonl`` writes each file's rows once they and the rows before them are known:
    the first file's row is on stdout before the last file is read (serially and in a pool), so
    a sweep's memory holds what is not written yet, not every row. The exit status still sees
    every error and the worst severity."""
    from llmtrace.commands import scan as cmd

    files = sorted(CORPUS.glob("**/*.json"))[:30]
    for n, src in enumerate(files):
        shutil.copyfile(src, tmp_path / f"{n:02d}.json")
    (tmp_path / "99.json").write_bytes(b'{"broken": ')
    monkeypatch.setattr("llmtrace.output._WRITE_BLOCK", 1)  # every row its own write
    for jobs in (1, 2):
        written_before_last: list[int] = []
        real = cmd.scan_each

        def watched(*args, **kwargs):
            for result in real(*args, **kwargs):
                if result["file"].endswith("99.json"):
                    written_before_last.append(len(capsysbinary.readouterr().out.splitlines()))
                yield result

        monkeypatch.setattr(cmd, "scan_each", watched)
        status = cmd.run([str(tmp_path)], jsonl=True, jobs=jobs, fail_on="info")
        rest = capsysbinary.readouterr()
        assert status == 2  # the broken file; severities alone would give 1
        assert written_before_last[0] == len(files)  # every good file's row is out before the last result
        last, = rest.out.splitlines()  # the broken file's error row, last as it is last in order
        assert json.loads(last)["exchange"] is None and json.loads(last)["file"].endswith("99.json")
        assert b"99.json: cut off mid-JSON" in rest.err
        monkeypatch.setattr(cmd, "scan_each", real)


def test_a_file_name_that_is_not_utf8(tmp_path):
    """Its undecodable byte is U+FFFD in every output (it was an internal error of --jsonl and
    --json): the rows, the summary, the Parquet file."""
    odd = os.path.join(os.fsencode(tmp_path), b"caf\xe9.json")
    shutil.copyfile(SEED, odd)
    expected = str(tmp_path / "caf\ufffd.json")
    proc = run("--jsonl", str(tmp_path))
    assert proc.returncode == 0, proc.stderr
    [row] = [json.loads(line) for line in proc.stdout.splitlines()]
    assert row["file"] == expected and row["dialect"] == "openai-chat"
    proc = run("--json", str(tmp_path))
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["anomalies"]["tool-call-in-text"]["files"] == [expected]
    out = tmp_path / "rows.parquet"
    proc = run("--parquet", str(out), "--json", str(tmp_path))
    assert proc.returncode == 0, proc.stderr
    import pyarrow.parquet as pq

    assert pq.read_table(out).column("file").to_pylist() == [expected]
