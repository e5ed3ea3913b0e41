"""Tool calls written as text: the markup of the serving stacks' tool parsers, found in message
text where a structured call should have been (anomalies.md §1).

``find_tool_calls(text, declared_tools, json_mode)`` returns one ``Match`` per block of markup:
the family (which server-side parser would have read it), the calls parsed from it
(``{"name", "arguments"}``; ``arguments`` is the parsed object, the raw string when it is not
JSON, or None when it could not be read), and the character span in ``text``.

Precision rules:
- Distinctive markers (``<tool_call>``, ``[TOOL_CALLS]``, ``<|python_tag|>``, …) are evidence on
  their own, wherever they are in the text and also when the call after them is malformed or cut
  off — except inside code (a fenced block or an inline code span) in longer prose, which is an
  example, not a call.
- Shape-only matches (bare JSON with a name and arguments, pythonic call lists, ``x.call(…)``) must
  be the whole message (after trimming and one code fence) and need support: the name is a
  declared tool, or the object carries ``"type": "function"``, ``arguments`` or ``parameters``.
  They are not looked for at all when the request asked for JSON output (``json_mode``).
"""

from __future__ import annotations

import json
import re
from bisect import bisect_right
from typing import Any, Callable, NamedTuple


class Match(NamedTuple):
    family: str
    calls: list[dict[str, Any]]
    span: tuple[int, int]


FAMILIES = (
    "llama-json", "llama-builtin", "function-tag", "pythonic", "hermes", "qwen3-coder-xml", "mistral",
    "granite", "internlm", "jamba", "minimax-m2", "deepseek", "kimi-k2", "glm", "harmony", "functools",
    "functionary", "generic-json", "nemotron", "cohere", "apertus", "gemma",
)

# Llama 3.1's built-in tools, called as ``name.call(...)``.
LLAMA_BUILTINS = frozenset(("brave_search", "wolfram_alpha", "photogen", "code_interpreter"))

_DECODER = json.JSONDecoder()
_NAME = re.compile(r"[A-Za-z_][\w.\-]*")
_BAR = "[|\uff5c]"  # DeepSeek writes its delimiters with a fullwidth bar; some tokenizers give "|"

Parsed = tuple[str, list[dict[str, Any]], int]  # family, calls, end of the markup


def find_tool_calls(text: str, declared_tools=(), json_mode: bool = False) -> list[Match]:
    """The tool-call markup in ``text``, in order (see the module docstring for the rules)."""
    if not text or text.isspace():
        return []
    start, end = body_span(text)
    if start == end:  # only an empty code fence
        return []
    declared = frozenset(declared_tools)
    matches = _marked(text, start, end)
    if matches or json_mode:
        return matches
    shaped = _shaped(text, start, end, declared)
    return [shaped] if shaped else []


# --- the message body and its code regions -------------------------------------------------------

_FENCE = re.compile(r"^[ \t]*(`{3,}|~{3,})[^\n]*\n.*?(?:^[ \t]*\1[ \t]*$|\Z)", re.M | re.S)
_INLINE_CODE = re.compile(r"`[^`\n]+`")


def body_span(text: str) -> tuple[int, int]:
    """Where the message body is: ``text`` trimmed, and unwrapped from one code fence around it all."""
    start = len(text) - len(text.lstrip())
    end = len(text.rstrip())
    fence = text[start:start + 3]
    if fence in ("```", "~~~") and end - start > 6 and text.endswith(fence, start, end):
        newline = text.find("\n", start, end - 3)
        if newline != -1 and text.find(fence, newline, end - 3) == -1:
            inner = text[newline + 1:end - 3]
            start = newline + 1 + len(inner) - len(inner.lstrip())
            end = newline + 1 + len(inner.rstrip())
    return start, max(start, end)


