"""Fidelity: what each recording kept of its generation, said in every JSON output, and the
checks that need what a recording lacks skipped rather than run on nothing."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import orjson
import pytest

from conftest import CORPUS, SEED
from llmtrace.anomalies import NEEDS_CHUNKS, skipped_codes
from llmtrace.loader import load

DATA = Path(__file__).parent / "data"
CASES = [
    (CORPUS / "llama-stack" / "ollama-generate-stream" / "120f40661861.json", "chunks+times"),
    (SEED, "chunks"),
    (sorted((CORPUS / "llama-stack" / "openai-chat").glob("*.json"))[0], "final-text"),
    (DATA / "otlp" / "genai-chat-tool-round.json", "ttft-only"),
    (sorted((CORPUS / "llama-stack" / "exception").glob("*.json"))[0], None),
    (sorted((CORPUS / "llama-stack" / "models").glob("*.json"))[0], None),
]


def _run(*args: str) -> list[dict]:
    out = subprocess.run([sys.executable, "-m", "llmtrace", *args], capture_output=True, timeout=60).stdout
    return [orjson.loads(line) for line in out.splitlines() if line.strip()]


@pytest.mark.parametrize("path, fidelity", CASES, ids=[c[1] or f"none-{n}" for n, c in enumerate(CASES)])
def test_fidelity_in_every_output(path, fidelity):
    assert load(str(path)).exchanges[0].fidelity == fidelity
    [doc] = _run("show", "--json", str(path))
    assert doc["exchanges"][0]["fidelity"] == fidelity
    [row] = _run("scan", "--jsonl", str(path))[:1]
    assert row["fidelity"] == fidelity
    [normalized] = _run("reassemble", "--normalized", str(path))[:1]
    assert normalized["fidelity"] == fidelity


def test_chunk_checks_are_skipped_without_chunks_and_named():
    final = load(str(CASES[2][0])).exchanges[0]
    assert set(NEEDS_CHUNKS) <= set(skipped_codes(final))
    assert skipped_codes(load(str(SEED)).exchanges[0]) == []
    [line] = _run("check", "--json", str(CASES[2][0]))
    assert set(NEEDS_CHUNKS) <= set(line["skipped"])
    [doc] = _run("show", "--json", str(CASES[3][0]))
    assert "tool-call-in-text" not in doc["exchanges"][0]["skipped"]  # the span captured its output


def test_show_says_what_the_recording_kept():
    def show(path) -> str:
        env = {"NO_COLOR": "1", "COLUMNS": "100", "PATH": "/usr/bin:/bin"}
        return subprocess.run([sys.executable, "-m", "llmtrace", "show", str(path)], capture_output=True, text=True,
                              timeout=60, env=env).stdout
    assert "kept      every chunk and when it arrived" in show(CASES[0][0])
    assert "kept      the time to first token, no chunks · not checked:" in show(DATA / "otlp" / "genai-no-content.json")
    realtime = DATA / "newformats" / "E-pydantic-ai" / "tests__realtime__cassettes__test_openai_ws__test_text_in_audio_out_turn.yaml"
    assert "audio     132 bytes streamed, not shown; the content below is what the audio said" in show(realtime)
