"""Checks on the text of the reassembled choices: tool calls and reasoning written into content,
leaked special tokens, duplicated text, empty answers, refusals."""

from __future__ import annotations

import re
from operator import itemgetter
from typing import Iterator

from llmtrace.anomalies import check, finding
from llmtrace.anomalies.evidence import brief, call_summary, span_chunks
from llmtrace.anomalies.tool_text import (
    also, body_span, code_regions, explained, find_tool_calls, hint, in_regions, parsers,
)
from llmtrace.model import Anomaly, Exchange, Message, NormalizedRequest

# Tool names a prompt declares in text (a raw prompt's function list, Llama's JSON tool format).
_DECLARED_IN_PROMPT = re.compile(r'"name"\s*:\s*"([A-Za-z_][\w.\-]*)"')


def declared_names(request: NormalizedRequest) -> set[str]:
    """Tools the request declared: its structured tools, and the function definitions its
    messages spell out as JSON (raw prompts have no other way to declare them)."""
    names = set(request.tools)
    for message in request.messages:
        if '"name"' in message.content:
            names.update(_DECLARED_IN_PROMPT.findall(message.content))
    return names


def _texts(message: Message) -> Iterator[tuple[str, str]]:
    if message.content:
        yield "content", message.content
    if message.reasoning:
        yield "reasoning", message.reasoning


@check("tool-call-in-text", "warning")
def tool_call_in_text(exchange: Exchange) -> list[Anomaly]:
    """Tool-call markup in content or reasoning text instead of a structured call. Reasoning is read
    only when the choice has no structured call (a model that called its tool may think about the
    markup), and there a span introduced as an example or a format is not a call."""
    anomalies: list[Anomaly] = []
    request = exchange.normalized_request
    model = request.model or exchange.result.model  # tells apart families that share a markup
    declared = None
    for message in exchange.result.choices:
        for field, text in _texts(message):
            if field == "reasoning" and message.tool_calls:
                continue
            if declared is None:
                declared = declared_names(request)
            matches = find_tool_calls(text, declared, request.json_mode, model)
            if matches and field == "reasoning":
                matches = [m for m in matches if not explained(text, m.span[0])]
            elif matches and (thinking := reasoning_span(text)):  # reasoning left in the content
                lo, hi = thinking[1]
                matches = [m for m in matches if not (lo <= m.span[0] < hi and explained(text, m.span[0]))]
            if not matches:
                continue
            if request.raw_text or request.params.get("raw_prompting") is True:  # Cohere's raw prompts too
                severity, why = "info", "a raw text endpoint, where text is the only channel"
            elif message.tool_calls:
                severity, why = "warning", "beside structured tool calls"
            elif request.tools:
                severity, why = "error", "the request declared tools and no structured call came back"
            else:
                severity, why = "warning", "the request declared no tools"
            evidence = span_chunks(exchange, message.index, field, len(text), [m.span for m in matches])
            for match, chunks in zip(matches, evidence):
                what = call_summary(match.calls) if match.calls else "markup without a readable call"
                missing = hint(match.family)  # which server-side parser would have read it
                message_text = (f"tool call written as text in the {field} ({match.family}): {what}; {why}"
                                + (f"; {missing}" if missing else ""))
                anomalies.append(finding(exchange, "tool-call-in-text", message_text, severity=severity,
                                         choice=message.index, chunks=chunks, span=match.span,
                                         details={"family": match.family, "calls": match.calls, "field": field,
                                                  "parsers": parsers(match.family),
                                                  **({"also": others} if (others := also(match.family)) else {})}))
    return anomalies


# Reasoning markup in content: opening marker → closing marker.
_REASONING = (
    ("<think>", "</think>"),
    ("<reasoning>", "</reasoning>"),
    ("[THINK]", "[/THINK]"),
    ("<|channel|>analysis", "<|end|>"),
)
_REASONING_OPEN = re.compile("|".join(re.escape(o) for o, _ in _REASONING) + r"|</think>")
_CLOSING = dict(_REASONING)
# A text holding none of these has no reasoning markup (the cheap test before the patterns).
_REASONING_LITERALS = (*(opening for opening, _ in _REASONING), "</think>", "assistantfinal")
# Those that start with a bracket, looked for only in a text that holds one (found at memory speed).
_BRACKETED = tuple(literal for literal in _REASONING_LITERALS if literal[0] in "<[")
_UNBRACKETED = tuple(literal for literal in _REASONING_LITERALS if literal[0] not in "<[")
# gpt-oss Harmony with its special tokens stripped: "analysis…assistantfinal…".
_HARMONY_STRIPPED = re.compile(r"analysis\S.*?assistantfinal", re.S)


