"""XML-style markup, where each argument is an element of its own:

- Qwen3-Coder / Seed-OSS: ``<function=NAME><parameter=K>V</parameter></function>``;
- ``<invoke name="NAME"><parameter name="K">V</parameter></invoke>`` and its namespaced kin:
  MiniMax-M2 (``<minimax:tool_call>``), DeepSeek V3.2 DSML (``<｜DSML｜invoke>``, ``string="true"``
  marks text, other values are JSON; the body may also be one JSON object; the tags also come
  without ``｜DSML｜``), GigaChat 3.5 (``<｜GCML｜…>``, ``string`` defaults to true), MuseGlimmer
  (``<atem:…>``, values JSON when they read as JSON), dots (``<dots_function_call>``, or a JSON
  object), StepFun Step 3 (``<steptml:invoke>`` between DeepSeek-like special tokens);
- MiniCPM5: ``<function name="NAME"><param name="K">V</param></function>``;
- MiniMax-M3: every tag prefixed with the namespace marker ``]<]minimax[>[``, arguments as
  elements named after them (nested elements make objects, repeated ones lists);
- Kimi K3's XTML: ``<|open|>call tool="NAME"<|sep|><|open|>argument key="K" type="T"<|sep|>V
  <|close|>argument<|sep|>…``, strings raw, other types JSON;
- beam: a Harmony channel header addressed ``to=NAME`` whose message is ``<rfl:parameter
  name="K">V</rfl:parameter>`` elements (values kept as text).
"""

from __future__ import annotations

import json
import re
from typing import Any, Callable

from llmtrace.anomalies.tool_text.reading import (
    block, json_at, json_or_text, literal_or_text, rx, skip_ws, unescape_attribute,
)

Parsed = tuple  # (family, calls, end) or (family, calls, end, start)

_BAR = "[|\uff5c]"  # DeepSeek-style delimiters: a fullwidth bar, or "|" from some tokenizers

# --- Qwen3-Coder / Seed-OSS ------------------------------------------------------------------------

_XML_FUNCTION = r"<function=([^>\n]+)>(.*?)(?:</function>|\Z)"
_XML_PARAMETER = r"<parameter=([^>\n]+)>(.*?)(?:</parameter>|\Z)"


def functions(body: str) -> list[dict[str, Any]]:
    """Qwen3-Coder / Seed-OSS: ``<function=NAME><parameter=K>V</parameter></function>``."""
    return [{"name": m.group(1).strip(),
             "arguments": {p.group(1).strip(): json_or_text(p.group(2))
                           for p in rx(_XML_PARAMETER, re.S).finditer(m.group(2))}}
            for m in rx(_XML_FUNCTION, re.S).finditer(body)]


# --- <invoke name="…"> and kin ----------------------------------------------------------------------


def _invokes(body: str, prefix: str, value: Callable[[str, str], Any], name: str = r'"([^"]+)"') -> list[dict]:
    """``<PREFIXinvoke name="N"><PREFIXparameter name="K" …>V</PREFIXparameter></PREFIXinvoke>``;
    ``value(raw, attributes)`` reads a parameter. A body that is one JSON object is the arguments."""
    invoke = rx(rf"<{prefix}invoke\s+name\s*=\s*{name}\s*>(.*?)(?:</{prefix}invoke>|\Z)", re.S)
    parameter = rx(rf'<{prefix}parameter\s+name\s*=\s*"?([^">\s]+)"?([^>]*)>(.*?)</{prefix}parameter>', re.S)
    calls = []
    for m in invoke.finditer(body):
        inner = m.group(2)
        stripped = inner.strip()
        if stripped.startswith("{") and stripped.endswith("}"):
            obj = json_at(stripped, 0, len(stripped))[0]
            if isinstance(obj, dict):
                calls.append({"name": m.group(1), "arguments": obj})
                continue
        arguments = {p.group(1): value(p.group(3), p.group(2)) for p in parameter.finditer(inner)}
        calls.append({"name": m.group(1), "arguments": arguments})
    return calls


def _xml_value(raw: str, attributes: str) -> Any:
    return json_or_text(raw)


