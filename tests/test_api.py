"""The public Python API: its doctests, its ``__all__``, and that importing it stays cheap."""

from __future__ import annotations

import asyncio
import doctest
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

import llmtrace
import llmtrace.distributed
import llmtrace.sweep
import llmtrace.testing
from conftest import SEED

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.parametrize("module", [llmtrace, llmtrace.testing, llmtrace.sweep, llmtrace.distributed],
                         ids=["llmtrace", "llmtrace.testing", "llmtrace.sweep", "llmtrace.distributed"])
def test_doctests(module, monkeypatch):
    monkeypatch.chdir(ROOT)  # the examples name files under examples/
    failures, tried = doctest.testmod(module, optionflags=doctest.ELLIPSIS)
    assert tried > 0 and failures == 0


def test_import_loads_neither_rich_nor_typer():
    code = "import sys, llmtrace; print(sorted(m for m in ('rich', 'typer', 'pydantic', 'aiohttp', 'jinja2') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.stdout.strip() == "[]", out.stdout + out.stderr


def test_public_names():
    assert set(llmtrace.__all__) >= {"load", "reassemble", "check", "diff", "serve", "Recording", "Anomaly",
                                     "Difference", "UnreadableInput"}
    for name in llmtrace.__all__:
        assert getattr(llmtrace, name) is not None
    assert callable(llmtrace.load) and callable(llmtrace.serve)  # not shadowed by submodules


def test_load_from_bytes_and_errors():
    recording = llmtrace.load(SEED.read_bytes())
    assert recording.source == "<bytes>" and recording.exchanges[0].dialect == "openai-chat"
    with pytest.raises(llmtrace.UnreadableInput, match="cut off mid-JSON"):
        llmtrace.load(b'{"request": ')
    with pytest.raises(ValueError, match="unknown anomaly code"):
        llmtrace.check(recording, ignore=["no-such-code"])
    with pytest.raises(ValueError, match="fail_on"):
        llmtrace.check(recording, fail_on="fatal")


def test_reassemble_and_diff():
    recording = llmtrace.load(SEED)
    [body] = llmtrace.reassemble(recording)
    assert body == llmtrace.reassemble(recording.exchanges[0])
    [normalized] = llmtrace.reassemble(recording, normalized=True)
    assert normalized["choices"][0]["finish_reason"] == "stop"
    other = llmtrace.load(ROOT / "examples" / "llama-stack" / "openai-parallel-tool-calls.json")
    differences = llmtrace.diff(recording, other, ignore=["usage"])
    assert "request.model" in [d.path for d in differences]
    assert not any(d.path.startswith("usage") for d in differences)


def test_serve_as_an_async_context_manager():
    body = dict(llmtrace.load(SEED).exchanges[0].request.body)

    async def main():
        async with llmtrace.serve([SEED]) as server:
            async with httpx.AsyncClient(timeout=20) as client:
                response = await client.post(server.base_url + "/v1/chat/completions", json={**body, "stream": False})
        return response.json()

    answer = asyncio.run(main())
    assert answer["choices"][0]["message"]["content"].startswith('{"type": "function"')