def reasoning_span(text: str) -> tuple[str, tuple[int, int]] | None:
    """The reasoning markup in content: (marker, span from the first marker to the last closing
    one, or to the end when it is never closed); markers inside code samples do not count."""
    if not (any(literal in text for literal in _UNBRACKETED)
            or (("<" in text or "[" in text) and any(literal in text for literal in _BRACKETED))):
        return None
    start, end = body_span(text)
    harmony = _HARMONY_STRIPPED.match(text, start, end)
    if harmony:
        return "analysis…assistantfinal", harmony.span()
    code = None  # the code regions, found when a first marker needs them
    for m in _REASONING_OPEN.finditer(text, start, end):
        if code is None:
            code = code_regions(text, start, end)
        if in_regions(code, m.start()):
            continue
        marker = m.group()
        if marker == "</think>":  # the opening tag went into the prompt: everything before is reasoning
            return marker, (start, m.end())
        closing = text.rfind(_CLOSING[marker], m.end(), end)
        return marker, (m.start(), closing + len(_CLOSING[marker]) if closing != -1 else end)
    return None


@check("reasoning-in-content", "warning")
def reasoning_in_content(exchange: Exchange) -> list[Anomaly]:
    """Reasoning markup in content (<think>, <reasoning>, [THINK], Harmony analysis), or empty
    content with the answer left in the reasoning."""
    anomalies: list[Anomaly] = []
    for message in exchange.result.choices:
        content = message.content or ""
        found = reasoning_span(content) if content else None
        if found:
            marker, span = found
            chunks = span_chunks(exchange, message.index, "content", len(content), [span])[0]
            anomalies.append(finding(exchange, "reasoning-in-content", f"reasoning markup {marker} in the content",
                                     choice=message.index, chunks=chunks, span=span, details={"marker": marker}))
        elif (not content.strip() and message.reasoning and message.reasoning.strip()
              and not message.tool_calls and message.stop == "stop"):
            anomalies.append(finding(exchange, "reasoning-in-content", "the content is empty and the answer is left in "
                                     "the reasoning", choice=message.index, details={"reasoning_characters":
                                                                                      len(message.reasoning)}))
    return anomalies


# Special tokens that end turns or frame roles; in content they mean the server did not strip them.
CONTROL_TOKENS = (
    "<|eot_id|>", "<|eom_id|>", "<|start_header_id|>", "<|end_header_id|>", "<|begin_of_text|>",
    "<|end_of_text|>", "<|im_start|>", "<|im_end|>", "<|endoftext|>", "<|im_sep|>", "<|end|>", "<|return|>",
    "<|start|>", "<|endofprompt|>", "<|user|>", "<|assistant|>", "<|system|>", "<end_of_turn>",
    "<start_of_turn>", "<｜end▁of▁sentence｜>", "<｜begin▁of▁sentence｜>", "<｜User｜>", "<｜Assistant｜>",
    "<|start_of_role|>", "<|end_of_role|>", "<|END_OF_TURN_TOKEN|>", "<|START_OF_TURN_TOKEN|>", "[INST]",
    "[/INST]",
)
_CONTROL = re.compile("|".join(re.escape(t) for t in CONTROL_TOKENS) + r"|</s>\s*\Z")
# Every control token starts with one of these: content without them is skipped cheaply, and
# content without their first characters (``<``, ``[``: found at memory speed) more cheaply still.
_CONTROL_HEADS = frozenset(token[:2] for token in (*CONTROL_TOKENS, "</s>"))
_CONTROL_FIRSTS = tuple(sorted({head[0] for head in _CONTROL_HEADS}))


@check("leaked-control-tokens", "warning")
def leaked_control_tokens(exchange: Exchange) -> list[Anomaly]:
    """Special tokens (<|eot_id|>, <|im_end|>, <｜end▁of▁sentence｜>, …) left in the content."""
    anomalies: list[Anomaly] = []
    for message in exchange.result.choices:
        content = message.content
        if (not content or not any(first in content for first in _CONTROL_FIRSTS)
                or not any(head in content for head in _CONTROL_HEADS)):
            continue
        code = code_regions(content, 0, len(content))
        spans = [m.span() for m in _CONTROL.finditer(content)
                 if not in_regions(code, m.start())]
        if not spans:
            continue
        tokens = sorted({content[a:b].strip() for a, b in spans})
        chunks = span_chunks(exchange, message.index, "content", len(content), spans)
        every = sorted({c for found in chunks if found for c in found})
        anomalies.append(finding(exchange, "leaked-control-tokens", f"special token{'s' if len(tokens) > 1 else ''} "
                                 f"{', '.join(tokens)} in the content ({len(spans)}×)", choice=message.index,
                                 chunks=every, span=spans[0], details={"tokens": tokens, "count": len(spans)}))
    return anomalies


