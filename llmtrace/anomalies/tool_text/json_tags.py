"""Markup around JSON calls: a marker, then ``{"name", "arguments"|"parameters"}`` objects or lists
of them, sometimes a closing tag. Hermes/Qwen ``<tool_call>``, LongCat, Granite, InternLM,
``<tool_calls>`` (Jamba, Apriel, Hunyuan A13B), Nemotron, Cohere, Phi-4-mini/FireFunction
``functools``, Apertus, Mistral ``[TOOL_CALLS]``, GigaChat 3, Functionary v3.1 ``<function=NAME>``
and v3.2 ``>>>NAME``, Command R+ ``Action: ```json``, Llama's ``<|python_tag|>``.

The tags several styles share are read here and handed on: ``<tool_call>`` holds Hermes JSON,
Qwen3-Coder XML, GLM's ``NAME<arg_key>…`` or Hunyuan V3's ``NAME<tool_sep>…``; ``<tool_calls>``
holds a JSON list or Hunyuan V3's calls."""

from __future__ import annotations

import re
from typing import Any, Callable

from llmtrace.anomalies.tool_text import arg_pairs, pythonic, xml_tags
from llmtrace.anomalies.tool_text.reading import (
    arguments, block, calls_from_json, json_at, json_calls, json_values, rx, skip_ws,
)

Parsed = tuple
_NAME = r"[A-Za-z_][\w.\-]*"


def python_tag(text: str, m: re.Match, stop: int) -> Parsed:
    values, after = json_values(text, m.end(), stop)
    if values:  # the markup ends with its JSON, and the end token when one follows
        at = skip_ws(text, after, stop)
        for token in ("<|eom_id|>", "<|eot_id|>"):
            if text.startswith(token, at):
                after = at + len(token)
        return "llama-json", calls_from_json(values), after
    inner, end = block(text, m.end(), stop, ("<|eom_id|>", "<|eot_id|>"))
    body = text[m.end():inner].strip()
    if not body or body[0] in "{[":
        return "llama-json", json_calls(text, m.end(), inner), end
    return "llama-builtin", pythonic.builtin(body), end


def function_tag(text: str, m: re.Match, stop: int) -> Parsed:
    """``<function=NAME>{…}</function>``, or Qwen3-Coder's ``<function=NAME><parameter=…>``."""
    inner, end = block(text, m.end(), stop, ("</function>",))
    name = rx(_NAME).match(text, m.end())
    if name is None or not text.startswith(">", name.end()):
        return "function-tag", [], inner
    body = text[name.end() + 1:inner]
    if body.lstrip().startswith("<parameter="):
        closing = rx(r"\s*</tool_call>").match(text, end, stop)
        return "qwen3-coder-xml", xml_tags.functions(text[m.start():inner]), closing.end() if closing else end
    value, _ = json_at(text, name.end() + 1, inner)
    return "function-tag", [{"name": name.group(), "arguments": value}], end


def tool_call_tag(text: str, m: re.Match, stop: int) -> Parsed:
    seed = m.group().startswith("<seed:")
    inner, end = block(text, m.end(), stop, ("</seed:tool_call>" if seed else "</tool_call>",))
    body = text[m.end():inner].strip()
    # MiMo-V2-Flash may write a parameter before its <function=…> (vLLM's test_mimov2_flash_tool_parser.py)
    if body.startswith("<function=") or (body.startswith("<parameter=") and "<function=" in body):
        return ("seed-oss" if seed else "qwen3-coder-xml"), xml_tags.functions(body), end
    if body.startswith("[") and end == inner and not seed:  # Granite 3.1 writes no closing tag
        return "granite", json_calls(text, m.end(), inner), end
    if not body or body[0] in "{[":
        return "hermes", json_calls(text, m.end(), inner), end
    harmony = rx(r"(?:assistant\s+)?to=functions\.(" + _NAME + r")(?:\s+json)?\s*").match(body)
    if harmony:  # SGLang's multi-format gptoss dialect
        value, _ = json_at(body, harmony.end(), len(body))
        return "multi-format", [{"name": harmony.group(1), "arguments": value}], end
    name = rx(_NAME).match(body)
    if name and body.startswith("(", name.end()) and body.endswith(")"):  # multi-format python dialect
        found = pythonic.calls(body) or [{"name": name.group(), "arguments": None}]
        return "multi-format", found, end
    if name and body.startswith("<tool_sep>", name.end()):
        return "hunyuan-v3", arg_pairs.hunyuan_v3("<tool_call>" + body), _after(text, end, stop, "</tool_calls>")
    terminated = end > inner
    if name and "<arg_key>" in body:  # the name is all before the first pair (Poolside's may hold spaces)
        head = body[:body.index("<arg_key>")]
        called = head.split("\\n", 1)[0].strip() or name.group()  # GLM-4.6 may write a literal "\n"
        return "glm", [arg_pairs.glm(called if "\n" not in called else name.group(), body[len(head):])], end
    if name and terminated and body[name.end():].lstrip()[:1] in ("", "{"):
        return "glm", [arg_pairs.glm(name.group(), body[name.end():])], end
    return "hermes", [], end


