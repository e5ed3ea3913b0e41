"""Finding tool-call markup in message text (anomalies.md §1).

``find_tool_calls(text, declared_tools, json_mode, model)`` returns one ``Match`` per block of
markup: the family (families.py: which server-side parser would have read it), the calls parsed
from it (``{"name", "arguments"}``; ``arguments`` is the parsed object, the raw string when it is
not JSON, or None when it could not be read), and the character span in ``text``.

How it stays fast: every marker starts with a literal. Plain ``str.find`` passes look for the
literals first (a text without ``<`` is checked against five of them); only where one is found is
a marker's pattern tried, at that position, and its parser run. Text is read once, left to right;
a parser reads its block and the scan resumes after it.

Precision rules:
- Distinctive markers (``<tool_call>``, ``[TOOL_CALLS]``, ``<|python_tag|>``, …) are evidence on
  their own, wherever they are in the text and also when the call after them is malformed or cut
  off — except inside code (a fenced block or an inline code span) in longer prose, which is an
  example, not a call. A marker's literal alone (``<tool_`` at the end of a text) is nothing.
- Shape-only matches (bare JSON with a name and arguments, pythonic call lists, ``x.call(…)``) must
  be the whole message (after trimming and one code fence) and need support: the name is a
  declared tool, or the object carries ``"type": "function"``, ``arguments`` or ``parameters``.
- A JSON object that ends the message after prose (bare or in a closing code fence) is a call
  when it names a declared tool and carries ``arguments`` or ``parameters``.
- Shape-only rules are not applied at all when the request asked for JSON output (``json_mode``).
"""

from __future__ import annotations

import re
from heapq import heapify, heappop, heapreplace
from typing import Any, Callable, NamedTuple

from llmtrace.anomalies.tool_text import arg_pairs, json_tags, pythonic, special_tokens, xml_tags
from llmtrace.anomalies.tool_text.families import resolve
from llmtrace.anomalies.tool_text.gemma import bare_gemma, gemma
from llmtrace.anomalies.tool_text.reading import (
    loose_list, rx, body_span, call_from_json, calls_from_json, code_regions, in_regions, json_at, json_values, skip_ws,
)


class Match(NamedTuple):
    family: str
    calls: list[dict[str, Any]]
    span: tuple[int, int]


# Llama 3.1's built-in tools, called as ``name.call(...)``.
LLAMA_BUILTINS = frozenset(("brave_search", "wolfram_alpha", "photogen", "code_interpreter"))


def _function_calls(text: str, m: re.Match, stop: int) -> tuple:
    """``<function_calls>``: DeepSeek V3.2's ``<invoke>`` without DSML, else Olmo 3's call lines."""
    if text.startswith("<invoke", skip_ws(text, m.end(), stop)):
        return xml_tags.deepseek_v32(text, m, stop)
    return pythonic.tagged(text, m, stop)


class _Marker(NamedTuple):
    literal: str  # found with str.find; every occurrence of the marker contains it at its start
    pattern: str | None  # tried at the literal's position (None: the literal is the marker)
    parse: Callable[..., tuple | None]
    looks_back: bool = False  # the parser may start the span before the literal (a header)
    angled: bool = False  # the markup always holds a "<" (looked for only in texts that hold one)


