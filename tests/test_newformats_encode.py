"""The wire formats ``serve`` replays for Cohere, Replicate and watsonx: every real stream,
encoded chunk by chunk and split again, folds to what the recording folds to."""

from __future__ import annotations

import pytest

from llmtrace import dialects
from llmtrace.containers import bodies
from llmtrace.loader import load
from raw_reading import NEWFORMATS

ENCODED = ("cohere-v2", "cohere-v1", "replicate", "watsonx")
STREAMS = [(path, x.index) for group in "BCD" for d in NEWFORMATS.glob(f"{group}-*") for path in d.iterdir()
           if path.name not in ("LICENSE", "SOURCE")
           for x in load(str(path)).exchanges if x.dialect in ENCODED and x.response.streaming]


def test_every_encoded_dialect_has_real_streams():
    assert {load(str(p)).exchanges[i].dialect for p, i in STREAMS} == set(ENCODED)


@pytest.mark.parametrize("path,index", STREAMS, ids=lambda v: v.name[-50:] if hasattr(v, "name") else str(v))
def test_fold_of_the_encoded_stream_is_the_fold_of_the_recording(path, index):
    exchange = load(str(path)).exchanges[index]
    module = dialects.module_for(exchange.dialect)
    wire = b"".join(module.encode(c) for c in exchange.response.chunks).decode()
    payloads = bodies.split(wire, "")
    assert payloads.streaming and payloads.chunks == exchange.response.chunks
    ctx = dialects.FoldContext(dialect=exchange.dialect, request_body=exchange.request.body)
    again = module.fold(payloads.chunks, ctx)
    assert again.choices == exchange.result.choices and again.usage == exchange.result.usage
    assert again.response == exchange.result.response