def _string_attribute(default: str) -> Callable[[str, str], Any]:
    """DSML and GCML: ``string="true"`` marks text kept as written; other values are JSON."""

    def value(raw: str, attributes: str) -> Any:
        if 'string="' in attributes:
            is_text = 'string="true"' in attributes or 'string="True"' in attributes
        elif "string" in attributes:
            found = rx(r'string\s*=\s*"([^"]*)"').search(attributes)
            is_text = (found.group(1) if found else default).lower() == "true"
        else:
            is_text = default == "true"
        if is_text:
            return raw
        try:
            return json.loads(raw.strip())
        except (ValueError, RecursionError):
            return raw.strip()

    return value


def _json_value(raw: str, attributes: str) -> Any:
    """MuseGlimmer: the value as JSON when it reads as JSON, else the text as written."""
    if raw.strip()[:1] not in _JSON_STARTS:
        return raw
    try:
        return json.loads(raw)
    except (ValueError, RecursionError):
        return raw


_JSON_STARTS = frozenset('{["-0123456789tfn')


def invokes(body: str) -> list[dict]:
    """Bare ``<invoke name="…"><parameter name="…">`` elements (SGLang's multi-format minimax and
    dsv32 dialects): ``string="true"`` keeps text, other values are JSON when they read as JSON."""
    return _invokes(body, "", _string_attribute("false"))


def minimax_m2(text: str, m: re.Match, stop: int) -> Parsed:
    inner, end = block(text, m.end(), stop, ("</minimax:tool_call>",))
    return "minimax-m2", _invokes(text[m.end():inner], "", _xml_value), end


_DSML = rf"{_BAR}DSML{_BAR}"


def deepseek_v32(text: str, m: re.Match, stop: int) -> Parsed:
    """``<｜DSML｜function_calls>`` (or a bare ``<function_calls>`` holding ``<invoke>``)."""
    closing = rx(rf"</(?:{_DSML})?function_calls>").search(text, m.end(), stop)
    inner, end = (closing.start(), closing.end()) if closing else (stop, stop)
    return "deepseek-v3.2", _invokes(text[m.end():inner], f"(?:{_DSML})?", _string_attribute("false")), end


def deepseek_v4(text: str, m: re.Match, stop: int) -> Parsed:
    """``<｜DSML｜tool_calls>``: V3.2's DSML invokes in a block named ``tool_calls``."""
    closing = rx(rf"</{_DSML}tool_calls>").search(text, m.end(), stop)
    inner, end = (closing.start(), closing.end()) if closing else (stop, stop)
    return "deepseek-v4", _invokes(text[m.end():inner], _DSML, _string_attribute("false")), end


def gigachat(text: str, m: re.Match, stop: int) -> Parsed:
    inner, end = block(text, m.end(), stop, ("</\uff5cGCML\uff5ctool_calls>",))
    return "gigachat", _invokes(text[m.end():inner], "\uff5cGCML\uff5c", _string_attribute("true")), end


def muse_glimmer(text: str, m: re.Match, stop: int) -> Parsed:
    inner, end = block(text, m.end(), stop, ("</atem:function_calls>",))
    body = text[m.start():inner]
    calls = _invokes(body, "atem:", _json_value, name=r'"([^"]+)"[^>]*?')
    for call in calls:  # a special token fumbled into the name (Ollama's tests: name="read<|message|>")
        call["name"] = rx(r"<\|[a-z_]+\|>").sub("", call["name"])
    return "muse-glimmer", calls, end


def dots(text: str, m: re.Match, stop: int) -> Parsed:
    inner, end = block(text, m.end(), stop, ("</dots_function_call>",))
    body = text[m.end():inner].strip()
    if body.startswith("<invoke"):
        calls = _invokes(body, "", lambda raw, _: json_or_text(raw.strip()), name=r"\"?([^\">]+?)\"?")
    else:
        obj = json_at(body, 0, len(body))[0]
        name = obj.get("name") if isinstance(obj, dict) else None
        calls = [{"name": name, "arguments": obj.get("arguments", obj.get("parameters", {}))}] if name else []
    return "dots", calls, end


