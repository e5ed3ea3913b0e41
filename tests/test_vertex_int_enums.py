"""Vertex AI REST with ``$alt=json;enum-encoding=int`` (issue 23, rule 3): enums are numbers, read
through the API's tables; an unknown number is kept, never a rejection of the file."""

from __future__ import annotations

import json
import subprocess
import sys

import llmtrace
from conftest import DATA
from llmtrace.anomalies import detect
from llmtrace.dialects.gemini import ENUMS, enum_name

PATH = DATA / "vertex" / "enum-encoding-int.json"


def test_int_finish_reason_reads_as_its_name():
    stream, blocked, unknown = llmtrace.load(str(PATH)).exchanges
    (message,) = stream.result.choices
    assert (message.content, message.finish_reason, message.stop) == ("Hello there", "STOP", "stop")
    assert stream.result.complete
    assert {a.code for a in detect(stream)} == set()
    # The reassembled response keeps the numbers as sent.
    response = llmtrace.reassemble(stream)
    assert response["candidates"][0]["finishReason"] == 1
    assert response["usageMetadata"]["promptTokensDetails"] == [{"modality": 1, "tokenCount": 3}]


def test_blocked_prompt_with_int_block_reason_is_complete():
    blocked = llmtrace.load(str(PATH)).exchanges[1]
    assert blocked.result.complete
    assert "no-finish" not in {a.code for a in detect(blocked)}


def test_unknown_number_is_kept_as_sent_and_flagged_not_rejected():
    unknown = llmtrace.load(str(PATH)).exchanges[2]
    (message,) = unknown.result.choices
    assert message.finish_reason == "99" and message.stop is None
    assert {a.code: a.severity for a in detect(unknown)}["nonstandard-finish"] == "warning"


def test_enum_tables():
    assert enum_name("finishReason", 2) == "MAX_TOKENS" and enum_name("finishReason", 9) == "MALFORMED_FUNCTION_CALL"
    assert enum_name("blockReason", 1) == "SAFETY" and enum_name("modality", 5) == "DOCUMENT"
    assert enum_name("finishReason", "STOP") == "STOP" and enum_name("finishReason", -1) == "-1"
    assert all(names[0].endswith("UNSPECIFIED") for names in ENUMS.values())


def test_scan_rows_give_the_names():
    out = subprocess.run([sys.executable, "-m", "llmtrace", "scan", "--jsonl", str(PATH)], capture_output=True,
                         text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert [json.loads(line)["finish_reason"] for line in out.stdout.splitlines()] == ["STOP", None, "99"]