_MARKERS: tuple[_Marker, ...] = (
    _Marker("<|python_tag|>", None, json_tags.python_tag),
    _Marker("<function=", None, json_tags.function_tag),
    _Marker("<tool_call>", None, json_tags.tool_call_tag),
    _Marker("<seed:tool_call>", None, json_tags.tool_call_tag),
    _Marker("<tool_calls>", None, json_tags.tool_calls_tag),
    # Ollama's Laguna parser: <user> for <tool_call>, only before a name and its pairs, or a call object
    _Marker("<user>", r'<user>(?=\s*(?:[A-Za-z_][\w.\-]*[ \t]*\n?[ \t]*<arg_key>'
                      r'|\{\s*"name"\s*:\s*"[^"\n]+"\s*,\s*"(?:arguments|parameters)"\s*:))', json_tags.user_alias),
    _Marker("<|python_start|>", None, pythonic.tagged),
    _Marker("<function_calls>", None, _function_calls),
    _Marker("<|tool_call_start|>", None, pythonic.tagged),
    _Marker("[TOOL_CALLS]", None, json_tags.mistral),
    _Marker("<|tool_call|>", None, json_tags.granite),
    _Marker("<function_call>", None, json_tags.granite),
    _Marker("<|action_start|>", None, json_tags.internlm),
    _Marker("<minimax:tool_call>", None, xml_tags.minimax_m2),
    _Marker("]<]minimax[>[", r"\]<\]minimax\[>\[\s*<tool_call>", xml_tags.minimax_m3),
    _Marker("<\uff5ctool▁call", "<\uff5ctool▁calls?▁begin\uff5c>", special_tokens.deepseek),
    _Marker("<|tool▁call", r"<\|tool▁calls?▁begin\|>", special_tokens.deepseek),
    _Marker("function<\uff5ctool▁sep\uff5c>", None, special_tokens.deepseek_fragment),
    _Marker("function<|tool▁sep|>", None, special_tokens.deepseek_fragment),
    _Marker("<\uff5cDSML\uff5cfunction_calls>", None, xml_tags.deepseek_v32),
    _Marker("<|DSML|function_calls>", None, xml_tags.deepseek_v32),
    _Marker("<\uff5cDSML\uff5ctool_calls>", None, xml_tags.deepseek_v4),
    _Marker("<|DSML|tool_calls>", None, xml_tags.deepseek_v4),
    _Marker("<|tool_calls_section_begin|>", None, special_tokens.kimi_k2),
    _Marker("<|tool_call_begin|>", None, special_tokens.kimi_k2),
    _Marker("to=functions.", None, special_tokens.harmony, looks_back=True),
    _Marker("functools[", r"functools(?=\[)", json_tags.json_after("functools")),
    _Marker(">>>", r"(?<!\S)>>>(?=[A-Za-z_][\w.\-]*\n)", json_tags.functionary),
    _Marker("<TOOLCALL>", None, json_tags.json_after("nemotron", "</TOOLCALL>")),
    _Marker("<|START_ACTION|>", None, json_tags.json_after("cohere", "<|END_ACTION|>")),
    _Marker("<|tools_prefix|>", None, json_tags.apertus),
    _Marker("<|tool_call>", None, gemma),
    _Marker("<start_function_call>", None, gemma),
    _Marker("<call>", r"<call>(?=[A-Za-z_][\w.\-]*\{)", bare_gemma),
    _Marker("call:", r"(?<![^\n>])call:(?=[A-Za-z_][\w.\-]*\{)", bare_gemma, angled=True),  # with <|"|>
    _Marker("<|function_call|>", None, json_tags.gigachat3),
    _Marker("function call<|role_sep|>", None, json_tags.gigachat3),
    _Marker("<\uff5cGCML\uff5ctool_calls>", None, xml_tags.gigachat),
    _Marker("<function", r"<function[\s\u0120]*name\s*=", xml_tags.minicpm5),
    _Marker("<|open|>", r"<\|open\|>\s*tools\s*<\|sep\|>", xml_tags.kimi_k3),
    _Marker("<\uff5ctool_calls_begin\uff5c>", None, xml_tags.step3),
    _Marker("<|tool_calls_begin|>", None, xml_tags.step3),
    _Marker("<steptml:invoke", None, xml_tags.step3),
    _Marker("<atem:function_calls>", None, xml_tags.muse_glimmer),
    _Marker("<atem:invoke", None, xml_tags.muse_glimmer),
    _Marker("<dots_function_call>", None, xml_tags.dots),
    _Marker("<|tool_call:start|>", None, arg_pairs.solar_open2),
    _Marker("<longcat_tool_call>", None, json_tags.json_after("longcat", "</longcat_tool_call>")),
    _Marker("<rfl:parameter", None, xml_tags.beam, looks_back=True),
    _Marker("Action:", r"(?<!\S)Action:[ \t]*\n?[ \t]*```json", json_tags.command_r_plus),
)

# Literals that hold a "<" are only looked for when the text holds one.
_ANGLED = tuple(sorted({m.literal for m in _MARKERS if "<" in m.literal or m.angled}))
_PLAIN = tuple(sorted({m.literal for m in _MARKERS if "<" not in m.literal and not m.angled}))
MARKER_LITERALS = _PLAIN + _ANGLED
# Most angled literals start with "<": they are looked for at each "<" of the text (found at
# memory speed; a text holds few), by the character after it; the others each with a ``find``.
_AT_ANGLE: dict[str, tuple[str, ...]] = {}
for _literal in _ANGLED:
    if _literal.startswith("<"):
        _AT_ANGLE[_literal[1]] = _AT_ANGLE.get(_literal[1], ()) + (_literal,)
