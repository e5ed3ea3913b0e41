"""Amazon Bedrock Agents Runtime: ``InvokeAgent`` (``/agents/{id}/agentAliases/{alias}/sessions/{id}/text``)
and ``InvokeInlineAgent`` (``/agents/{sessionId}``) event streams, as AWS event-stream frames
(``aws-eventstream``), one ``{event-type: payload}`` chunk per frame.

Events:
- ``chunk`` ``{bytes, attribution: {citations}}``: a piece of the answer; ``bytes`` is base64 of
  **plain text** (not a provider's JSON event, as InvokeModel's chunks are); raw bytes or text
  when an SDK dump decoded it;
- ``trace`` ``{agentId, agentAliasId, sessionId, eventTime, callerChain, trace: {orchestrationTrace
  | preProcessingTrace | postProcessingTrace | routingClassifierTrace | guardrailTrace |
  failureTrace | customOrchestrationTrace: {…}}}``: what the agent did — the model's
  ``rationale``, ``invocationInput`` (``actionGroupInvocationInput``: an action group the agent ran
  itself, ``knowledgeBaseLookupInput``, ``agentCollaboratorInvocationInput``), ``observation``
  (their outputs, ``finalResponse``, ``type`` FINISH / ASK_USER / …), ``modelInvocationInput`` and
  ``modelInvocationOutput`` (``metadata.usage`` of each model call);
- ``returnControl`` ``{invocationId, invocationInputs: [{functionInvocationInput | apiInvocationInput}]}``:
  the agent hands an action group's call to the client;
- ``files``; exceptions (``throttlingException``, …): errors in the stream.

Read as: content = the chunks' text joined; reasoning = the rationales, one per line; tool calls =
the action groups the agent invoked (``"server": true``: Bedrock ran them) and the ``returnControl``
calls (the client's to run, ``"server"`` absent), named by their function (``apiPath`` for an API
schema), arguments = their parameters as ``{name: value}`` (and ``requestBody``); usage = the sum
of the model invocations' ``inputTokens``/``outputTokens`` (each is one model call of the turn);
the model = the inline agent's ``foundationModel`` when a trace names it. The API sends no finish
event: the finish reason is the last orchestration observation's ``type`` when it is ``FINISH`` or
``ASK_USER`` (stop ``stop``), else null; a stream that ends whole is complete (as
``bedrock-retrieve``). A ``failureTrace`` is an error in the stream; a guardrail trace that
intervened is a content-filter result.

``reassemble`` prints ``{"completion": TEXT, "trace": [trace payloads in order]}``, plus
``returnControl``, ``files`` and ``citations`` when the stream had them.
"""

from __future__ import annotations

import base64
import binascii
import re
from typing import Any

from llmtrace.containers.aws_eventstream import BAD_FRAME, CUT_OFF
from llmtrace.dialects import FoldContext, as_dict, as_int, dump_arguments, feed, parse_arguments
from llmtrace.errors import ShapeError
from llmtrace.model import Delta, Message, Observations, Result, Timeline, ToolCall, Usage

NAMES = ("bedrock-agent",)
STOPS = {"FINISH": "stop", "ASK_USER": "stop"}
FINISH_REASONS = frozenset(STOPS)
_STEPS = ("preProcessingTrace", "orchestrationTrace", "postProcessingTrace", "routingClassifierTrace",
          "customOrchestrationTrace")
# InvokeAgent and InvokeInlineAgent (POST /agents/{sessionId}: no other agent-runtime path has one segment).
_PATH = re.compile(r"^/agents/[^/]+(?:/agentAliases/[^/]+/sessions/[^/]+/text)?/?$")


def dialect_of_path(path: str) -> str | None:
    return "bedrock-agent" if _PATH.search(path) else None


