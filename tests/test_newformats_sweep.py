"""Every recording of the new-format corpus folders this work covers (Cohere, Replicate,
watsonx, xAI gRPC, Writer, OpenAI-like servers) reads, and no stream in them is ``opaque``."""

from __future__ import annotations

import pytest

from llmtrace.loader import load
from raw_reading import NEWFORMATS

FILES = sorted(p for group in "BCDFG" for d in NEWFORMATS.glob(f"{group}-*") for p in d.iterdir()
               if p.name not in ("LICENSE", "SOURCE"))


def test_the_folders_carry_their_license_and_source():
    for folder in {p.parent for p in FILES}:
        assert (folder / "LICENSE").is_file() and (folder / "SOURCE").is_file()


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.name[-60:])
def test_every_recording_reads_and_no_stream_is_opaque(path):
    recording = load(str(path))
    streams = [x for x in recording.exchanges if x.response.streaming]
    assert streams
    for exchange in streams:
        assert exchange.dialect != "opaque", exchange.index
        assert exchange.result is not None and exchange.result.choices
