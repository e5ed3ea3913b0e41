"""Markup built of special tokens around a name and JSON arguments:

- DeepSeek V3/R1: ``<｜tool▁calls▁begin｜><｜tool▁call▁begin｜>function<｜tool▁sep｜>NAME`` then the
  arguments in a ```json fence; V3.1: ``<｜tool▁call▁begin｜>NAME<｜tool▁sep｜>{…}``; the calls end
  with ``<｜tool▁call▁end｜>``, the section with ``<｜tool▁calls▁end｜>``;
- Kimi K2: ``<|tool_calls_section_begin|><|tool_call_begin|>functions.NAME:0
  <|tool_call_argument_begin|>{…}<|tool_call_end|>…<|tool_calls_section_end|>``;
- gpt-oss Harmony: ``<|channel|>commentary to=functions.NAME <|constrain|>json<|message|>{…}<|call|>``,
  also with its special tokens stripped (``…assistantcommentary to=functions.NAME json{…}``).
"""

from __future__ import annotations

import re

from llmtrace.anomalies.tool_text.reading import block, json_at, rx, skip_ws
from llmtrace.anomalies.tool_text.xml_tags import beam, beam_after_header

_BAR = "[|\uff5c]"
_DS_CALL = rf"<{_BAR}tool▁call▁begin{_BAR}>(.*?)(?:<{_BAR}tool▁call▁end{_BAR}>|\Z)"
_DS_SEP = rf"<{_BAR}tool▁sep{_BAR}>"
_DS_END = rf"<{_BAR}tool▁calls▁end{_BAR}>"


def deepseek(text: str, m: re.Match, stop: int) -> tuple:
    closing = rx(_DS_END).search(text, m.end(), stop)
    inner, end = (closing.start(), closing.end()) if closing else (stop, stop)
    calls, family = [], "deepseek"
    for call in rx(_DS_CALL, re.S).finditer(text, m.start(), inner):
        parts = rx(_DS_SEP).split(call.group(1), maxsplit=1)
        if len(parts) != 2:
            continue
        left, right = parts[0].strip(), parts[1]
        if left in ("function", ""):  # V3/R1: function<sep>NAME\n```json\n{...}\n```
            name, _, right = right.partition("\n")
        else:  # V3.1: NAME<sep>{...}
            name, family = left, "deepseek-v3.1"
        brace = right.find("{")
        value = json_at(right, brace, len(right))[0] if brace != -1 else None
        calls.append({"name": name.strip(), "arguments": value})
    return family, calls, end


# A call ends at its end token, or (llama.cpp's tests: calls inside a thinking block) where the next begins.
_DS_FRAGMENT = r"function<[|\uff5c]tool▁sep[|\uff5c]>\s*([A-Za-z_][\w.\-]*)\s*```json\s*"


def deepseek_fragment(text: str, m: re.Match, stop: int) -> tuple | None:
    """``function<｜tool▁sep｜>NAME`` + a ```json fence, without the begin tokens around it (the
    call's inside, as Ollama's Cogito parser reads it): only with the JSON object and its fence."""
    head = rx(_DS_FRAGMENT).match(text, m.start(), stop)
    if head is None:
        return None
    value, end = json_at(text, head.end(), stop)
    close = skip_ws(text, end, stop)
    if not isinstance(value, dict) or not text.startswith("```", close):
        return None
    end = close + 3
    tail = rx(rf"\s*<{_BAR}tool▁call▁end{_BAR}>(?:\s*<{_BAR}tool▁calls▁end{_BAR}>)?").match(text, end, stop)
    return "deepseek", [{"name": head.group(1), "arguments": value}], tail.end() if tail else end


_KIMI_CALL = (r"<\|tool_call_begin\|>\s*(.*?)\s*<\|tool_call_argument_begin\|>(.*?)"
              r"(?:<\|tool_call_end\|>|(?=<\|tool_call_begin\|>)|\Z)")
_KIMI_ID = r"^(?:functions\.)?(.*?)(?::\d+)?$"


def kimi_k2(text: str, m: re.Match, stop: int) -> tuple:
    inner, end = block(text, m.end(), stop, ("<|tool_calls_section_end|>",))
    calls = []
    for call in rx(_KIMI_CALL, re.S).finditer(text, m.start(), inner):
        body = call.group(2)
        calls.append({"name": rx(_KIMI_ID).match(call.group(1)).group(1),
                      "arguments": json_at(body, 0, len(body))[0]})
    return "kimi-k2", calls, end


_HARMONY_NAME = r"([\w.\-]+?)(?=\s|<\||json\{|\{|$)"
_HARMONY_GAP = r"(?:\s|<\|channel\|>|commentary|analysis|<\|constrain\|>|json|xml|<\|message\|>)*"
# What may stand before "to=": the channel header, with or without its special tokens.
_HARMONY_HEAD = (r"(?:(?:<\|start\|>\s*)?assistant\s*)?(?:<\|channel\|>\s*)?(?:commentary|analysis)?\s*$")


def harmony(text: str, m: re.Match, stop: int, floor: int = 0) -> tuple:
    """``m`` matched ``to=functions.``; the header before it starts the span."""
    start = _header_start(text, m.start(), floor)
    name = rx(_HARMONY_NAME).match(text, m.end(), stop)
    if name is None:
        return "harmony", [], m.end(), start
    gap = rx(_HARMONY_GAP).match(text, name.end(), stop)
    if beam_after_header(text, gap.end(), stop):  # beam's XML parameters under a Harmony header
        _, calls, end, _ = beam(text, rx(r"<rfl:parameter").search(text, gap.end(), stop), stop)
        arguments = calls[0]["arguments"] if calls else {}
        return "beam", [{"name": name.group(1), "arguments": arguments}], end, start
    value, end = json_at(text, gap.end(), stop)
    if value is None:
        end = gap.end()
    after = skip_ws(text, end, stop)
    if text.startswith("<|call|>", after):
        end = after + len("<|call|>")
    return "harmony", [{"name": name.group(1), "arguments": value}], end, start


def _header_start(text: str, pos: int, floor: int) -> int:
    window = max(floor, pos - 64)
    head = rx(_HARMONY_HEAD).search(text, window, pos)
    if head is None or not head.group().strip():
        return pos
    return head.start() + len(head.group()) - len(head.group().lstrip())
