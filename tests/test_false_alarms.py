"""No false alarms (issue 23): findings that a complete, well-formed recording must not get. Each
stream is written here in the shape the named provider sends."""

from __future__ import annotations

from conftest import DATA
from llmtrace.anomalies import detect
from llmtrace.dialects import FoldContext
from llmtrace.dialects import bedrock_converse as converse
from llmtrace.dialects import bedrock_invoke as invoke
from llmtrace.dialects import gemini_interactions as interactions
from llmtrace.loader import load
from llmtrace.model import Exchange, Request, Response

FALSE_ALARMS = DATA / "false_alarms"


def codes_of(exchange: Exchange) -> dict[str, str]:
    return {a.code: a.severity for a in detect(exchange)}


def folded(dialect: str, module, chunks: list, body: dict | None = None) -> Exchange:
    ex = Exchange(container="sse", dialect=dialect, request=Request(body=body or {}),
                  response=Response(status=200, streaming=True, chunks=chunks))
    ex.result = module.fold(chunks, FoldContext(dialect=dialect, request_body=body))
    return ex


# --- rule 10: a complete stream without a finish reason -------------------------------------------

def test_openrouter_stream_without_finish_reason_is_finish_missing_not_no_finish():
    """OpenRouter ends with the usage chunk and [DONE] and never sends finish_reason."""
    (ex,) = load(str(FALSE_ALARMS / "openrouter-no-finish.sse")).exchanges
    found = codes_of(ex)
    assert "no-finish" not in found
    assert found["finish-missing"] == "info"
    assert ex.result.complete and ex.result.choices[0].finish_reason is None
    assert ex.result.choices[0].content == "Hello world"


def test_cut_stream_without_done_is_still_no_finish(tmp_path):
    text = (FALSE_ALARMS / "openrouter-no-finish.sse").read_text().replace("data: [DONE]\n", "")
    path = tmp_path / "cut.sse"
    path.write_text(text)
    found = codes_of(load(str(path)).exchanges[0])
    assert found.get("no-finish") == "error" and "finish-missing" not in found


# --- rule 8: Bedrock Cohere with several generations -----------------------------------------------

METRICS = {"amazon-bedrock-invocationMetrics": {"inputTokenCount": 7, "outputTokenCount": 6,
                                                "invocationLatency": 900, "firstByteLatency": 100}}


def test_bedrock_cohere_final_event_without_index_ends_every_generation():
    """cohere.command-text with ``num_generations: 2``: text events carry ``index``; the final
    ``is_finished`` event has none."""
    events = [{"index": 0, "text": "Hi", "is_finished": False}, {"index": 1, "text": "Hello", "is_finished": False},
              {"index": 0, "text": "!", "is_finished": False}, {"index": 1, "text": ".", "is_finished": False},
              {"is_finished": True, "finish_reason": "COMPLETE",
               "response": {"id": "r", "generations": [{"id": "a", "text": "Hi!", "finish_reason": "COMPLETE", "index": 0},
                                                       {"id": "b", "text": "Hello.", "finish_reason": "COMPLETE",
                                                        "index": 1}]}, **METRICS}]
    ex = folded("bedrock-invoke", invoke, [invoke.chunk_of(e) for e in events])
    assert [(m.index, m.content, m.finish_reason, m.stop) for m in ex.result.choices] == \
        [(0, "Hi!", "COMPLETE", "stop"), (1, "Hello.", "COMPLETE", "stop")]
    assert ex.result.complete
    assert "no-finish" not in codes_of(ex)


# --- rule 7: totals that legitimately count more than input + output ----------------------------------

def test_bedrock_converse_total_counts_cache_reads_and_writes():
    stream = [{"messageStart": {"role": "assistant"}},
              {"contentBlockDelta": {"contentBlockIndex": 0, "delta": {"text": "Hi"}}},
              {"contentBlockStop": {"contentBlockIndex": 0}}, {"messageStop": {"stopReason": "end_turn"}},
              {"metadata": {"usage": {"inputTokens": 4, "outputTokens": 83, "totalTokens": 2179,
                                      "cacheReadInputTokens": 0, "cacheWriteInputTokens": 2092}}}]
    ex = folded("bedrock-converse", converse, stream)
    assert "usage-inconsistent" not in codes_of(ex)
    wrong = [*stream[:-1], {"metadata": {"usage": {"inputTokens": 4, "outputTokens": 83, "totalTokens": 2180,
                                                   "cacheReadInputTokens": 0, "cacheWriteInputTokens": 2092}}}]
    assert "usage-inconsistent" in codes_of(folded("bedrock-converse", converse, wrong))