_STEP_SEP = rf"<{_BAR}tool_sep{_BAR}>"
_STEP_INVOKE = r'<steptml:invoke name="([^"]+)">'
_STEP_PARAMETER = r'<steptml:parameter name="([^"]+)">([^<]*)</steptml:parameter>'


def step3(text: str, m: re.Match, stop: int) -> Parsed:
    """``<｜tool_calls_begin｜><｜tool_call_begin｜>function<｜tool_sep｜><steptml:invoke …>…``; a bare
    ``<steptml:invoke`` too."""
    closing = rx(rf"<{_BAR}tool_calls_end{_BAR}>").search(text, m.end(), stop)
    inner, end = (closing.start(), closing.end()) if closing else (stop, stop)
    body = text[m.start():inner]
    calls = []
    for invoke in rx(_STEP_INVOKE).finditer(body):
        after = body[invoke.end():]
        close = after.find("</steptml:invoke>")
        params = after if close == -1 else after[:close]
        calls.append({"name": invoke.group(1), "arguments": {
            k: json_or_text(v.strip()) for k, v in rx(_STEP_PARAMETER).findall(params)}})
    if m.group().startswith("<steptml:") and not closing:
        close = text.find("</steptml:invoke>", m.end(), stop)
        end = close + len("</steptml:invoke>") if close != -1 else stop
        closing_token = rx(rf"\s*<{_BAR}tool_call_end{_BAR}>").match(text, end, stop)
        end = closing_token.end() if closing_token else end
    return "step3", calls, end


# --- MiniCPM5 -------------------------------------------------------------------------------------------

# "\u0120" is the byte-level tokenizers' space, left in when the tokens are not decoded.
_MINICPM_NAME = r"<function[\s\u0120]*name=['\"]([^'\"]+)['\"][^>]*>"
_MINICPM_PARAM = r"<param[\s\u0120]*name=['\"]([^'\"]+)['\"]>(.*?)</param>"


def minicpm5(text: str, m: re.Match, stop: int) -> Parsed:
    inner, end = block(text, m.end(), stop, ("</function>",))
    head = rx(_MINICPM_NAME).match(text, m.start(), inner)
    if head is None:
        return "minicpm5", [], end
    arguments = {}
    for p in rx(_MINICPM_PARAM, re.S).finditer(text, head.end(), inner):
        raw = p.group(2)
        if raw.startswith("<![CDATA[") and raw.endswith("]]>"):
            raw = raw[9:-3]
        arguments[p.group(1).strip()] = literal_or_text(raw)
    return "minicpm5", [{"name": head.group(1).strip(), "arguments": arguments}], end


# --- MiniMax-M3 -------------------------------------------------------------------------------------

NS = "]<]minimax[>["


def minimax_m3(text: str, m: re.Match, stop: int) -> Parsed:
    closing = rx(re.escape(NS) + r"\s*</tool_call>").search(text, m.end(), stop)
    inner, end = (closing.start(), closing.end()) if closing else (stop, stop)
    body = rx(re.escape(NS) + r"[ \t\r\n]+(?=<)").sub(NS, text[m.end():inner])
    calls = []
    for invoke in rx(re.escape(NS) + r'<invoke name="([^"]*)">(.*?)(?:' + re.escape(NS) + r"</invoke>|\Z)",
                     re.S).finditer(body):
        calls.append({"name": invoke.group(1), "arguments": _m3_elements(invoke.group(2))})
    return "minimax-m3", calls, end


def _m3_elements(body: str) -> Any:
    """Elements named after the arguments; nested elements make objects, repeated ones lists."""
    root: dict = {}
    stack: list[tuple[str, Any]] = [("", root)]
    for chunk in body.split(NS):
        chunk = chunk.strip()
        if chunk.startswith("</"):
            if len(stack) > 1:
                tag, value = stack.pop()
                _assign(stack[-1][1], tag, value)
        elif chunk.startswith("<") and ">" in chunk:
            gt = chunk.index(">")
            tag, rest = chunk[1:gt].strip(), chunk[gt + 1:]
            stack.append((tag, json_or_text(rest) if rest else {}))
    while len(stack) > 1:  # cut off: keep what was read
        tag, value = stack.pop()
        _assign(stack[-1][1], tag, value)
    return root


