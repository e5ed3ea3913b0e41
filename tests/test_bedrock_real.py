"""Every real Bedrock recording in tests/data/bedrock (copied from the corpus, see each SOURCE)
read by llmtrace and, independently, by a few lines of this test that walk the frames by hand:
the text, reasoning, tool names and usage must agree."""

from __future__ import annotations

import base64
import gzip
import json
import struct
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from llmtrace.cli import app
from llmtrace.containers import bodies
from llmtrace.dialects import bedrock_invoke
from llmtrace.loader import load

DATA = Path(__file__).parent / "data" / "bedrock"


# --- an independent reading -------------------------------------------------------------------------


def raw_events(data: bytes) -> list[tuple[str, dict]]:
    """(event type, payload) of every frame, by hand: lengths from the prelude, the event type
    from its string header, the payload as JSON."""
    events, offset = [], 0
    while offset < len(data):
        total, hlen = struct.unpack(">II", data[offset:offset + 8])
        headers = data[offset + 12:offset + 12 + hlen]
        at = headers.index(b":event-type\x07") + len(b":event-type\x07")
        size = int.from_bytes(headers[at:at + 2], "big")
        kind = headers[at + 2:at + 2 + size].decode()
        events.append((kind, json.loads(data[offset + 12 + hlen:offset + total - 4])))
        offset += total
    return events


def response_bodies(path: Path) -> list[bytes]:
    """Each response body of a recording, as bytes, read without llmtrace."""
    raw = path.read_bytes()
    if path.suffix == ".har":
        return [base64.b64decode(e["response"]["content"]["text"]) for e in json.loads(raw)["log"]["entries"]]
    if path.suffix == ".json":  # nock: the binary response as a hex string
        return [bytes.fromhex(item["response"]) for item in json.loads(raw)]
    doc = yaml.safe_load(gzip.decompress(raw) if path.suffix == ".gz" else raw)
    responses = [i["response"] for i in doc["interactions"]] if "interactions" in doc else doc["responses"]
    return [r["body"]["string"] for r in responses]


def expected_converse(events: list[tuple[str, dict]]) -> dict:
    deltas = [p["delta"] for k, p in events if k == "contentBlockDelta"]
    # Server-side tools (``type: server_tool_use``) are listed too (as server calls, contracts.md turn 3).
    tools = [p["start"]["toolUse"]["name"] for k, p in events if k == "contentBlockStart" and "toolUse" in p["start"]]
    usage = next(p["usage"] for k, p in events if k == "metadata")
    stop = next(p["stopReason"] for k, p in events if k == "messageStop")
    text = "".join(d["text"] for d in deltas if "text" in d)
    reasoning = "".join(d["reasoningContent"].get("text", "") for d in deltas if "reasoningContent" in d)
    return {"content": text or None, "reasoning": reasoning or None, "tools": tools, "finish": stop,
            "input": usage["inputTokens"], "output": usage["outputTokens"], "total": usage["totalTokens"]}


def expected_converse_body(body: dict) -> dict:
    blocks = body["output"]["message"]["content"]
    text = "".join(b.get("text", "") + "".join(p["text"] for p in b.get("citationsContent", {}).get("content", []))
                   for b in blocks)
    reasoning = "".join(b["reasoningContent"]["reasoningText"]["text"] for b in blocks if "reasoningContent" in b)
    return {"content": text or None, "reasoning": reasoning or None,
            "tools": [b["toolUse"]["name"] for b in blocks if "toolUse" in b], "finish": body["stopReason"],
            "input": body["usage"]["inputTokens"], "output": body["usage"]["outputTokens"],
            "total": body["usage"]["totalTokens"]}


def expected_invoke(events: list[tuple[str, dict]]) -> dict:
    inner = [json.loads(base64.b64decode(p["bytes"])) for k, p in events if k == "chunk"]
    metrics = inner[-1]["amazon-bedrock-invocationMetrics"]
    if inner[0].get("type") == "message_start":  # Anthropic Messages
        text = "".join(e["delta"]["text"] for e in inner if e["type"] == "content_block_delta")
        finish = next(e["delta"]["stop_reason"] for e in inner if e["type"] == "message_delta")
    elif "outputText" in inner[0]:  # Titan
        text = "".join(e["outputText"] for e in inner)
        finish = inner[-1]["completionReason"]
    elif "generation" in inner[0]:  # Llama
        text = "".join(e["generation"] for e in inner)
        finish = inner[-1]["stop_reason"]
    elif "generations" in inner[0]:  # Cohere Command
        text = "".join(g["text"] for e in inner for g in e["generations"])
        finish = inner[-1]["generations"][-1]["finish_reason"]
    else:  # Claude v2 text completions
        text = "".join(e["completion"] for e in inner)
        finish = inner[-1]["stop_reason"]
    return {"content": text, "reasoning": None, "tools": [], "finish": finish,
            "input": metrics["inputTokenCount"], "output": metrics["outputTokenCount"], "total": None}


def expected(body: bytes) -> dict | None:
    if body[:1] == b"{":
        return expected_converse_body(json.loads(body))
    events = raw_events(body)
    if events[0][0] == "chunk":
        return expected_invoke(events)
    if events[0][0] == "messageStart":
        return expected_converse(events)
    return None  # not a Converse or InvokeModel stream (RetrieveAndGenerate: test_dialect_bedrock_retrieve.py)


def seen(result) -> dict:
    message = result.choices[0]
    return {"content": message.content, "reasoning": message.reasoning, "tools": [c.name for c in message.tool_calls],
            "finish": message.finish_reason, "input": result.usage.input_tokens,
            "output": result.usage.output_tokens, "total": result.usage.total_tokens}


