"""The request in provider-neutral terms: messages as role + text, tool names, parameters.

Built from whichever request shape was sent: OpenAI ``messages``, Anthropic ``system`` +
``messages``, Gemini ``contents`` + ``system_instruction``, Responses/Interactions ``input``,
Ollama ``prompt``/``system``, completions ``prompt``, Cohere v1 ``preamble`` +
``chat_history`` + ``message``, Titan ``inputText`` + ``textGenerationConfig``, an Assistants run's ``instructions``, ``additional_instructions``,
``thread.messages`` and ``additional_messages``.
"""

from __future__ import annotations

from typing import Any

import orjson

from llmtrace.model import NormalizedRequest, RequestMessage

# Keys that are the conversation or the tools, not parameters.
_NOT_PARAMS = {"model", "messages", "contents", "input", "prompt", "system", "system_instruction", "tools",
               "functions", "stream", "images", "context", "config", "generation_config", "generationConfig",
               "systemInstruction", "instructions", "suffix", "preamble", "chat_history", "message", "toolConfig",
               "inferenceConfig", "retrieveAndGenerateConfiguration", "inputText", "textGenerationConfig"}

# An Assistants run's conversation (the thread it creates, the messages it adds).
_ASSISTANTS_CONVERSATION = {"thread", "additional_messages", "additional_instructions"}

# The keys of the conversation's shapes other than ``messages``: the system text, Gemini's
# ``config`` and ``contents``, Cohere v1's, Titan's, the Responses and completions APIs'.
_OTHER_SHAPES = frozenset(("system", "system_instruction", "systemInstruction", "instructions", "preamble", "config",
                           "chat_history", "inputText", "message", "contents", "input", "prompt"))
_GENERATION_CONFIGS = frozenset(("generation_config", "generationConfig", "inferenceConfig", "textGenerationConfig"))
_TOOLS = frozenset(("tools", "functions", "toolConfig"))  # what ``_declared_tools`` reads (and ``config``)
# What ``_json_mode`` reads in the body, and in the parameters.
_JSON_KEYS = frozenset(("response_format", "text", "format", "guided_json", "extra_body"))
_JSON_PARAMS = frozenset(("response_mime_type", "responseMimeType", "response_schema", "responseSchema",
                          "response_json_schema"))


def normalize_request(body: Any, dialect: str, model: str | None = None) -> NormalizedRequest:
    if not isinstance(body, dict):
        return NormalizedRequest(model=model)
    if dialect == "a2a":  # a JSON-RPC call: the message sits in params (llmtrace.dialects.a2a)
        from llmtrace.dialects.a2a import normalize_request as a2a_request

        return a2a_request(body, model)
    messages: list[RequestMessage] = []
    # Most bodies hold their conversation in ``messages`` alone: the other shapes are read only
    # when the body has one of their keys (reading them in a body that has none finds nothing).
    other_shapes = not _OTHER_SHAPES.isdisjoint(body)
    config = {}
    if other_shapes:
        system = body.get("system") or body.get("system_instruction") or body.get("systemInstruction") \
            or body.get("instructions") or body.get("preamble")
        config = body.get("config") if isinstance(body.get("config"), dict) else {}
        if not system and config:
            system = config.get("system_instruction") or config.get("systemInstruction")
        if system:
            messages.append(RequestMessage(role="system", content=text_of(system)))
    for item in _list(body.get("messages")):
        if isinstance(item, dict):
            messages.append(RequestMessage(role=str(item.get("role") or "user"), content=_message_text(item)))
    if dialect == "openai-assistants":  # a run adds messages to its thread, or creates the thread with them
        extra = body.get("additional_instructions")
        if isinstance(extra, str) and extra:
            messages.append(RequestMessage(role="system", content=extra))
        thread = body.get("thread") if isinstance(body.get("thread"), dict) else {}
        for item in _list(thread.get("messages")) + _list(body.get("additional_messages")):
            if isinstance(item, dict):
                messages.append(RequestMessage(role=str(item.get("role") or "user"), content=_message_text(item)))
    if other_shapes:
        _other_messages(body, messages)

    if dialect == "openai-assistants":
        params = {k: v for k, v in body.items() if k not in _NOT_PARAMS and k not in _ASSISTANTS_CONVERSATION}
    else:
        params = {k: v for k, v in body.items() if k not in _NOT_PARAMS}
    if not _GENERATION_CONFIGS.isdisjoint(body):
        for key in ("generation_config", "generationConfig", "inferenceConfig", "textGenerationConfig"):
            if isinstance(body.get(key), dict):
                params.update(body[key])
    for key, value in config.items():
        if key not in ("system_instruction", "systemInstruction", "tools"):
            params[key] = value
    if "stream" in body:
        params["stream"] = body["stream"]
    tools = [name for name, _ in _declared_tools(body, config)] if config or not _TOOLS.isdisjoint(body) else []
    return NormalizedRequest(
        model=body.get("model") if isinstance(body.get("model"), str) else model or _rag_model(body),
        messages=messages,
        tools=tools,
        params=params,
        json_mode=_json_mode(body, params),
        raw_text=dialect in ("openai-completions", "anthropic-completions")
        or (dialect == "ollama-generate" and bool(body.get("raw"))),
    )