# A repeat shorter than this is left alone ("ha" "ha", "no no").
_MIN_REPEAT = 32
_TEXT = itemgetter(3)  # Delta.text
_CHOICE = itemgetter(1)  # Delta.choice
_KIND = itemgetter(2)  # Delta.kind


def _by_field(deltas: list) -> dict[tuple[int, str], list]:
    """The deltas of each (choice, kind), in order; one text stream (the usual case) told in C
    (the first delta's choice and kind counted in the lists of them), without a loop."""
    if not deltas:
        return {}
    first = deltas[0]
    kinds, choices = list(map(_KIND, deltas)), list(map(_CHOICE, deltas))
    if kinds.count(first.kind) == len(kinds) and choices.count(first.choice) == len(choices):
        return {(first.choice, first.kind): deltas}
    groups: dict[tuple[int, str], list] = {}
    for delta in deltas:
        groups.setdefault((delta.choice, delta.kind), []).append(delta)
    return groups


def _resending(deltas: list, text: str) -> int | None:
    """The first delta, after two or more, as long as all the deltas before it together and
    equal to the start of ``text``. No delta is longer than the longest (found in C): the deltas
    after the running total passes it are not looked at (in a stream, a few)."""
    longest = max(map(len, map(_TEXT, deltas)))
    before = 0
    for n, delta in enumerate(deltas):
        if before > longest:
            return None
        size = len(delta.text)
        if size == before and n >= 2 and text.startswith(delta.text):
            return n
        before += size
    return None


@check("duplicated-content", "warning")
def duplicated_content(exchange: Exchange) -> list[Anomaly]:
    """A delta repeating everything before it, or a text made of two copies of itself."""
    anomalies: list[Anomaly] = []
    result = exchange.result
    texts = {(m.index, field): text for m in result.choices for field, text in _texts(m)}
    flagged: set[tuple[int, str]] = set()
    for key, deltas in _by_field(result.timeline.deltas).items():
        text = texts.get(key)
        if text is None or len(deltas) < 3:
            continue
        n = _resending(deltas, text)
        if n is not None:
            delta = deltas[n]
            size = len(delta.text)
            flagged.add(key)
            anomalies.append(finding(exchange, "duplicated-content", f"chunk {delta.chunk} resends the whole "
                                     f"{delta.kind} so far ({size} characters)", choice=delta.choice,
                                     chunks=[delta.chunk], span=(size, 2 * size), details={"field": delta.kind}))
    for (choice, field), text in texts.items():
        half = len(text) // 2
        if (choice, field) in flagged or len(text) % 2 or half < _MIN_REPEAT or text[:half] != text[half:]:
            continue
        chunks = span_chunks(exchange, choice, field, len(text), [(half, len(text))])[0]
        anomalies.append(finding(exchange, "duplicated-content",
                                 f"the {field} is two copies of the same {half} characters", choice=choice,
                                 chunks=chunks, span=(half, len(text)), details={"field": field}))
    return anomalies


@check("empty-response", "warning")
def empty_response(exchange: Exchange) -> list[Anomaly]:
    """Finished with no text, no tool call and no refusal."""
    anomalies: list[Anomaly] = []
    for message in exchange.result.choices:
        if message.finish_reason is None or message.stop in ("content_filter", "tool_calls"):
            continue  # unfinished, filtered or "tool_calls" without calls: other codes say so
        if any(t and t.strip() for t in (message.content, message.reasoning, message.refusal)) or message.tool_calls:
            continue
        anomalies.append(finding(exchange, "empty-response", f"finished ({message.finish_reason}) with no text, "
                                 "no tool call and no refusal", choice=message.index,
                                 details={"finish_reason": message.finish_reason}))
    return anomalies


@check("refusal", "info")
def refusal(exchange: Exchange) -> list[Anomaly]:
    """The model refused: refusal text, or a ``refusal`` stop reason."""
    anomalies: list[Anomaly] = []
    for message in exchange.result.choices:
        if message.refusal:
            chunks = span_chunks(exchange, message.index, "refusal", len(message.refusal),
                                 [(0, len(message.refusal))])[0]
            anomalies.append(finding(exchange, "refusal", f"refusal: {brief(message.refusal)}", choice=message.index,
                                     chunks=chunks, span=(0, len(message.refusal))))
        elif message.finish_reason == "refusal":
            anomalies.append(finding(exchange, "refusal", "the model stopped with a refusal", choice=message.index,
                                     details={"finish_reason": message.finish_reason}))
    return anomalies