del _literal
_ANGLED_INSIDE = tuple(literal for literal in _ANGLED if not literal.startswith("<"))
_BY_LITERAL: dict[str, tuple[_Marker, ...]] = {}
for _m in _MARKERS:
    _BY_LITERAL[_m.literal] = _BY_LITERAL.get(_m.literal, ()) + (_m,)
del _m
_COMPILED: dict[str, tuple[tuple[re.Pattern, _Marker], ...]] = {}  # literal → its markers' patterns


def _patterns(literal: str) -> tuple[tuple[re.Pattern, _Marker], ...]:
    """The patterns of the markers that start with ``literal``, compiled when first needed."""
    found = _COMPILED.get(literal)
    if found is None:
        found = _COMPILED[literal] = tuple((re.compile(m.pattern or re.escape(m.literal)), m)
                                           for m in _BY_LITERAL[literal])
    return found

_JOINERS = frozenset(" \t\r\n;,")


def find_tool_calls(text: str, declared_tools=(), json_mode: bool = False, model: str | None = None) -> list[Match]:
    """The tool-call markup in ``text``, in order (see the module docstring for the rules);
    ``model`` (the model the request asked for) tells apart families that share a markup."""
    if not text or text.isspace():
        return []
    start, end = body_span(text)
    if start == end:  # only an empty code fence
        return []
    matches = _marked(text, start, end)
    if not matches and not json_mode:
        declared = frozenset(declared_tools)
        start = _after_thinking(text, start, end)
        anywhere = bool(model) and any(word in model.lower() for word in _JSON_ANYWHERE)
        found = (_shaped(text, start, end, declared) or _trailing_call(text, start, end, declared)
                 or _introduced_call(text, start, end, declared, anywhere)
                 or _first_recipient(text, start, end, declared))
        matches = [found] if found else _pythonic_in_prose(text, start, end, declared)
    if model:
        matches = [Match(resolve(m.family, model), m.calls, m.span) for m in matches]
    return matches


def _marked(text: str, start: int, end: int) -> list[Match]:
    """The markup blocks, left to right. Each literal's next occurrence waits in a heap; when the
    scan has moved past it (inside a block already read), the literal is looked for again from
    there, so occurrences inside blocks cost one ``find`` together."""
    heap = [(pos, literal) for literal in _PLAIN if (pos := text.find(literal, start, end)) != -1]
    angle = text.find("<", start, end)
    if angle != -1:
        heap += [(pos, literal) for literal in _ANGLED_INSIDE if (pos := text.find(literal, start, end)) != -1]
        heap += _first_at_angles(text, angle, end)
    if not heap:
        return []
    heapify(heap)
    matches: list[Match] = []
    consumed = start
    code = None  # the code regions, found when a first marker needs them
    while heap:
        pos, literal = heap[0]
        if pos < consumed:
            nxt = text.find(literal, consumed, end)
            if nxt == -1:
                heappop(heap)
            else:
                heapreplace(heap, (nxt, literal))
            continue
        nxt = text.find(literal, pos + 1, end)
        if nxt == -1:
            heappop(heap)
        else:
            heapreplace(heap, (nxt, literal))
        for pattern, marker in _patterns(literal):
            m = pattern.match(text, pos, end)
            if m is None:
                continue
            if code is None:
                code = code_regions(text, start, end)
            if code and in_regions(code, pos):
                break
            parsed = marker.parse(text, m, end, consumed) if marker.looks_back else marker.parse(text, m, end)
            if parsed is None:
                continue
            family, calls, stop = parsed[0], parsed[1], parsed[2]
            if not calls and _mentioned(text, m.end()):
                continue
            first = parsed[3] if len(parsed) > 3 else pos
            if stop < m.end():
                stop = m.end()
            if matches and matches[-1].family == family and _JOINERS.issuperset(text[matches[-1].span[1]:first]):
                previous = matches[-1]
                matches[-1] = Match(family, previous.calls + calls, (previous.span[0], stop))
            else:
                matches.append(Match(family, calls, (first, stop)))
            consumed = stop
            break
    return matches