def _other_messages(body: dict, messages: list[RequestMessage]) -> None:
    """Appends the messages a body holds in the other shapes (Cohere v1's ``chat_history`` and
    ``message``, Titan's ``inputText``, ``contents``, ``input``, ``prompt``), in that order."""
    for item in _list(body.get("chat_history")):  # Cohere v1: {role: USER|CHATBOT|SYSTEM, message}
        if isinstance(item, dict):
            messages.append(RequestMessage(role=str(item.get("role") or "user"), content=text_of(item.get("message"))))
    if isinstance(body.get("inputText"), str):  # Amazon Titan on Bedrock (InvokeModel)
        messages.append(RequestMessage(role="user", content=body["inputText"]))
    if isinstance(body.get("message"), str):  # Cohere v1: the new user turn
        messages.append(RequestMessage(role="user", content=body["message"]))
    for item in _list(body.get("contents")):
        if isinstance(item, dict):
            messages.append(RequestMessage(role=str(item.get("role") or "user"), content=text_of(item.get("parts"))))
        elif isinstance(item, str):
            messages.append(RequestMessage(role="user", content=item))
    if isinstance(body.get("contents"), str):
        messages.append(RequestMessage(role="user", content=body["contents"]))
    inp = body.get("input")
    if isinstance(inp, str):
        messages.append(RequestMessage(role="user", content=inp))
    elif isinstance(inp, dict) and isinstance(inp.get("text"), str):  # Bedrock RetrieveAndGenerate
        messages.append(RequestMessage(role="user", content=inp["text"]))
    else:
        for item in _list(inp):
            if isinstance(item, dict):
                role = item.get("role") or item.get("type") or "user"
                messages.append(RequestMessage(role=str(role), content=_message_text(item)))
            elif isinstance(item, str):
                messages.append(RequestMessage(role="user", content=item))
    prompt = body.get("prompt")
    if prompt is not None:
        if isinstance(prompt, list):
            for p in prompt:
                messages.append(RequestMessage(role="prompt", content=p if isinstance(p, str) else text_of(p)))
        else:
            messages.append(RequestMessage(role="prompt", content=text_of(prompt)))


def _rag_model(body: dict) -> str | None:
    """The model of a Bedrock Knowledge Bases ``RetrieveAndGenerate`` request (its ``modelArn``)."""
    config = body.get("retrieveAndGenerateConfiguration")
    if not isinstance(config, dict):
        return None
    for key in ("knowledgeBaseConfiguration", "externalSourcesConfiguration"):
        inner = config.get(key)
        if isinstance(inner, dict) and isinstance(inner.get("modelArn"), str):
            return inner["modelArn"]
    return None


def _list(value: Any) -> list:
    return value if isinstance(value, list) else []


def _message_text(item: dict) -> str:
    text = text_of(item.get("content"))
    if not text and item.get("parts") is not None:
        text = text_of(item.get("parts"))
    calls = item.get("tool_calls")
    if isinstance(calls, list) and calls:
        names = []
        for call in calls:
            fn = call.get("function") if isinstance(call, dict) else None
            if isinstance(fn, dict):
                names.append(f"{fn.get('name')}({_arguments(fn.get('arguments'))})")
        text = (text + "\n" if text else "") + "[tool calls] " + ", ".join(names)
    if item.get("type") == "function_call":
        text = f"[tool call] {item.get('name')}({_arguments(item.get('arguments'))})"
    elif item.get("type") == "function_call_output":
        text = text_of(item.get("output"))
    return text