def sniff(payload: dict) -> str | None:
    if len(payload) != 1:
        return None
    key, value = next(iter(payload.items()))
    if not isinstance(value, dict):
        return None
    if key == "trace" and isinstance(value.get("trace"), dict):
        return "bedrock-agent"
    if key == "returnControl" and "invocationInputs" in value:
        return "bedrock-agent"
    if key == "chunk" and "bytes" in value and ("attribution" in value or not _holds_json(value["bytes"])):
        return "bedrock-agent"
    return None


def _holds_json(raw: Any) -> bool:
    """Whether a chunk's bytes hold a JSON object (InvokeModel's provider events) rather than text."""
    if isinstance(raw, dict):
        return True
    data = _decoded(raw)
    return data is None or data.lstrip()[:1] == b"{"


def _decoded(raw: Any) -> bytes | None:
    if isinstance(raw, (bytes, bytearray)):
        return bytes(raw)
    if isinstance(raw, str):
        try:
            return base64.b64decode(raw, validate=True)
        except (binascii.Error, ValueError):
            return None
    return None


def chunk_text(raw: Any) -> str:
    """The answer text a ``chunk`` carries: base64 text decoded, raw bytes decoded, text as it is
    (an SDK dump that decoded it already). Bytes that are not UTF-8 are replaced, never refused."""
    data = _decoded(raw)
    if data is None:
        if isinstance(raw, str):
            return raw
        raise ShapeError("chunk.bytes should be base64 text")
    return data.decode("utf-8", "replace")


class InvokeAgentFold:
    def __init__(self, ctx: FoldContext):
        self.ctx = ctx
        self.text: list[str] | None = None
        self.rationale: list[str] = []
        self.traces: list[Any] = []
        self.calls: list[ToolCall] = []
        self.extra: dict[str, Any] = {}
        self.citations: list[Any] = []
        self.usage = {"inputTokens": None, "outputTokens": None}
        self.model: str | None = None
        self.finish: str | None = None
        self.deltas: list[Delta] = []
        self.obs = Observations()
        self.broken = False

    def add(self, i: int, event: Any) -> None:
        if not isinstance(event, dict):
            raise ShapeError("event should be an object")
        for key, value in event.items():
            if key == "chunk":
                self._chunk(i, as_dict(value, "chunk", ""))
            elif key == "trace":
                self.traces.append(value)
                self._trace(i, as_dict(value, "trace", "").get("trace"))
            elif key == "returnControl":
                self._return_control(as_dict(value, "returnControl", ""))
            elif key == BAD_FRAME:
                self.broken = self.broken or bool(isinstance(value, dict) and value.get("fatal"))
            elif key == CUT_OFF:
                self.broken = True
            elif key.endswith("Exception") or key == "error":
                error = dict(value) if isinstance(value, dict) else {"message": value}
                error.setdefault("type", key)
                self.obs.stream_errors.append((i, error))
            else:  # ``files`` and events added later: kept in the reassembled response
                self.extra.setdefault(key, value)

    def _chunk(self, i: int, chunk: dict) -> None:
        text = chunk_text(chunk.get("bytes")) if chunk.get("bytes") is not None else ""
        if self.text is None:
            self.text = []
        self.text.append(text)
        if text:
            self.deltas.append(Delta(i, 0, "content", text))
        attribution = chunk.get("attribution")
        if isinstance(attribution, dict) and isinstance(attribution.get("citations"), list):
            self.citations.extend(attribution["citations"])

    def _trace(self, i: int, trace: Any) -> None:
        if not isinstance(trace, dict):
            return
        failure = trace.get("failureTrace")
        if isinstance(failure, dict):
            self.obs.stream_errors.append((i, {"type": "failureTrace", "message": failure.get("failureReason"),
                                                **failure}))
        guardrail = trace.get("guardrailTrace")
        if isinstance(guardrail, dict) and guardrail.get("action") == "INTERVENED":
            self.obs.filter_results.append({"guardrail": {"filtered": True, "action": "INTERVENED"}})
        for step in _STEPS:
            if isinstance(trace.get(step), dict):
                self._step(i, trace[step])

    def _step(self, i: int, step: dict) -> None:
        rationale = step.get("rationale")
        if isinstance(rationale, dict) and isinstance(rationale.get("text"), str):
            self.rationale.append(rationale["text"])
            self.deltas.append(Delta(i, 0, "reasoning", rationale["text"]))
        model_input = step.get("modelInvocationInput")
        if isinstance(model_input, dict) and isinstance(model_input.get("foundationModel"), str):
            self.model = self.model or model_input["foundationModel"]
        output = step.get("modelInvocationOutput")
        usage = as_dict(as_dict(output, "modelInvocationOutput", "").get("metadata"), "metadata", "").get("usage") \
            if isinstance(output, dict) else None
        if isinstance(usage, dict):
            for key in self.usage:
                count = as_int(usage.get(key))
                if count is not None:
                    self.usage[key] = (self.usage[key] or 0) + count
        invocation = step.get("invocationInput")
        if isinstance(invocation, dict) and isinstance(invocation.get("actionGroupInvocationInput"), dict):
            self.calls.append(_call(invocation["actionGroupInvocationInput"], invocation.get("traceId"), server=True))
        observation = step.get("observation")
        if isinstance(observation, dict) and observation.get("type") in STOPS:
            # Not a finish chunk: the answer's own chunks follow the observation that ends the orchestration.
            self.finish = observation["type"]

    def _return_control(self, value: dict) -> None:
        self.extra["returnControl"] = value
        for item in value.get("invocationInputs") or []:
            if not isinstance(item, dict):
                continue
            for key in ("functionInvocationInput", "apiInvocationInput"):
                if isinstance(item.get(key), dict):
                    self.calls.append(_call(item[key], value.get("invocationId"), server=False))

    def result(self, n_chunks: int) -> Result:
        text = "".join(self.text) if self.text is not None else None
        response: dict[str, Any] = {"completion": text or "", "trace": self.traces}
        if self.citations:
            response["citations"] = self.citations
        response.update(self.extra)
        message = Message(index=0, role="assistant", content=text, reasoning="\n".join(self.rationale) or None,
                          tool_calls=self.calls, finish_reason=self.finish, stop=STOPS.get(self.finish or ""))
        usage = Usage(input_tokens=self.usage["inputTokens"], output_tokens=self.usage["outputTokens"])
        return Result(response=response, model=self.model, choices=[message], usage=usage, complete=not self.broken,
                      observations=self.obs,
                      timeline=Timeline(chunks=n_chunks, deltas=self.deltas, times=self.ctx.chunk_times,
                                        timing="har" if self.ctx.chunk_times else "none"))