def _assign(parent: Any, tag: str, value: Any) -> None:
    if not isinstance(parent, dict):
        return
    if tag in parent:
        existing = parent[tag]
        parent[tag] = existing + [value] if isinstance(existing, list) else [existing, value]
    else:
        parent[tag] = value


# --- Kimi K3 (XTML) ---------------------------------------------------------------------------------

_K3_CLOSE_TOOLS = r"<\|close\|>\s*tools\s*<\|sep\|>"
_K3_CALL = r"<\|open\|>\s*call\s+((?:(?!<\|sep\|>).)*?)<\|sep\|>(.*?)(?:<\|close\|>\s*call\s*<\|sep\|>|\Z)"
_K3_ARGUMENT = r"<\|open\|>\s*argument\s+((?:(?!<\|sep\|>).)*?)<\|sep\|>(.*?)<\|close\|>\s*argument\s*<\|sep\|>"
_ATTRIBUTE = r'(\w+)="([^"]*)"'


def kimi_k3(text: str, m: re.Match, stop: int) -> Parsed:
    closing = rx(_K3_CLOSE_TOOLS).search(text, m.end(), stop)
    inner, end = (closing.start(), closing.end()) if closing else (stop, stop)
    calls = []
    for call in rx(_K3_CALL, re.S).finditer(text, m.end(), inner):
        attrs = {k: unescape_attribute(v) for k, v in rx(_ATTRIBUTE).findall(call.group(1))}
        arguments = {}
        for argument in rx(_K3_ARGUMENT, re.S).finditer(call.group(2)):
            arg = {k: unescape_attribute(v) for k, v in rx(_ATTRIBUTE).findall(argument.group(1))}
            raw = argument.group(2)
            if arg.get("type", "string") == "string":
                arguments[arg.get("key", "")] = raw
            else:
                try:
                    arguments[arg.get("key", "")] = json.loads(raw)
                except (ValueError, RecursionError):
                    arguments[arg.get("key", "")] = raw
        if attrs.get("tool"):
            calls.append({"name": attrs["tool"], "arguments": arguments})
    return "kimi-k3", calls, end


# --- beam ---------------------------------------------------------------------------------------------

_BEAM_HEADER = (r"(?:<\|start\|>\s*assistant\s*)?to=([^\s<]+)\s*<\|channel\|>\s*analysis"
                r"(?:\s*<\|constrain\|>\s*xml)?\s*<\|message\|>\s*")
_BEAM_PARAMETER = r'<rfl:parameter name="([^"]+)">(.*?)(?:</rfl:parameter>|\Z)'


def beam(text: str, m: re.Match, stop: int, floor: int = 0) -> Parsed:
    """From the first ``<rfl:parameter`` (``m``) to ``<|call|>``/``<|end|>``; the channel header
    before it, when there is one, names the call and starts the span."""
    start, name = m.start(), None
    window = max(floor, m.start() - 512)
    to = text.rfind("to=", window, m.start())
    if to != -1:
        header = rx(_BEAM_HEADER).match(text, to, m.start())
        if header and header.end() == m.start():
            name, start = header.group(1), to
            opened = text.rfind("<|start|>", window, to)
            if opened != -1 and rx(r"<\|start\|>\s*assistant\s*$").match(text, opened, to):
                start = opened
    inner, end = block(text, m.start(), stop, ("<|call|>", "<|end|>"))
    arguments = {p.group(1): p.group(2) for p in rx(_BEAM_PARAMETER, re.S).finditer(text, m.start(), inner)}
    return "beam", [{"name": name, "arguments": arguments}] if name else [], end, start


def beam_after_header(text: str, pos: int, stop: int) -> bool:
    """Whether a Harmony header ending at ``pos`` is followed by beam's XML parameters."""
    return text.startswith("<rfl:parameter", skip_ws(text, pos, stop))