def user_alias(text: str, m: re.Match, stop: int) -> Parsed:
    """``<user>``: Laguna's alias of ``<tool_call>`` (Ollama's Laguna parser), around GLM's
    ``NAME`` then ``<arg_key>`` pairs or a ``{"name": …, "arguments": …}`` object."""
    inner, end = block(text, m.end(), stop, ("</user>",))
    body = text[m.end():inner].strip()
    if body.startswith("{"):
        return "laguna", json_calls(text, m.end(), inner), end
    head = body[:body.index("<arg_key>")]
    return "laguna", [arg_pairs.glm(head.strip(), body[len(head):])], end


def tool_calls_tag(text: str, m: re.Match, stop: int) -> Parsed:
    """``<tool_calls>``: Hunyuan V3's ``<tool_call>NAME<tool_sep>…`` blocks, SGLang's multi-format
    ``<invoke name="…">`` elements, or a JSON list."""
    inner, end = block(text, m.end(), stop, ("</tool_calls>",))
    body = text[m.end():inner]
    if body.lstrip().startswith("<tool_call>"):
        return "hunyuan-v3", arg_pairs.hunyuan_v3(body), end
    if body.lstrip().startswith("<invoke"):
        return "multi-format", xml_tags.invokes(body), end
    return "jamba", json_calls(text, m.end(), inner), end


def _after(text: str, pos: int, stop: int, closing: str) -> int:
    """``pos``, or past ``closing`` when only whitespace stands between."""
    at = skip_ws(text, pos, stop)
    return at + len(closing) if text.startswith(closing, at) else pos


# v11+: NAME[ARGS]{…}; with the special tokens decoded away, NAME{…} (vLLM's tests).
_MISTRAL_NAMED = rf"\s*({_NAME})(?:\[CALL_ID\][^\[]*)?(?:\[ARGS\]|(?=\{{))"


def mistral(text: str, m: re.Match, stop: int) -> Parsed:
    calls: list[dict[str, Any]] = []
    pos = end = m.end()
    while True:
        named = rx(_MISTRAL_NAMED).match(text, pos, stop)
        if named:
            value, after = json_at(text, named.end(), stop)
            calls.append({"name": named.group(1), "arguments": value})
            end = after if value is not None else named.end()
        else:
            values, after = json_values(text, pos, stop)
            if not values and not calls:  # junk before the list on its line (vLLM's regex fallback)
                line_end = text.find("\n", pos, stop)
                found = text.find("[{", pos, line_end if line_end != -1 else stop)
                if found != -1:
                    values, after = json_values(text, found, stop)
            if not values:
                break
            calls.extend(calls_from_json(values))
            end = after
        nxt = skip_ws(text, end, stop)
        if not text.startswith("[TOOL_CALLS]", nxt):
            break
        pos = nxt + len("[TOOL_CALLS]")
        end = pos
    return "mistral", calls, end


def json_after(family: str, *closings: str) -> Callable[[str, re.Match, int], Parsed]:
    """A family whose marker is followed by JSON (objects or arrays) and an optional closing tag."""

    def parse(text: str, m: re.Match, stop: int) -> Parsed:
        if closings:
            inner, end = block(text, m.end(), stop, closings)
            return family, json_calls(text, m.end(), inner), end
        values, after = json_values(text, m.end(), stop)
        if values:
            return family, calls_from_json(values), after
        return family, json_calls(text, m.end(), stop), stop  # cut off: the markup runs to the end

    return parse