def test_gemini_interactions_total_counts_thought_and_tool_use_tokens():
    def event(kind: str, **fields) -> dict:
        return {**fields, "event_type": kind}

    usage = {"total_input_tokens": 10, "total_output_tokens": 5, "total_thought_tokens": 7,
             "total_tool_use_tokens": 20, "total_tokens": 42}
    events = [event("interaction.start", interaction={"id": "i", "status": "in_progress"}),
              event("content.start", index=0, content={"type": "text"}),
              event("content.delta", index=0, delta={"type": "text", "text": "Hi"}),
              event("content.stop", index=0),
              event("interaction.complete", interaction={"id": "i", "status": "completed", "usage": usage})]
    ex = folded("gemini-interactions", interactions, events)
    assert ex.result.usage.total_tokens == 42
    assert "usage-inconsistent" not in codes_of(ex)
    events[-1] = event("interaction.complete", interaction={"id": "i", "status": "completed",
                                                              "usage": {**usage, "total_tokens": 43}})
    assert "usage-inconsistent" in codes_of(folded("gemini-interactions", interactions, events))


def test_every_total_table_names_its_source():
    from llmtrace import dialects

    tables = {mod.__name__: mod.TOTAL_ALSO_COUNTS for mod in dialects.modules() if hasattr(mod, "TOTAL_ALSO_COUNTS")}
    assert {"llmtrace.dialects.bedrock_converse", "llmtrace.dialects.gemini_interactions",
            "llmtrace.dialects.gemini"} <= set(tables)
    assert all(source.startswith("https://") for table in tables.values() for source in table.values())


# --- rule 11: documented aliases are info, other models a warning ------------------------------------

import pytest  # noqa: E402

from llmtrace.anomalies.metadata import documented_alias, model_name  # noqa: E402


@pytest.mark.parametrize("requested, served", [
    ("anthropic.claude-v2", "claude-2.0"),  # Bedrock's Claude 2 id
    ("anthropic.claude-v2:1", "claude-2.1"),
    ("anthropic.claude-instant-v1", "claude-instant-1.2"),
    ("claude-3-5-haiku-latest", "claude-3-5-haiku-20241022"),
    ("mistral-large-latest", "mistral-large-2411"),
    ("gemini-flash-latest", "gemini-2.5-flash-preview-09-2025"),
    ("gpt-4-turbo-preview", "gpt-4-0125-preview"),
    ("gpt-5.2_2025-12-11", "gpt-5.2-2025-12-11"),  # an Azure deployment name
    ("gpt-35-turbo", "gpt-3.5-turbo-0125"),  # Azure's spelling of the model
    ("command-r", "command-r-08-2024"),
])
def test_documented_aliases_are_info(requested, served):
    assert documented_alias(model_name(served), model_name(requested)) is not None
    ex = _with_models(requested, served)
    (found,) = [a for a in detect(ex) if a.code == "model-mismatch"]
    assert found.severity == "info"


@pytest.mark.parametrize("requested, served", [
    ("gpt-4o", "gpt-4o-mini-2024-07-18"), ("gpt-4", "gpt-4.1"), ("gpt-4-turbo-preview", "gpt-4o"),
    ("gpt-4o-2024-05-13", "gpt-4o-2024-08-06"), ("anthropic.claude-v2", "claude-3-haiku-20240307"),
    ("gpt-5.2_2025-12-11", "gpt-5.1-2025-11-13"),
])
def test_other_models_stay_warnings(requested, served):
    ex = _with_models(requested, served)
    (found,) = [a for a in detect(ex) if a.code == "model-mismatch"]
    assert found.severity == "warning"


def _with_models(requested: str, served: str) -> Exchange:
    chunks = [{"id": "c", "object": "chat.completion.chunk", "model": served,
               "choices": [{"index": 0, "delta": {"content": "Hi"}, "finish_reason": "stop"}]}]
    from llmtrace.dialects import openai_chat

    ex = folded("openai-chat", openai_chat, chunks, {"model": requested, "messages": []})
    ex.normalized_request.model = requested
    return ex
