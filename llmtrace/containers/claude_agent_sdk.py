"""Claude Agent SDK transcripts: the Claude Code CLI's stream-json protocol as an SDK test
harness records it (pydantic/logfire's fixtures), ``{"metadata": {…}, "messages":
[{"direction": "send"|"recv", "message": {"type": …, …}}]}``.

Message types: ``control_request``/``control_response``/``control_cancel_request`` (protocol
housekeeping: initialisation, hook callbacks), ``system`` (the session's ``init``),
``stream_event`` (partial messages, when asked for: the finished ``assistant`` messages repeat
what they say, so they are not read), ``user`` (``message: {role, content}``), ``assistant``
(``message``: one Anthropic message, or one block of it — the CLI sends each content block of
an API response as an ``assistant`` message of its own, under the same message id) and
``result`` (the end of a turn: ``subtype``, ``is_error``, ``num_turns``, ``usage``,
``result`` text, ``stop_reason``, ``duration_ms``, ``total_cost_usd``).

One exchange per turn: a ``user`` message sent, up to and including the ``result`` received.
Tool results going back to the model (``user`` messages whose content holds ``tool_result``
blocks, which the CLI echoes as received) belong to the turn, as do the several API calls
the agent makes in it. The request is the user message as an Anthropic Messages request (the
model from the turn's assistant messages); the response is the turn's assistant messages as
one unstreamed Anthropic message (the request's URL is the Messages API's path, ``/v1/messages``,
which the CLI calls; no host is recorded): their content blocks in order (``tool_use`` blocks are the
tool calls), ``usage`` from the ``result`` (what the whole turn used) else the last assistant
message, ``stop_reason`` from the ``result``. Subagent messages (``parent_tool_use_id`` set)
are not part of the turn's answer. A ``result`` with ``is_error`` is a recorded error, and a
turn the recording ends before its ``result`` is kept, marked cut off. Nothing is streamed
here: the fidelity is ``final-text``.
"""

from __future__ import annotations

from typing import Any

from llmtrace.errors import ShapeError, expect
from llmtrace.model import Request, Response
from llmtrace.secrets import mask_text

NAME = "claude-agent-sdk"
MANY_EXCHANGES = True

TYPES = frozenset(("control_request", "control_response", "control_cancel_request", "system",
                   "stream_event", "user", "assistant", "result"))
_DIRECTIONS = ("send", "recv")
# Where the CLI asks the model (the Messages API; the host is not recorded): what tells a turn
# that ended in error, and so has no answer to read the dialect from, as anthropic-messages.
MESSAGES_PATH = "/v1/messages"


def sniff(doc: Any) -> bool:
    """A ``messages`` list of ``{direction: send|recv, message: {type, …}}`` with every type
    one the stream-json protocol has, and at least one user, assistant or result message."""
    if not isinstance(doc, dict):
        return False
    items = doc.get("messages")
    if not isinstance(items, list) or not items:
        return False
    spoken = False
    for item in items:
        if not isinstance(item, dict) or item.get("direction") not in _DIRECTIONS:
            return False
        message = item.get("message")
        if not isinstance(message, dict) or message.get("type") not in TYPES:
            return False
        spoken = spoken or message["type"] in ("user", "assistant", "result")
    return spoken


def read(doc: Any) -> list[tuple[Request, Response]]:
    if not sniff(doc):
        raise ShapeError("not a Claude Agent SDK transcript (no list of {direction, message} with stream-json types)")
    turns: list[_Turn] = []
    turn: _Turn | None = None
    for n, item in enumerate(doc["messages"]):
        message = item["message"]
        kind = message["type"]
        where = f"messages[{n}].message"
        if kind == "user":
            inner = expect(message.get("message"), dict, "a user message's \"message\"", where)
            if turn is None or not _tool_results(inner.get("content")):
                turn = _Turn(inner)
                turns.append(turn)
        elif kind == "assistant":
            inner = expect(message.get("message"), dict, "an assistant message's \"message\"", where)
            if message.get("parent_tool_use_id") is not None:
                continue  # a subagent speaking: not the turn's answer
            if turn is None:
                turn = _Turn(None)
                turns.append(turn)
            turn.said(inner, f"{where}.message")
        elif kind == "result":
            if turn is None:
                turn = _Turn(None)
                turns.append(turn)
            turn.result = message
            turn = None
    return [t.pair() for t in turns]


def _tool_results(content: Any) -> bool:
    return isinstance(content, list) and any(isinstance(b, dict) and b.get("type") == "tool_result" for b in content)


class _Turn:
    __slots__ = ("asked", "blocks", "model", "id", "usage", "stop", "result")

    def __init__(self, asked: dict | None):
        self.asked = asked
        self.blocks: list[Any] = []
        self.model: str | None = None
        self.id: str | None = None
        self.usage: Any = None
        self.stop: Any = None
        self.result: dict | None = None

    def said(self, message: dict, where: str) -> None:
        content = message.get("content")
        if isinstance(content, str):
            content = [{"type": "text", "text": content}]
        self.blocks.extend(expect(content, list, "an assistant message's \"content\"", where))
        if isinstance(message.get("model"), str):
            self.model = message["model"]
        if self.id is None and isinstance(message.get("id"), str):
            self.id = message["id"]
        if message.get("usage") is not None:
            self.usage = message["usage"]
        if message.get("stop_reason") is not None:
            self.stop = message["stop_reason"]

    def pair(self) -> tuple[Request, Response]:
        body: dict[str, Any] = {}
        if self.model is not None:
            body["model"] = self.model
        if self.asked is not None:
            body["messages"] = [{"role": self.asked.get("role", "user"), "content": self.asked.get("content")}]
        result = self.result or {}
        answer: dict[str, Any] = {"type": "message", "role": "assistant"}
        if self.id is not None:
            answer["id"] = self.id
        if self.model is not None:
            answer["model"] = self.model
        answer["content"] = self.blocks
        answer["stop_reason"] = result.get("stop_reason", self.stop)
        usage = result.get("usage") if result.get("usage") is not None else self.usage
        if usage is not None:
            answer["usage"] = usage
        request = Request(method=None, url=MESSAGES_PATH, endpoint=MESSAGES_PATH, model=self.model, body=body)
        if result.get("is_error") is True:
            error = {key: result[key] for key in ("subtype", "result", "errors", "stop_reason") if key in result}
            return request, Response(streaming=False, body=answer, error=error, error_message=_error_text(result))
        cut_off = None if self.result is not None else "the recording ends before the turn's result"
        return request, Response(streaming=False, body=answer, cut_off=cut_off)


def _error_text(result: dict) -> str:
    said = result.get("result")
    errors = result.get("errors")
    if not isinstance(said, str) or not said:
        said = "; ".join(e for e in errors if isinstance(e, str)) if isinstance(errors, list) else ""
    subtype = result.get("subtype") if isinstance(result.get("subtype"), str) else "error"
    return mask_text(f"the agent's turn ended in error ({subtype})" + (f": {said}" if said else ""))