def code_regions(text: str, start: int, end: int) -> list[tuple[int, int]]:
    """Fenced blocks and inline code spans within ``text[start:end]``, sorted and disjoint."""
    regions = [m.span() for m in _FENCE.finditer(text, start, end)]
    inline = []
    for m in _INLINE_CODE.finditer(text, start, end):
        if not in_regions(regions, m.start()):
            inline.append(m.span())
    return sorted(regions + inline)


def in_regions(regions: list[tuple[int, int]], pos: int) -> bool:
    """Whether ``pos`` falls in one of the sorted, disjoint ``regions``."""
    i = bisect_right(regions, (pos, float("inf"))) - 1
    return i >= 0 and regions[i][0] <= pos < regions[i][1]


# --- small readers ------------------------------------------------------------------------------


def _skip_ws(text: str, pos: int, stop: int) -> int:
    while pos < stop and text[pos].isspace():
        pos += 1
    return pos


def _json_at(text: str, pos: int, stop: int) -> tuple[Any, int]:
    """The JSON object or array at ``pos`` (after whitespace) and the position after it; (None,
    pos) when there is none or it does not end before ``stop``."""
    pos = _skip_ws(text, pos, stop)
    if pos >= stop or text[pos] not in "{[":
        return None, pos
    try:
        value, end = _DECODER.raw_decode(text, pos)
    except (ValueError, RecursionError):
        return None, pos
    return (value, end) if end <= stop else (None, pos)


def _json_values(text: str, pos: int, stop: int, separators: str = ";,") -> tuple[list[Any], int]:
    """JSON values one after another, separated by whitespace or one of ``separators``; the
    position after the last one read."""
    values: list[Any] = []
    end = pos
    while True:
        value, after = _json_at(text, pos, stop)
        if value is None:
            return values, end
        values.append(value)
        end = after
        pos = _skip_ws(text, after, stop)
        if pos < stop and text[pos] in separators:
            pos += 1


def _block(text: str, pos: int, stop: int, closings: tuple[str, ...]) -> tuple[int, int]:
    """(end of the inside, end including the closing tag) of a block opened before ``pos``; an
    unterminated block runs to ``stop``."""
    found = [(i, c) for c in closings if (i := text.find(c, pos, stop)) != -1]
    if not found:
        return stop, stop
    i, closing = min(found)
    return i, i + len(closing)


def _arguments(value: Any) -> Any:
    """Arguments as parsed: objects stay, JSON strings are read, other strings are kept raw."""
    if isinstance(value, str):
        try:
            return json.loads(value)
        except (ValueError, RecursionError):
            return value
    return value


def _scalar(raw: str) -> Any:
    """An XML-style parameter value: JSON when it reads as JSON, else the text itself."""
    value = raw.strip("\n")
    stripped = value.strip()
    if stripped[:1] in ("{", "[", "-") or stripped[:1].isdigit() or stripped in ("true", "false", "null"):
        try:
            return json.loads(stripped)
        except (ValueError, RecursionError):
            return value
    return value


def _call(obj: Any) -> dict[str, Any] | None:
    """A call read from a JSON object: ``{"name", "arguments"|"parameters"}``, OpenAI's
    ``{"type": "function", "function": {...}}``, Cohere's ``tool_name``."""
    if not isinstance(obj, dict):
        return None
    fn = obj.get("function")
    if isinstance(fn, dict) and isinstance(fn.get("name"), str):
        obj = fn
    name = obj.get("name", obj.get("tool_name"))
    if not isinstance(name, str) or not name:
        return None
    for key in ("arguments", "parameters", "args"):
        if key in obj:
            return {"name": name, "arguments": _arguments(obj[key])}
    rest = {k: v for k, v in obj.items() if k not in ("name", "tool_name", "type", "id")}
    return {"name": name, "arguments": rest}


def _calls(values: list[Any]) -> list[dict[str, Any]]:
    calls = []
    for value in values:
        for item in value if isinstance(value, list) else [value]:
            call = _call(item)
            if call:
                calls.append(call)
    return calls