def _call(invocation: dict, call_id: Any, server: bool) -> ToolCall:
    """An action group's invocation: named by its function (or API path), its parameters as
    ``{name: value}`` (values as sent: the API sends them as text) and its request body."""
    args: dict[str, Any] = {}
    for param in invocation.get("parameters") or []:
        if isinstance(param, dict) and isinstance(param.get("name"), str):
            args[param["name"]] = param.get("value")
    if invocation.get("requestBody") is not None:
        args["requestBody"] = invocation["requestBody"]
    raw = dump_arguments(args)
    name = invocation.get("function") or invocation.get("apiPath")
    return ToolCall(id=call_id if isinstance(call_id, str) else None, name=name if isinstance(name, str) else None,
                    arguments=raw, parsed_arguments=parse_arguments(raw), server=server)


def fold(chunks: list, ctx: FoldContext) -> Result:
    state = InvokeAgentFold(ctx)
    feed(state, chunks)
    return state.result(len(chunks))


def fold_body(body: Any, ctx: FoldContext) -> Result:
    """One event as the whole body (a stream recorded as one object)."""
    return fold([body], ctx)


CONTENT_TYPE = "application/vnd.amazon.eventstream"


def encode(chunk: Any) -> bytes:
    """One event on the wire (for ``serve``): an AWS event-stream frame with valid CRCs."""
    from llmtrace.containers.aws_eventstream import encode as frames

    return frames([chunk])