def _first_at_angles(text: str, angle: int, end: int) -> list[tuple[int, str]]:
    """``(pos, literal)`` for the first place of each literal of ``_AT_ANGLE`` in ``text`` before
    ``end``, read at each "<" from ``angle`` on (what a ``find`` per literal gives, without a
    pass over the text per literal)."""
    first: dict[str, int] = {}
    while angle != -1:
        for literal in _AT_ANGLE.get(text[angle + 1:angle + 2], ()):
            if literal not in first and text.startswith(literal, angle, end):
                first[literal] = angle
        angle = text.find("<", angle + 1, end)
    return [(pos, literal) for literal, pos in first.items()]


def _mentioned(text: str, after: int) -> bool:
    """A marker with no readable call, followed on its line by prose (``… wrap calls in
    <tool_call> tags``): a mention, not markup. Kept as markup: a marker alone on its line, or
    followed by the start of a call (JSON, a tag, one name cut off)."""
    line_end = text.find("\n", after, after + 200)
    rest = text[after:line_end if line_end != -1 else after + 200].strip()
    if not rest or rest[0] in "{[<":
        return False
    return any(c.isspace() for c in rest) or not rest[0].isalnum()


# --- shapes without a marker ---------------------------------------------------------------------------


def _after_thinking(text: str, start: int, end: int) -> int:
    """Where the answer starts after a leading ``<think>…</think>`` block (xLAM's parser reads the
    calls after it); ``start`` when there is none."""
    if not text.startswith("<think>", start):
        return start
    closing = text.find("</think>", start, end)
    if closing == -1:
        return start
    after = skip_ws(text, closing + len("</think>"), end)
    return after if after < end else start


def _shaped(text: str, start: int, end: int, declared: frozenset[str]) -> Match | None:
    """The whole message is a JSON call (or list of calls) or a pythonic call list."""
    body_head, body_tail = text[start], text[end - 1]
    if body_head in "{[":
        values, after = json_values(text, start, end, ";")
        if values and skip_ws(text, after, end) == end:
            return _json_shape(values, declared, (start, end))
        if body_head == "[" and not values:  # [{…} {…}]: objects without commas
            loose, after = loose_list(text, start, end)
            if loose and after == end:
                return _json_shape([loose], declared, (start, end))
    if body_tail != ")" and not text.endswith(")]", start, end):
        return None
    body = text[start:end]
    calls = pythonic.calls(body) if body.endswith(")]") or ".call(" in body else None
    if calls is None and body.startswith("[") and body.endswith(")]"):
        calls = pythonic.salvage(body[1:-1])  # one malformed call beside good ones (vLLM keeps the good)
    if not calls:
        return None
    if len(calls) == 1 and calls[0]["name"].endswith(".call"):
        name = calls[0]["name"][:-5]
        if name in declared or name in LLAMA_BUILTINS:
            return Match("llama-builtin", [{"name": name, "arguments": calls[0]["arguments"]}], (start, end))
        return None
    if body.startswith("[") and any(c["name"] in declared for c in calls):
        return Match("pythonic", calls, (start, end))
    return None


def _supported(obj: dict, declared: frozenset[str]) -> bool:
    """A bare JSON object that is a call, not an answer that happens to have a ``name``."""
    call = call_from_json(obj)
    if call is None or _definition(obj):
        return False
    if obj.get("type") == "function" or call["name"] in declared:
        return True
    inner = obj["function"] if isinstance(obj.get("function"), dict) else obj
    return any(isinstance(_argument_object(inner.get(k)), dict) for k in ("arguments", "parameters"))


def _definition(obj: dict) -> bool:
    """A tool's definition (a description, parameters given as a JSON schema), not a call of it."""
    inner = obj["function"] if isinstance(obj.get("function"), dict) else obj
    schema = inner.get("parameters")
    return "description" in inner or (isinstance(schema, dict) and schema.get("type") == "object"
                                       and isinstance(schema.get("properties"), dict))


def _argument_object(value: Any) -> Any:
    return call_from_json({"name": "_", "arguments": value})["arguments"]


_WRAPPER_KEYS = frozenset(("tool_calls", "tool_call", "content", "role"))


