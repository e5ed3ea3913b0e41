"""``normalize_request`` reads the shapes a body does not use only when it has one of their keys
(``_OTHER_SHAPES``, ``_GENERATION_CONFIGS``, ``_TOOLS``, ``_JSON_KEYS``/``_JSON_PARAMS``): what it
makes of any body must be what reading every shape makes of it."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from llmtrace import normalize
from llmtrace.normalize import normalize_request


class _Every:
    """A key set that meets every body: each guarded shape is read."""

    def isdisjoint(self, other) -> bool:
        return False


def _outcome(body, dialect):
    try:
        made = normalize_request(body, dialect, "fallback-model")
    except Exception as exc:  # noqa: BLE001 - an error is an outcome too (the loader reports it)
        return type(exc), str(exc)
    return made.model_dump(), made.json_mode, made.raw_text, made.model_fields_set


def _read_every_shape(monkeypatch, body, dialect):
    with monkeypatch.context() as patched:
        for name in ("_OTHER_SHAPES", "_GENERATION_CONFIGS", "_TOOLS", "_JSON_KEYS", "_JSON_PARAMS"):
            patched.setattr(normalize, name, _Every())
        return _outcome(body, dialect)


# Every key normalize_request reads (written out, not taken from the sets under test), and others.
KEYS = ["model", "messages", "contents", "input", "prompt", "system", "system_instruction", "systemInstruction",
        "instructions", "preamble", "config", "chat_history", "message", "inputText", "tools", "functions",
        "toolConfig", "stream", "generation_config", "generationConfig", "inferenceConfig", "textGenerationConfig",
        "thread", "additional_messages", "additional_instructions", "response_format", "text", "format", "guided_json",
        "extra_body", "response_mime_type", "responseMimeType", "response_schema", "responseSchema",
        "response_json_schema", "retrieveAndGenerateConfiguration", "raw", "temperature", "max_tokens", "user"]
_TEXT = st.sampled_from(["", "hi", "application/json", "json", "user", "assistant"])
_PART = st.fixed_dictionaries({}, optional={"role": _TEXT, "content": _TEXT, "text": _TEXT, "type": _TEXT,
                                            "parts": st.lists(st.fixed_dictionaries({"text": _TEXT}), max_size=2),
                                            "message": _TEXT, "name": _TEXT})
_TOOL = st.one_of(st.fixed_dictionaries({"type": st.just("function"),
                                         "function": st.fixed_dictionaries({"name": _TEXT})}),
                  st.fixed_dictionaries({"name": _TEXT}),
                  st.fixed_dictionaries({"toolSpec": st.fixed_dictionaries({"name": _TEXT})}),
                  st.fixed_dictionaries({"function_declarations": st.lists(st.fixed_dictionaries({"name": _TEXT}),
                                                                           max_size=2)}))
_CONFIG = st.dictionaries(st.sampled_from(["system_instruction", "systemInstruction", "tools", "temperature",
                                           "response_mime_type", "responseSchema", "type", "messages",
                                           "guided_json"]),
                          st.one_of(_TEXT, st.lists(_TOOL, max_size=2), st.just({"type": "json_object"})), max_size=3)
_VALUE = st.one_of(st.none(), _TEXT, st.integers(0, 2), st.booleans(),
                   st.lists(st.one_of(_PART, _TEXT, _TOOL), max_size=3), _PART, _CONFIG,
                   st.just({"type": "json_schema"}), st.just({"format": {"type": "json_object"}}))
BODIES = st.dictionaries(st.sampled_from(KEYS), _VALUE, max_size=8)
DIALECTS = st.sampled_from(["openai-chat", "openai-assistants", "openai-completions", "gemini", "ollama-generate",
                            "anthropic-messages", "cohere-v1", "bedrock-invoke"])


@settings(max_examples=500, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])  # patched and restored in each example
@given(body=BODIES, dialect=DIALECTS)
def test_a_body_reads_as_with_every_shape_read(monkeypatch, body, dialect):
    assert _outcome(body, dialect) == _read_every_shape(monkeypatch, body, dialect)


@pytest.mark.parametrize("body", [
    {"model": "m", "messages": [{"role": "user", "content": "q"}], "stream": True, "temperature": 0.5},
    {"contents": [{"role": "user", "parts": [{"text": "q"}]}], "generationConfig": {"temperature": 0},
     "systemInstruction": {"parts": [{"text": "be brief"}]}, "tools": [{"function_declarations": [{"name": "f"}]}]},
    {"model": "m", "prompt": "say", "response_format": {"type": "json_object"}, "functions": [{"name": "g"}]},
    {"inputText": "q", "textGenerationConfig": {"maxTokenCount": 5},
     "config": {"response_mime_type": "application/json"}},
])
def test_each_shape_read_as_before(monkeypatch, body):
    assert _outcome(body, "openai-chat") == _read_every_shape(monkeypatch, body, "openai-chat")