def text_of(value: Any) -> str:
    """The text in a content value: a string, a list of parts, or a part."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, list):
        return "".join(text_of(part) for part in value)
    if isinstance(value, dict):
        for key in ("text", "content", "output"):
            if isinstance(value.get(key), (str, list)):
                return text_of(value[key])
        if isinstance(value.get("parts"), list):
            return text_of(value["parts"])
        kind = value.get("type")
        if kind in ("image_url", "image", "input_image", "input_audio", "file"):
            return f"[{kind}]"
        if "inline_data" in value or "inlineData" in value or "file_data" in value:
            return "[data]"
        if "function_call" in value or "functionCall" in value:
            call = _dict(value.get("function_call") or value.get("functionCall"))
            return f"[tool call] {call.get('name')}({_arguments(call.get('args'))})"
        if "function_response" in value or "functionResponse" in value:
            resp = _dict(value.get("function_response") or value.get("functionResponse"))
            return f"[tool result] {resp.get('name')}: {_compact(resp.get('response'))}"
        if kind == "tool_use":
            return f"[tool call] {value.get('name')}({_arguments(value.get('input'))})"
        if kind == "tool_result":
            return "[tool result] " + text_of(value.get("content"))
        return _compact(value)
    return str(value)


def _dict(value: Any) -> dict:
    return value if isinstance(value, dict) else {}


def _arguments(value: Any) -> str:
    """A tool call's arguments as one text whatever the client made of them: JSON (a string or
    an object) compact with sorted keys; anything else as sent. Clients re-serialize the
    arguments they got (spaces, key order), and the call is the same."""
    if isinstance(value, str):
        try:
            parsed = orjson.loads(value)
        except orjson.JSONDecodeError:
            return value
        if not isinstance(parsed, dict):
            return value
        value = parsed
    if isinstance(value, dict):
        try:
            return orjson.dumps(value, option=orjson.OPT_SORT_KEYS).decode()
        except TypeError:
            return str(value)
    return text_of(value) if value is not None else ""


def _compact(value: Any) -> str:
    if isinstance(value, str):
        return value
    try:
        return orjson.dumps(value).decode()
    except TypeError:
        return str(value)


def tool_definitions(body: Any) -> dict[str, Any]:
    """Each tool the request declared, by name: the object carrying its name as sent (an OpenAI
    ``function``, an Anthropic or Responses tool, a Gemini function declaration)."""
    if not isinstance(body, dict):
        return {}
    config = body.get("config") if isinstance(body.get("config"), dict) else {}
    return dict(_declared_tools(body, config))


def _declared_tools(body: dict, config: dict) -> list[tuple[str, dict]]:
    tool_config = body.get("toolConfig") if isinstance(body.get("toolConfig"), dict) else {}  # Bedrock Converse
    return (_declarations(body.get("tools")) + _declarations(config.get("tools")) + _declarations(body.get("functions"))
            + _declarations([t.get("toolSpec") for t in _list(tool_config.get("tools")) if isinstance(t, dict)]))


def _declarations(tools: Any) -> list[tuple[str, dict]]:
    found: list[tuple[str, dict]] = []
    for tool in _list(tools):
        if not isinstance(tool, dict):
            continue
        fn = tool.get("function")
        if isinstance(fn, dict) and isinstance(fn.get("name"), str):
            found.append((fn["name"], fn))
        elif isinstance(tool.get("name"), str):
            found.append((tool["name"], tool))
        for key in ("function_declarations", "functionDeclarations"):
            for decl in _list(tool.get(key)):
                if isinstance(decl, dict) and isinstance(decl.get("name"), str):
                    found.append((decl["name"], decl))
    return found


def _json_mode(body: dict, params: dict) -> bool:
    if _JSON_KEYS.isdisjoint(body) and _JSON_PARAMS.isdisjoint(params):
        return False  # none of the keys read below
    fmt = body.get("response_format")
    if isinstance(fmt, dict) and fmt.get("type") in ("json_object", "json_schema"):
        return True
    text = body.get("text")
    if isinstance(text, dict) and isinstance(text.get("format"), dict) \
            and text["format"].get("type") in ("json_object", "json_schema"):
        return True  # Responses API
    mime = params.get("response_mime_type") or params.get("responseMimeType")
    if mime == "application/json" or params.get("response_schema") or params.get("responseSchema") \
            or params.get("response_json_schema"):
        return True
    if body.get("format") not in (None, ""):  # Ollama: "json" or a schema
        return True
    return bool(body.get("guided_json") or (isinstance(body.get("extra_body"), dict)
                                            and body["extra_body"].get("guided_json")))