_PARTIAL_NAME = re.compile(r'"(?:name|tool_name)"\s*:\s*"([^"\\]+)"')


def _json_calls(text: str, pos: int, stop: int) -> list[dict[str, Any]]:
    """Calls from the JSON after a marker; when it is cut off or malformed, the call's name if
    one can be read (its arguments then None)."""
    values, _ = _json_values(text, pos, stop)
    if values:
        return _calls(values)
    name = _PARTIAL_NAME.search(text, pos, stop)
    return [{"name": name.group(1), "arguments": None}] if name else []


def _supported(obj: dict, declared: frozenset[str]) -> bool:
    """A bare JSON object that is a call, not an answer that happens to have a ``name``."""
    call = _call(obj)
    if call is None:
        return False
    if obj.get("type") == "function" or call["name"] in declared:
        return True
    inner = obj["function"] if isinstance(obj.get("function"), dict) else obj
    return any(isinstance(_arguments(inner.get(k)), dict) for k in ("arguments", "parameters"))


def _pythonic(source: str) -> list[dict[str, Any]] | None:
    """``[f(a=1), g(b="x")]`` or ``f(a=1)``: calls with keyword arguments only, else None."""
    import ast

    if "(" not in source:
        return None
    try:
        node = ast.parse(source.strip(), mode="eval").body
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return None
    items = node.elts if isinstance(node, (ast.List, ast.Tuple)) else [node]
    calls = []
    for item in items:
        if not isinstance(item, ast.Call) or item.args:
            return None
        name = _dotted(item.func)
        if name is None or any(kw.arg is None for kw in item.keywords):
            return None
        arguments = {}
        for kw in item.keywords:
            try:
                arguments[kw.arg] = ast.literal_eval(kw.value)
            except (ValueError, TypeError, SyntaxError, RecursionError):
                arguments[kw.arg] = ast.unparse(kw.value)
        calls.append({"name": name, "arguments": arguments})
    return calls or None


def _dotted(node) -> str | None:
    import ast

    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        base = _dotted(node.value)
        return f"{base}.{node.attr}" if base else None
    return None


_XML_FUNCTION = re.compile(r"<function=([^>\n]+)>(.*?)(?:</function>|\Z)", re.S)
_XML_PARAMETER = re.compile(r"<parameter=([^>\n]+)>(.*?)(?:</parameter>|\Z)", re.S)


def _xml_functions(body: str) -> list[dict[str, Any]]:
    """Qwen3-Coder / Seed-OSS: ``<function=NAME><parameter=K>V</parameter></function>``."""
    return [{"name": m.group(1).strip(),
             "arguments": {p.group(1).strip(): _scalar(p.group(2)) for p in _XML_PARAMETER.finditer(m.group(2))}}
            for m in _XML_FUNCTION.finditer(body)]


def _invokes(body: str, prefix: str) -> list[dict[str, Any]]:
    """MiniMax-M2 / DeepSeek V3.2 DSML: ``<invoke name="N"><parameter name="K">V</parameter></invoke>``."""
    invoke = re.compile(rf'<{prefix}invoke\s+name="([^"]+)"\s*>(.*?)(?:</{prefix}invoke>|\Z)', re.S)
    parameter = re.compile(rf'<{prefix}parameter\s+name="([^"]+)"([^>]*)>(.*?)</{prefix}parameter>', re.S)
    calls = []
    for m in invoke.finditer(body):
        arguments = {}
        for p in parameter.finditer(m.group(2)):
            arguments[p.group(1)] = p.group(3) if 'string="true"' in p.group(2) else _scalar(p.group(3))
        calls.append({"name": m.group(1), "arguments": arguments})
    return calls


# --- one parser per marker ------------------------------------------------------------------------
# Each takes (text, marker match, stop) and returns (family, calls, end of the markup), or None
# when the marker turns out not to open a call.


