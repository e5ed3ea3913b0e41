from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import settings

# No per-example deadline: a busy 2-core CI machine must not turn slow examples into failures.
settings.register_profile("llmtrace", deadline=None)
settings.load_profile("llmtrace")

DATA = Path(__file__).parent / "data"
CORPUS = DATA / "corpus"
SEED = CORPUS / "seed" / "000_a2136f253c2c20b7.json"


def corpus(kind: str) -> list[Path]:
    """The corpus recordings of one kind (a folder under tests/data/corpus/llama-stack)."""
    return sorted((CORPUS / "llama-stack" / kind).glob("*.json"))


def all_recordings() -> list[Path]:
    return sorted(CORPUS.glob("**/*.json"))


@pytest.fixture
def seed() -> Path:
    return SEED
