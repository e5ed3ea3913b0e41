"""Amazon Bedrock Knowledge Bases ``RetrieveAndGenerateStream``: a retrieval-augmented answer as
an AWS event stream (the ``aws-eventstream`` frames are read by the container).

Events: ``{"output": {"text"}}`` — a piece of the answer —, ``{"citation": {"citation":
{"generatedResponsePart": {"textResponsePart": {"text", "span"}}, "retrievedReferences": […]}}}``
— which part of the answer the retrieved passages support —, and ``{"guardrail": {"action"}}``
(``INTERVENED`` when a guardrail changed the answer). The API sends no finish event: the answer
ends with the stream, so a stream is complete when it ends whole (a cut last frame says
otherwise, as ``aws-eventstream`` marks it) and its finish reason is null — nothing is invented.

Reassembled output: the unstreamed ``RetrieveAndGenerate`` response, ``{"output": {"text"},
"citations": [...], "guardrailAction"?}`` (and the ``sessionId`` when a chunk carried one).
"""

from __future__ import annotations

from typing import Any

from llmtrace.dialects import FoldContext, as_dict, as_text, feed
from llmtrace.errors import ShapeError
from llmtrace.model import Delta, Message, Observations, Result, Timeline

NAMES = ("bedrock-retrieve",)
CONTENT_TYPE = "application/vnd.amazon.eventstream"


def sniff(payload: dict) -> str | None:
    if len(payload) == 1:
        if isinstance(payload.get("output"), dict) and "text" in payload["output"]:
            return "bedrock-retrieve"
        if isinstance(payload.get("citation"), dict) and "citation" in payload["citation"]:
            return "bedrock-retrieve"
    return None


class RetrieveFold:
    def __init__(self, ctx: FoldContext):
        self.ctx = ctx
        self.text: list[str] = []
        self.citations: list[Any] = []
        self.extra: dict[str, Any] = {}
        self.deltas: list[Delta] = []
        self.obs = Observations()
        self.cut = False

    def add(self, i: int, event: Any) -> None:
        if not isinstance(event, dict):
            raise ShapeError("event should be an object")
        if any(key.startswith(":") for key in event):  # a marker of a bad or cut frame
            self.cut = self.cut or ":cut-off" in event
            return
        output = event.get("output")
        if output is not None:
            text = as_text(as_dict(output, "output", "").get("text"), "output.text", "") or ""
            self.text.append(text)
            if text:
                self.deltas.append(Delta(i, 0, "content", text))
        citation = event.get("citation")
        if citation is not None:
            citation = as_dict(citation, "citation", "")
            self.citations.append(citation.get("citation", citation))
        guardrail = event.get("guardrail")
        if isinstance(guardrail, dict) and guardrail.get("action") is not None:
            self.extra["guardrailAction"] = guardrail["action"]
        if isinstance(event.get("sessionId"), str):
            self.extra["sessionId"] = event["sessionId"]
        for key, value in event.items():
            if key.endswith("Exception") or key == "error":
                self.obs.stream_errors.append((i, value))

    def result(self, n_chunks: int) -> Result:
        text = "".join(self.text)
        response = {"output": {"text": text}, "citations": self.citations, **self.extra}
        intervened = self.extra.get("guardrailAction") == "INTERVENED"
        if intervened:
            self.obs.filter_results.append({"guardrail": {"filtered": True, "action": "INTERVENED"}})
        message = Message(index=0, role="assistant", content=text if self.text else None,
                          finish_reason=None, stop=None)
        return Result(response=response, choices=[message], complete=not self.cut, observations=self.obs,
                      timeline=Timeline(chunks=n_chunks, deltas=self.deltas, times=self.ctx.chunk_times,
                                        timing="har" if self.ctx.chunk_times else "none"))


def fold(chunks: list, ctx: FoldContext) -> Result:
    state = RetrieveFold(ctx)
    feed(state, chunks)
    return state.result(len(chunks))


def fold_body(body: Any, ctx: FoldContext) -> Result:
    """The unstreamed ``RetrieveAndGenerate`` response."""
    if not isinstance(body, dict):
        raise ShapeError("response body should be an object", "response body")
    chunks = [{"output": body.get("output") or {"text": ""}}] + [{"citation": {"citation": c}}
                                                                  for c in body.get("citations") or []]
    return fold(chunks, ctx)


def encode(chunk: Any) -> bytes:
    """One event on the wire (for ``serve``): an AWS event-stream frame with valid CRCs."""
    from llmtrace.containers.aws_eventstream import encode as frames

    return frames([chunk])


def wants_stream(path: str, body: Any) -> bool | None:
    """Decided by the operation in the path (Bedrock Agent Runtime API: ``/retrieveAndGenerateStream``
    streams, ``/retrieveAndGenerate`` answers one body)."""
    if path.endswith("/retrieveAndGenerateStream"):
        return True
    return False if path.endswith("/retrieveAndGenerate") else None