def _python_tag(text: str, m: re.Match, stop: int) -> Parsed:
    inner, end = _block(text, m.end(), stop, ("<|eom_id|>", "<|eot_id|>"))
    body = text[m.end():inner].strip()
    if not body or body[0] in "{[":
        return "llama-json", _json_calls(text, m.end(), inner), end
    calls = _pythonic(body)
    if calls and all(c["name"].endswith(".call") for c in calls):
        return "llama-builtin", [{"name": c["name"][:-5], "arguments": c["arguments"]} for c in calls], end
    return "llama-builtin", [{"name": "code_interpreter", "arguments": {"code": body}}], end


def _function_tag(text: str, m: re.Match, stop: int) -> Parsed:
    inner, end = _block(text, m.end(), stop, ("</function>",))
    name = _NAME.match(text, m.end())
    if name is None or not text.startswith(">", name.end()):
        return "function-tag", [], inner
    body = text[name.end() + 1:inner]
    if body.lstrip().startswith("<parameter="):
        return "qwen3-coder-xml", _xml_functions(text[m.start():inner]), end
    value, _ = _json_at(text, name.end() + 1, inner)
    return "function-tag", [{"name": name.group(), "arguments": value}], end


_GLM_ARG = re.compile(r"<arg_key>(.*?)</arg_key>\s*<arg_value>(.*?)(?:</arg_value>|\Z)", re.S)


def _tool_call_tag(text: str, m: re.Match, stop: int) -> Parsed:
    closing = "</seed:tool_call>" if m.group().startswith("<seed:") else "</tool_call>"
    inner, end = _block(text, m.end(), stop, (closing,))
    body = text[m.end():inner].strip()
    if body.startswith("<function="):
        return "qwen3-coder-xml", _xml_functions(body), end
    if not body or body[0] in "{[":
        return "hermes", _json_calls(text, m.end(), inner), end
    name = _NAME.match(body)
    terminated = end > inner
    if name and ("<arg_key>" in body or (terminated and body[name.end():].lstrip()[:1] in ("", "{"))):
        rest = body[name.end():]
        if "<arg_key>" in rest:
            arguments: Any = {k.strip(): _scalar(v) for k, v in _GLM_ARG.findall(rest)}
        else:
            arguments = _json_at(rest, 0, len(rest))[0] if rest.strip() else {}
        return "glm", [{"name": name.group(), "arguments": arguments}], end
    return "hermes", [], end


def _pythonic_tagged(text: str, m: re.Match, stop: int) -> Parsed:
    closing = {"<|python_start|>": "<|python_end|>", "<function_calls>": "</function_calls>",
               "<|tool_call_start|>": "<|tool_call_end|>"}[m.group()]
    inner, end = _block(text, m.end(), stop, (closing,))
    body = text[m.end():inner].strip()
    calls = _pythonic(body)
    if calls is None:  # one call per line (Olmo 3)
        lines = [_pythonic(line) for line in body.splitlines() if line.strip()]
        calls = [c for parsed in lines if parsed for c in parsed]
    return "pythonic", calls, end


_MISTRAL_NAMED = re.compile(r"\s*([A-Za-z_][\w.\-]*)(?:\[CALL_ID\][^\[]*)?\[ARGS\]")


def _mistral(text: str, m: re.Match, stop: int) -> Parsed:
    calls: list[dict[str, Any]] = []
    pos = end = m.end()
    while True:
        named = _MISTRAL_NAMED.match(text, pos, stop)
        if named:
            value, after = _json_at(text, named.end(), stop)
            calls.append({"name": named.group(1), "arguments": value})
            end = after if value is not None else named.end()
        else:
            values, after = _json_values(text, pos, stop)
            if not values:
                break
            calls.extend(_calls(values))
            end = after
        nxt = _skip_ws(text, end, stop)
        if not text.startswith("[TOOL_CALLS]", nxt):
            break
        pos = nxt + len("[TOOL_CALLS]")
        end = pos
    return "mistral", calls, end


