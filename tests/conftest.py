from __future__ import annotations

import os
import pty
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import settings

# No per-example deadline: a busy 2-core CI machine must not turn slow examples into failures.
settings.register_profile("llmtrace", deadline=None)
settings.load_profile("llmtrace")

DATA = Path(__file__).parent / "data"
CORPUS = DATA / "corpus"
SEED = CORPUS / "seed" / "000_a2136f253c2c20b7.json"


def left_out(path) -> list[tuple[int, str]]:
    """The chunks llmtrace read around in a recording — a field of a type the fold did not foresee
    (issue 23: the exchange is kept, the chunk left out and named by ``unread-chunk``): ``(chunk,
    what)`` of every exchange."""
    from llmtrace.loader import load

    return [item for ex in load(str(path)).exchanges if ex.result for item in ex.result.observations.unread]


def corpus(kind: str) -> list[Path]:
    """The corpus recordings of one kind (a folder under tests/data/corpus/llama-stack)."""
    return sorted((CORPUS / "llama-stack" / kind).glob("*.json"))


def all_recordings() -> list[Path]:
    return sorted(CORPUS.glob("**/*.json"))


@pytest.fixture
def seed() -> Path:
    return SEED


def run_on_terminal(args: list[str], env: dict, stderr_too: bool = False) -> tuple[int, str]:
    """Run ``python -m llmtrace ARGS`` with stdout (and stderr) on a pseudo-terminal; the exit
    code and what the terminal showed."""
    leader, follower = pty.openpty()
    proc = subprocess.run([sys.executable, "-m", "llmtrace", *args], stdout=follower,
                          stderr=follower if stderr_too else subprocess.PIPE, env=env, timeout=300)
    os.close(follower)
    chunks = []
    while True:
        try:
            data = os.read(leader, 65536)
        except OSError:  # the other side is closed: all was read
            break
        if not data:
            break
        chunks.append(data)
    os.close(leader)
    return proc.returncode, b"".join(chunks).decode(errors="replace").replace("\r\n", "\n")