RECORDINGS = sorted(p for p in DATA.glob("*/*") if p.name not in ("LICENSE", "SOURCE") and p.suffix != ".json")


@pytest.mark.parametrize("path", RECORDINGS, ids=lambda p: p.name)
def test_real_recording_matches_an_independent_reading(path):
    recording = load(str(path))
    exchanges = recording.exchanges
    raw = response_bodies(path)
    assert len(exchanges) == len(raw)
    for exchange, body in zip(exchanges, raw):
        want = expected(body)
        if want is None:
            assert exchange.dialect == "bedrock-retrieve"
            continue
        assert exchange.dialect in ("bedrock-converse", "bedrock-invoke")
        assert exchange.result.complete
        assert seen(exchange.result) == want


def test_the_nock_hex_body_reads_like_the_bytes():
    """nock stores the binary body as hex (the nock container reads the file: test_container_nock.py); such a body splits
    into the same frames, and the Llama stream in it folds to what the raw events say."""
    path = DATA / "openinference" / "should-handle-meta-llama-streaming.json"
    (item,) = json.loads(path.read_text())
    payloads = bodies.split(bodies.decode(item["response"], "nock"), "nock")
    assert payloads.streaming and len(payloads.chunks) == 120
    from llmtrace.dialects import FoldContext

    result = bedrock_invoke.fold(payloads.chunks, FoldContext(dialect="bedrock-invoke"))
    assert bedrock_invoke.inner_provider(payloads.chunks) == "meta-llama"
    assert seen(result) == expected_invoke(raw_events(bytes.fromhex(item["response"])))
    assert result.choices[0].stop == "length"
    assert result.response["generation_token_count"] == 120


def test_inner_providers_of_the_invoke_streams():
    found = {}
    for path in RECORDINGS:
        for ex in load(str(path)).exchanges:
            if ex.dialect == "bedrock-invoke":
                found[path.name] = bedrock_invoke.inner_provider(ex.response.chunks)
    assert found == {"anthropic-v2-streaming.har": "anthropic-completions",
                     "cohere-command-streaming.har": "cohere",
                     "test_anthropic_3_completion_streaming.yaml": "anthropic",
                     "test_titan_invoke_stream.yaml": "amazon-titan"}


def run(*args: str):
    return CliRunner().invoke(app, list(args))


def reassembled(folder: str, name: str) -> dict:
    return json.loads(run("reassemble", str(DATA / folder / name)).stdout)


def test_reassemble_gives_the_providers_own_shapes():
    converse = reassembled("pydantic-ai", "test_bedrock_model_thinking_part_stream.yaml")
    assert list(converse) == ["output", "stopReason", "usage", "metrics"]
    blocks = converse["output"]["message"]["content"]
    assert blocks[0]["reasoningContent"]["reasoningText"]["text"].startswith("The user has greeted me")
    assert blocks[0]["reasoningContent"]["reasoningText"]["signature"].startswith("Eu0CCkgIBxAB")
    assert blocks[1] == {"text": "Hello! It's nice to meet you. How can I help you today?"}
    assert converse["metrics"] == {"latencyMs": 1999}

    tool = reassembled("openllmetry", "test_anthropic_converse_stream_with_tool_use.yaml")
    assert tool["output"]["message"]["content"][1] == {"toolUse": {
        "name": "get_weather", "toolUseId": "tooluse_yypYDr71TwCwByoyao4-Vg", "input": {"location": "Barcelona"}}}

    anthropic = reassembled("openllmetry", "test_anthropic_3_completion_streaming.yaml")
    assert anthropic["type"] == "message" and anthropic["stop_reason"] == "end_turn"
    assert anthropic["usage"] == {"input_tokens": 16, "output_tokens": 21}

    titan = reassembled("openllmetry", "test_titan_invoke_stream.yaml")
    assert titan["inputTextTokenCount"] == 28 and titan["results"][0]["completionReason"] == "FINISH"
    assert titan["results"][0]["tokenCount"] == 188

    redacted = reassembled("pydantic-ai", "test_bedrock_model_thinking_part_redacted_stream.yaml")
    assert [list(b) for b in redacted["output"]["message"]["content"]] == [["reasoningContent"]] * 2 + [["text"]]
    assert redacted["output"]["message"]["content"][0]["reasoningContent"]["redactedContent"].startswith("RXRrRUNrZ0lC")


def test_citations_are_kept_in_the_converse_shape():
    lines = run("reassemble", str(DATA / "langchain-aws" / "test_citations.yaml.gz")).stdout.splitlines()
    streamed, unstreamed = (json.loads(line) for line in lines)
    cited = streamed["output"]["message"]["content"][1]["citationsContent"]
    assert cited["content"] == [{"text": "employees get 20 days annual leave."}]
    assert cited["citations"][0]["title"] == "company_policy"
    assert "citationsContent" in unstreamed["output"]["message"]["content"][1]


def test_guardrail_intervention_is_a_content_filter():
    result = run("check", "--json", str(DATA / "openllmetry" / "test_guardrail_converse_stream.yaml"))
    codes = [a["code"] for a in json.loads(result.stdout)["anomalies"]]
    assert codes.count("content-filter") == 2
    titan = run("check", "--json", str(DATA / "openllmetry" / "test_titan_invoke_stream.yaml"))
    assert [a["code"] for a in json.loads(titan.stdout)["anomalies"]] == ["content-filter"]


def test_real_recordings_check_clean_of_errors():
    result = run("check", str(DATA))
    assert result.exit_code == 0, result.stdout