def granite(text: str, m: re.Match, stop: int) -> Parsed:
    family = "granite-20b-fc" if m.group() == "<function_call>" else "granite"
    return json_after(family)(text, m, stop)


def internlm(text: str, m: re.Match, stop: int) -> Parsed:
    inner, end = block(text, m.end(), stop, ("<|action_end|>",))
    pos = skip_ws(text, m.end(), inner)
    if text.startswith("<|plugin|>", pos):
        pos += len("<|plugin|>")
    return "internlm", json_calls(text, pos, inner), end


def gigachat3(text: str, m: re.Match, stop: int) -> Parsed:
    """``<|function_call|>{…}`` or ``function call<|role_sep|>\\n{…}``: one call."""
    value, end = json_at(text, m.end(), stop)
    if value is None:
        return "gigachat3", json_calls(text, m.end(), stop), stop
    after = skip_ws(text, end, stop)
    if text.startswith("</s>", after):
        end = after + 4
    return "gigachat3", calls_from_json([value]), end


_FUNCTIONARY = rf">>>({_NAME})\n"


def functionary(text: str, m: re.Match, stop: int) -> Parsed | None:
    calls: list[dict[str, Any]] = []
    pos = end = m.start()
    while (head := rx(_FUNCTIONARY).match(text, pos, stop)) and head.group(1) != "all":
        value, after = json_at(text, head.end(), stop)
        calls.append({"name": head.group(1), "arguments": value})
        end = after if value is not None else head.end()
        pos = skip_ws(text, end, stop)
    return ("functionary", calls, end) if calls else None


def apertus(text: str, m: re.Match, stop: int) -> Parsed:
    inner, end = block(text, m.end(), stop, ("<|tools_suffix|>",))
    calls = []
    values = json_values(text, m.end(), inner)[0]
    for value in values:
        for item in value if isinstance(value, list) else [value]:
            if isinstance(item, dict) and len(item) == 1:
                name, value = next(iter(item.items()))
                calls.append({"name": name, "arguments": arguments(value)})
    if not values:  # cut off: the names of the calls begun (vLLM completes their arguments)
        calls = [{"name": n, "arguments": None} for n in rx(r'[\[,]\s*\{\s*"([^"\\]+)"\s*:').findall(text, m.end(), inner)]
    return "apertus", calls, end


def command_r_plus(text: str, m: re.Match, stop: int) -> Parsed:
    """``Action: ```json`` + a list of ``{"tool_name", "parameters"}`` + ``````; Command R's
    pseudo-tool ``directly-answer`` is no call."""
    inner, end = block(text, m.end(), stop, ("```",))
    calls = [c for c in json_calls(text, m.end(), inner) if c["name"] != "directly-answer"]
    return ("command-r-plus", calls, end) if calls else None  # "Action:" alone is a common word


_FIRST_RECIPIENT = r"([A-Za-z_][\w.\-]*)\n"


def functionary_first(text: str, start: int, end: int, declared: frozenset[str]) -> tuple | None:
    """Functionary v3.2's first message, whose ``>>>`` the prompt wrote: ``NAME\n{…}`` (then more
    ``>>>`` calls, or nothing), or ``python\n`` + code — the whole message, NAME a declared tool
    (llama.cpp's tests). ``all\n`` addresses the user: no call."""
    head = rx(_FIRST_RECIPIENT).match(text, start, end)
    if head is None or head.group(1) not in declared or head.group(1) == "all":
        return None
    value, after = json_at(text, head.end(), end)
    if isinstance(value, dict):
        rest = skip_ws(text, after, end)
        if rest == end:
            return "functionary", [{"name": head.group(1), "arguments": value}], end
        more = functionary(text, rx(r">>>").match(text, rest, end), end) if text.startswith(">>>", rest) else None
        if more:
            return "functionary", [{"name": head.group(1), "arguments": value}] + more[1], more[2]
        return None
    if head.group(1) == "python":
        code = text[head.end():end]
        found = pythonic.builtin(code)
        if found and found[0]["name"] == "code_interpreter":
            return "functionary", [{"name": "python", "arguments": {"code": code}}], end
    return None