def _json_shape(values: list[Any], declared: frozenset[str], span: tuple[int, int]) -> Match | None:
    if len(values) == 1 and isinstance(values[0], dict):
        obj = values[0]
        wrapped = obj.get("tool_calls", obj.get("tool_call"))
        if wrapped is not None and _WRAPPER_KEYS.issuperset(obj):  # {"tool_calls": [...]}, {"tool_call": {...}}
            items = wrapped if isinstance(wrapped, list) else [wrapped]
            calls = calls_from_json(items)
            return Match("generic-json", calls, span) if calls and len(calls) == len(items) else None
    if all(isinstance(v, dict) for v in values):
        if all(_supported(v, declared) for v in values):
            return Match("llama-json", calls_from_json(values), span)
        return None
    if len(values) == 1 and values[0] and all(isinstance(v, dict) and _supported(v, declared) for v in values[0]):
        return Match("generic-json", calls_from_json(values), span)
    return None


# At most this many "{" are tried, from the end, to find where a JSON object that ends the message starts.
_TRAILING_TRIES = 32


def _trailing_call(text: str, start: int, end: int, declared: frozenset[str]) -> Match | None:
    """A JSON object that ends the message after prose — bare, or alone in a closing code fence —
    naming a declared tool and carrying ``arguments`` or ``parameters``."""
    if not declared:
        return None
    lo, hi = start, end
    fence = text[end - 3:end]
    if fence in ("```", "~~~"):
        opening = text.rfind("\n" + fence, start, end - 3)
        if opening == -1:
            return None
        line_end = text.find("\n", opening + 1, end - 3)
        if line_end == -1:
            return None
        lo, hi = line_end + 1, len(text[:end - 3].rstrip())
        prose_end = opening
    else:
        prose_end = None
    if hi <= lo or text.rfind('"name"', lo, hi) == -1:
        return None
    if text[hi - 1] == "]":  # a list of calls, alone in the closing fence or on the last lines
        return _trailing_list(text, start, lo, hi, prose_end, declared)
    if text[hi - 1] != "}":
        return None
    pos = hi
    for _ in range(_TRAILING_TRIES):
        pos = text.rfind("{", lo, pos)
        if pos == -1:
            return None
        obj, after = json_at(text, pos, hi)
        if not isinstance(obj, dict) or after != hi:
            continue
        if fence in ("```", "~~~") and text[lo:pos].strip():
            return None  # the fence holds more than the object
        before = text[start:prose_end if prose_end is not None else pos]
        if not before.strip():
            return None  # the whole message: the shape rule decides
        if explained(text, len(before.rstrip()) + start, start):
            return None  # "For example:", "The format is:" — a sample, not a call
        call = call_from_json(obj)
        inner = obj["function"] if isinstance(obj.get("function"), dict) else obj
        if (call and call["name"] in declared and ("arguments" in inner or "parameters" in inner)
                and not _definition(obj)):
            return Match("llama-json", [call], (pos, hi))
        return None
    return None


def _trailing_list(text: str, start: int, lo: int, hi: int, prose_end: int | None,
                   declared: frozenset[str]) -> Match | None:
    """``[{"name", "arguments"}, …]`` that ends the message after prose (xLAM writes one, often in a
    ```json fence): every item a call of a declared tool with arguments or parameters."""
    pos = lo if prose_end is not None else text.rfind("\n[", lo, hi) + 1
    if pos <= 0 and prose_end is None:
        return None
    values, after = json_values(text, pos, hi, "")
    if len(values) != 1 or after != hi or not isinstance(values[0], list) or not values[0]:
        return None
    before = text[start:prose_end if prose_end is not None else pos]
    if not before.strip() or explained(text, start + len(before.rstrip()), start):
        return None  # the whole message (the shape rule decides), or a sample
    items = values[0]
    for item in items:
        call = call_from_json(item)
        inner = item["function"] if isinstance(item, dict) and isinstance(item.get("function"), dict) else item
        if (call is None or call["name"] not in declared or _definition(item)
                or not ("arguments" in inner or "parameters" in inner)):
            return None
    return Match("generic-json", calls_from_json(items), (pos, hi))


# Words that introduce an example or an explanation rather than a call (anomalies.md §1: a span
# that is quoted or explained is not a call).
_EXPLAINED = r"(?i)(?:example|e\.g\.|for instance|format|syntax|such as|like this|looks like|would look)"
_INTRODUCED_TRIES = 8