def _json_after(family: str, *closings: str) -> Callable[[str, re.Match, int], Parsed]:
    """A family whose marker is followed by JSON (objects or arrays) and an optional closing tag."""

    def parse(text: str, m: re.Match, stop: int) -> Parsed:
        if closings:
            inner, end = _block(text, m.end(), stop, closings)
            return family, _json_calls(text, m.end(), inner), end
        values, after = _json_values(text, m.end(), stop)
        if values:
            return family, _calls(values), after
        return family, _json_calls(text, m.end(), stop), stop  # cut off: the markup runs to the end

    return parse


def _internlm(text: str, m: re.Match, stop: int) -> Parsed:
    inner, end = _block(text, m.end(), stop, ("<|action_end|>",))
    pos = _skip_ws(text, m.end(), inner)
    if text.startswith("<|plugin|>", pos):
        pos += len("<|plugin|>")
    return "internlm", _json_calls(text, pos, inner), end


def _minimax(text: str, m: re.Match, stop: int) -> Parsed:
    inner, end = _block(text, m.end(), stop, ("</minimax:tool_call>",))
    return "minimax-m2", _invokes(text[m.end():inner], ""), end


_DS_CALL = re.compile(rf"<{_BAR}tool▁call▁begin{_BAR}>(.*?)(?:<{_BAR}tool▁call▁end{_BAR}>|\Z)", re.S)
_DS_SEP = re.compile(rf"<{_BAR}tool▁sep{_BAR}>")
_DS_END = re.compile(rf"<{_BAR}tool▁calls▁end{_BAR}>|</{_BAR}DSML{_BAR}function_calls>")


def _deepseek(text: str, m: re.Match, stop: int) -> Parsed:
    closing = _DS_END.search(text, m.end(), stop)
    inner, end = (closing.start(), closing.end()) if closing else (stop, stop)
    if "DSML" in m.group():
        return "deepseek", _invokes(text[m.end():inner], f"{_BAR}DSML{_BAR}"), end
    calls = []
    for call in _DS_CALL.finditer(text, m.start(), inner):
        parts = _DS_SEP.split(call.group(1), maxsplit=1)
        if len(parts) != 2:
            continue
        left, right = parts[0].strip(), parts[1]
        if left in ("function", ""):  # V3/R1: function<sep>NAME\n```json\n{...}\n```
            name, _, right = right.partition("\n")
        else:  # V3.1: NAME<sep>{...}
            name = left
        brace = right.find("{")
        value = _json_at(right, brace, len(right))[0] if brace != -1 else None
        calls.append({"name": name.strip(), "arguments": value})
    return "deepseek", calls, end


_KIMI_CALL = re.compile(
    r"<\|tool_call_begin\|>\s*(.*?)\s*<\|tool_call_argument_begin\|>(.*?)(?:<\|tool_call_end\|>|\Z)", re.S)
_KIMI_ID = re.compile(r"^(?:functions\.)?(.*?)(?::\d+)?$")


def _kimi(text: str, m: re.Match, stop: int) -> Parsed:
    inner, end = _block(text, m.end(), stop, ("<|tool_calls_section_end|>",))
    calls = []
    for call in _KIMI_CALL.finditer(text, m.start(), inner):
        body = call.group(2)
        calls.append({"name": _KIMI_ID.match(call.group(1)).group(1),
                      "arguments": _json_at(body, 0, len(body))[0]})
    return "kimi-k2", calls, end


_HARMONY_NAME = re.compile(r"([\w.\-]+?)(?=\s|<\||json\{|\{|$)")
_HARMONY_GAP = re.compile(r"(?:\s|<\|channel\|>|commentary|<\|constrain\|>|json|<\|message\|>)*")


