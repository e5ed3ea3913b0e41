"""xAI gRPC cassettes (pydantic-ai's ``.xai.yaml``): the container variant and the fold, against
an independent reading of ``chunks_json``; cumulative usage is never summed."""

from __future__ import annotations

import orjson
import yaml
from typer.testing import CliRunner

from llmtrace.cli import app
from llmtrace.dialects import FoldContext, detect, xai_grpc
from llmtrace.loader import load
from raw_reading import NEWFORMATS

FILES = sorted((NEWFORMATS / "F-pydantic-ai").glob("*.xai.yaml"))


def _independent(path):
    doc = yaml.load(path.read_bytes(), Loader=yaml.SafeLoader)
    chunks = [item["chunk"] for item in doc["interactions"][0]["response_stream"]["chunks_json"]]
    outputs = [o for c in chunks for o in c["outputs"]]
    assistant = [o for o in outputs if o["delta"].get("role") != "ROLE_TOOL"]
    content = "".join(o["delta"].get("content", "") for o in assistant) or None
    names = []
    for o in assistant:
        names += [t["function"]["name"] for t in o["delta"].get("tool_calls", [])]
    usage = [c["usage"] for c in chunks if c.get("usage")][-1]
    return {"content": content, "tools": names, "input": usage["prompt_tokens"], "output": usage["completion_tokens"],
            "total": usage["total_tokens"], "model": doc["interactions"][0]["request_stream"]["json"]["model"]}


def test_the_real_cassettes_read_as_an_independent_reading_says():
    assert len(FILES) == 2
    for path in FILES:
        exchange = load(str(path)).exchanges[0]
        message = exchange.result.choices[0]
        usage = exchange.result.usage
        seen = {"content": message.content, "tools": [c.name for c in message.tool_calls],
                "input": usage.input_tokens, "output": usage.output_tokens, "total": usage.total_tokens,
                "model": exchange.request.model}
        assert exchange.dialect == "xai-grpc" and exchange.container == "vcr"
        assert seen == _independent(path), path.name
        assert message.finish_reason == "REASON_STOP" and exchange.result.complete
        assert exchange.result.timeline.timing == "created_at"


def test_usage_is_the_last_reported_never_the_sum():
    path = next(p for p in FILES if "reasoning" in p.name)
    exchange = load(str(path)).exchanges[0]
    assert exchange.result.usage.output_tokens == 40 and exchange.result.usage.reasoning_tokens == 121
    assert exchange.result.usage.cached_tokens == 151


def test_server_side_tool_output_is_kept_in_the_response_not_the_content():
    path = next(p for p in FILES if "code_execution" in p.name)
    run = CliRunner().invoke(app, ["reassemble", str(path)])
    assert run.exit_code == 0, run.output
    body = orjson.loads(run.stdout)
    roles = [o["message"]["role"] for o in body["outputs"]]
    assert roles == ["ROLE_ASSISTANT", "ROLE_TOOL", "ROLE_ASSISTANT"]
    assert body["outputs"][1]["message"]["tool_calls"][0]["status"] == "TOOL_CALL_STATUS_COMPLETED"
    run = CliRunner().invoke(app, ["check", "--json", str(path)])
    assert orjson.loads(run.stdout.splitlines()[0])["anomalies"] == []


def _chunk(text, finish=None, usage=None):
    out = {"id": "r1", "outputs": [{"delta": {"role": "ROLE_ASSISTANT", "content": text}}], "model": "grok"}
    if finish:
        out["outputs"][0]["finish_reason"] = finish
    if usage:
        out["usage"] = usage
    return out


def test_cut_stream_several_choices_and_unknown_fields():
    chunks = [_chunk("Hel", usage={"completion_tokens": 1}), _chunk("lo", usage={"completion_tokens": 2})]
    assert detect(chunks) == "xai-grpc"
    cut = xai_grpc.fold(chunks, FoldContext(dialect="xai-grpc"))
    assert not cut.complete and cut.choices[0].content == "Hello" and cut.usage.output_tokens == 2
    chunks.append({"id": "r1", "outputs": [{"index": 1, "delta": {"content": "Yo"}, "finish_reason": "REASON_MAX_LEN",
                                            "brand_new": 1}]})
    chunks.append(_chunk("", finish="REASON_STOP"))
    two = xai_grpc.fold(chunks, FoldContext(dialect="xai-grpc", request_body={"n": 2}))
    assert [(m.index, m.content, m.stop) for m in two.choices] == [(0, "Hello", "stop"), (1, "Yo", "length")]
    assert two.response["outputs"][1]["brand_new"] == 1