def explained(text: str, pos: int, floor: int = 0) -> bool:
    """Whether the line before ``pos`` introduces what follows as an example or a format."""
    line_start = max(floor, text.rfind("\n", floor, pos) + 1, pos - 120)
    return rx(_EXPLAINED).search(text, line_start, pos) is not None


# Models whose servers read JSON calls anywhere in the text (vLLM's llama3_json parser, Ollama's
# Llama 3.2 template without a tool-call prefix: tests/data/tool_text/suites).
_JSON_ANYWHERE = ("llama3", "llama-3")


def _introduced_call(text: str, start: int, end: int, declared: frozenset[str], anywhere: bool = False) -> Match | None:
    """Llama 3 JSON calls (``{"name", "parameters"}``, ``;``-joined) that start the message or follow a
    colon in its prose (``Here is the result: {…}``), with prose after them: each a declared tool
    with arguments or parameters — anywhere in the prose when the model is a Llama 3 (``anywhere``).
    Not after words that introduce an example, not in code."""
    if not declared:
        return None
    first, _ = json_at(text, start + 1, end) if text.startswith("[", start) else (None, start)
    if isinstance(first, dict) and _declared_call(first, declared):  # a list of calls, prose after it
        values, after = json_values(text, start, end, "")
        items = values[0] if len(values) == 1 and isinstance(values[0], list) else loose_list(text, start, end)[0]
        if not values:
            after = loose_list(text, start, end)[1]
        if items and all(isinstance(v, dict) and _declared_call(v, declared) for v in items):
            return Match("generic-json", calls_from_json(items), (start, after))
    pos, code = start, None
    for _ in range(_INTRODUCED_TRIES):
        pos = text.find('{"name"', pos, end)
        if pos == -1:
            return None
        before = text[start:pos].rstrip()
        if before and ((not before.endswith(":") and not anywhere) or explained(text, pos, start)):
            pos += 1
            continue
        if before.endswith("[") and anywhere:  # a list of calls in the prose
            pos = start + len(before) - 1
        if code is None:
            code = code_regions(text, start, end)
        if code and in_regions(code, pos):
            pos += 1
            continue
        values, after = json_values(text, pos, end, ";")
        if text.startswith("[", pos):
            values, after = loose_list(text, pos, end)
            values = values or []
        if values and all(isinstance(v, dict) and _declared_call(v, declared) for v in values):
            return Match("llama-json", calls_from_json(values), (pos, after))
        pos += 2 if text.startswith("[", pos) else 1
    return None


def _declared_call(obj: dict, declared: frozenset[str]) -> bool:
    call = call_from_json(obj)
    return (call is not None and call["name"] in declared and not _definition(obj)
            and ("arguments" in obj or "parameters" in obj))


_PYTHONIC_LIST = r"\[\s*([A-Za-z_][\w.]*)\("
_PYTHONIC_TRIES = 16


def _pythonic_in_prose(text: str, start: int, end: int, declared: frozenset[str]) -> list[Match]:
    """Pythonic call lists inside prose (``Here's a tool call: [get_weather(location='Paris')]``,
    SGLang's pythonic detector reads them there): a bracketed list whose calls name declared
    tools, not in code, not introduced as an example."""
    if not declared or text.find("(", start, end) == -1:
        return []
    found: list[Match] = []
    code = None
    for i, m in enumerate(rx(_PYTHONIC_LIST).finditer(text, start, end)):
        if i >= _PYTHONIC_TRIES:
            break
        if m.group(1) not in declared or (found and m.start() < found[-1].span[1]):
            continue
        close = text.find(")]", m.end(), end)
        calls = None
        while close != -1 and calls is None and close - m.start() < 20_000:
            calls = pythonic.calls(text[m.start():close + 2])
            if calls is None:
                close = text.find(")]", close + 2, end)
        if not calls or not all(c["name"] in declared for c in calls):
            continue
        if code is None:
            code = code_regions(text, start, end)
        if (code and in_regions(code, m.start())) or explained(text, m.start(), start):
            continue
        found.append(Match("pythonic", calls, (m.start(), close + 2)))
    return found


def _first_recipient(text: str, start: int, end: int, declared: frozenset[str]) -> Match | None:
    parsed = json_tags.functionary_first(text, start, end, declared)
    return Match(parsed[0], parsed[1], (start, parsed[2])) if parsed else None