def _harmony(text: str, m: re.Match, stop: int) -> Parsed:
    name = _HARMONY_NAME.match(text, m.end(), stop)
    if name is None:
        return "harmony", [], m.end()
    gap = _HARMONY_GAP.match(text, name.end(), stop)
    value, end = _json_at(text, gap.end(), stop)
    if value is None:
        end = gap.end()
    after = _skip_ws(text, end, stop)
    if text.startswith("<|call|>", after):
        end = after + len("<|call|>")
    return "harmony", [{"name": name.group(1), "arguments": value}], end


_FUNCTIONARY = re.compile(r">>>([A-Za-z_][\w.\-]*)\n")


def _functionary(text: str, m: re.Match, stop: int) -> Parsed | None:
    calls: list[dict[str, Any]] = []
    pos = end = m.start()
    while (head := _FUNCTIONARY.match(text, pos, stop)) and head.group(1) != "all":
        value, after = _json_at(text, head.end(), stop)
        calls.append({"name": head.group(1), "arguments": value})
        end = after if value is not None else head.end()
        pos = _skip_ws(text, end, stop)
    return ("functionary", calls, end) if calls else None


def _apertus(text: str, m: re.Match, stop: int) -> Parsed:
    inner, end = _block(text, m.end(), stop, ("<|tools_suffix|>",))
    calls = []
    for value in _json_values(text, m.end(), inner)[0]:
        for item in value if isinstance(value, list) else [value]:
            if isinstance(item, dict) and len(item) == 1:
                name, arguments = next(iter(item.items()))
                calls.append({"name": name, "arguments": _arguments(arguments)})
    return "apertus", calls, end


_GEMMA_CALL = re.compile(r"call:([A-Za-z_][\w.\-]*)\{(.*)\}", re.S)
_GEMMA_ARG = re.compile(r'(\w+):(?:<\|"\|>(.*?)<\|"\|>|<escape>(.*?)<escape>|([^,}]*))', re.S)


def _gemma(text: str, m: re.Match, stop: int) -> Parsed:
    closing = "<tool_call|>" if m.group() == "<|tool_call>" else "<end_function_call>"
    inner, end = _block(text, m.end(), stop, (closing,))
    call = _GEMMA_CALL.match(text[m.end():inner].strip())
    if call is None:
        return "gemma", [], end
    arguments = {}
    for key, quoted, escaped, bare in _GEMMA_ARG.findall(call.group(2)):
        arguments[key] = quoted or escaped or _scalar(bare.strip())
    return "gemma", [{"name": call.group(1), "arguments": arguments}], end


# Marker → parser. Markers are exact special tokens or tags; the harmony one also takes the channel
# header before the recipient.
_MARKERS: tuple[tuple[str, Callable[..., Parsed | None]], ...] = (
    (r"<\|python_tag\|>", _python_tag),
    (r"<function=", _function_tag),
    (r"<(?:seed:)?tool_call>", _tool_call_tag),
    (r"<\|python_start\|>|<function_calls>|<\|tool_call_start\|>", _pythonic_tagged),
    (r"\[TOOL_CALLS\]", _mistral),
    (r"<\|tool_call\|>|<function_call>", _json_after("granite")),
    (r"<\|action_start\|>", _internlm),
    (r"<tool_calls>", _json_after("jamba", "</tool_calls>")),
    (r"<minimax:tool_call>", _minimax),
    (rf"<{_BAR}tool▁calls?▁begin{_BAR}>|<{_BAR}DSML{_BAR}function_calls>", _deepseek),
    (r"<\|tool_calls_section_begin\|>|<\|tool_call_begin\|>", _kimi),
    (r"(?:<\|start\|>\s*)?(?:assistant\s*)?(?:<\|channel\|>\s*)?(?:commentary\s*)?to=functions\.", _harmony),
    (r"functools(?=\[)", _json_after("functools")),
    (r"(?<!\S)>>>(?=[A-Za-z_][\w.\-]*\n)", _functionary),
    (r"<TOOLCALL>", _json_after("nemotron", "</TOOLCALL>")),
    (r"<\|START_ACTION\|>", _json_after("cohere", "<|END_ACTION|>")),
    (r"<\|tools_prefix\|>", _apertus),
    (r"<\|tool_call>|<start_function_call>", _gemma),
)
_MARKER = re.compile("|".join(f"(?P<m{i}>{pattern})" for i, (pattern, _) in enumerate(_MARKERS)))
_PARSERS = {f"m{i}": parse for i, (_, parse) in enumerate(_MARKERS)}
_JOINERS = frozenset(" \t\r\n;,")


# Every marker contains one of these substrings: text holding none of them cannot match, and
# skipping the regex (whose optional Harmony prefixes are tried at every position) keeps plain
# answers cheap — HTML, comparisons and code in answers included, hence no bare "<".
MARKER_LITERALS = ("<|", "<\uff5c", "<function", "<tool_call", "<seed:tool_call>", "<minimax:", "<TOOLCALL>",
                   "<start_function_call>", "[TOOL_CALLS]", "to=functions.", "functools[", ">>>")


def _marked(text: str, start: int, end: int) -> list[Match]:
    if not any(text.find(literal, start, end) >= 0 for literal in MARKER_LITERALS):
        return []
    matches: list[Match] = []
    consumed = start
    code = None  # the code regions, found when a first marker needs them
    for m in _MARKER.finditer(text, start, end):
        if m.start() < consumed:
            continue
        if code is None:
            code = code_regions(text, start, end)
        if in_regions(code, m.start()):
            continue
        parsed = _PARSERS[m.lastgroup](text, m, end)
        if parsed is None:
            continue
        family, calls, stop = parsed
        stop = max(stop, m.end())
        previous = matches[-1] if matches else None
        if previous and previous.family == family and _JOINERS.issuperset(text[previous.span[1]:m.start()]):
            matches[-1] = Match(family, previous.calls + calls, (previous.span[0], stop))
        else:
            matches.append(Match(family, calls, (m.start(), stop)))
        consumed = stop
    return matches


# --- shapes without a marker: the whole message -----------------------------------------------------


def _shaped(text: str, start: int, end: int, declared: frozenset[str]) -> Match | None:
    body = text[start:end]
    if body[0] in "{[":
        values, after = _json_values(text, start, end, ";")
        if values and _skip_ws(text, after, end) == end:
            return _json_shape(values, declared, (start, end))
    calls = _pythonic(body) if body.endswith(")]") or (body.endswith(")") and ".call(" in body) else None
    if not calls:
        return None
    if len(calls) == 1 and calls[0]["name"].endswith(".call"):
        name = calls[0]["name"][:-5]
        if name in declared or name in LLAMA_BUILTINS:
            return Match("llama-builtin", [{"name": name, "arguments": calls[0]["arguments"]}], (start, end))
        return None
    if body.startswith("[") and all(c["name"] in declared for c in calls):
        return Match("pythonic", calls, (start, end))
    return None


_WRAPPER_KEYS = frozenset(("tool_calls", "tool_call", "content", "role"))


def _json_shape(values: list[Any], declared: frozenset[str], span: tuple[int, int]) -> Match | None:
    if len(values) == 1 and isinstance(values[0], dict):
        obj = values[0]
        wrapped = obj.get("tool_calls", obj.get("tool_call"))
        if wrapped is not None and _WRAPPER_KEYS.issuperset(obj):  # {"tool_calls": [...]}, {"tool_call": {...}}
            items = wrapped if isinstance(wrapped, list) else [wrapped]
            calls = _calls(items)
            return Match("generic-json", calls, span) if calls and len(calls) == len(items) else None
    if all(isinstance(v, dict) for v in values):
        if all(_supported(v, declared) for v in values):
            return Match("llama-json", _calls(values), span)
        return None
    if len(values) == 1 and values[0] and all(isinstance(v, dict) and _supported(v, declared) for v in values[0]):
        return Match("generic-json", _calls(values), span)
    return None
