"""Websocket sessions recorded as message lists: realtime APIs (OpenAI Realtime GA and beta,
Azure OpenAI and Voice Live, xAI's voice API, Gemini Live) stored as
``interactions: [{kind, direction, data}]`` — pydantic-ai's realtime cassettes. ``kind`` is
``message`` (``data`` the JSON frame, ``direction`` ``sent`` by the client or ``received``) or
``close`` (``code``, ``reason``).

A session is split into exchanges, one per model response, in order:

- OpenAI-style frames (a ``type`` field): a response runs from ``response.created`` (or the
  first ``response.*`` frame) to its ``response.done``; every frame received in between is one
  of its chunks (``conversation.item.*`` frames the server interleaves included — they are part
  of the stream as it arrived).
- Gemini Live frames (``setup``, ``serverContent``, ``toolCall``, …): a response runs from the
  first ``serverContent`` or ``toolCall`` after the client spoke to ``serverContent.turnComplete``
  — or until the client speaks again, which is how a turn that ends in a tool call ends (the
  model waits for the ``tool_response``).

The request of an exchange is what the session had been told by then, in the provider's own
terms: OpenAI ``{model, instructions, tools, input: [conversation items sent], …}`` from the
session configuration (the server's ``session.created``/``session.updated`` view, else the
client's ``session.update``), Gemini ``{model, systemInstruction, tools, generationConfig,
contents}`` from ``setup`` and the turns sent. Spoken input appears as its transcript when the
server sent one (``[audio]`` otherwise); audio bytes are never kept in the request.

A ``close`` frame while a response is open cuts that response off there (1011 is a session
the server dropped): the exchange is kept and is flagged ``no-finish``. Frames outside any
response (``session.created``, pings, ``setupComplete``, …) are session bookkeeping, not
exchanges. Nothing here knows how to fold a response: the dialects (``openai-realtime``,
``gemini-live``) do that.
"""

from __future__ import annotations

from typing import Any

from llmtrace.errors import ShapeError
from llmtrace.model import Request, Response

NAME = "websocket"
MANY_EXCHANGES = True

_GEMINI_CLIENT = ("setup", "client_content", "clientContent", "realtime_input", "realtimeInput",
                  "tool_response", "toolResponse")
_GEMINI_TURN = ("serverContent", "toolCall", "toolCallCancellation")


def sniff(doc: Any) -> bool:
    """A list of websocket frames: every interaction has ``kind`` (or ``direction``) and no
    HTTP request or response."""
    if not isinstance(doc, dict):
        return False
    items = doc.get("interactions")
    if not isinstance(items, list) or not items:
        return False
    return all(isinstance(item, dict) and "request" not in item and "response" not in item
               and ("kind" in item or "direction" in item) for item in items)


def read(doc: Any) -> list[tuple[Request, Response]]:
    if not sniff(doc):
        raise ShapeError("not a websocket session (no list of {kind, direction, data} frames)")
    frames = doc["interactions"]
    gemini = any(isinstance(f.get("data"), dict) and any(k in f["data"] for k in _GEMINI_CLIENT + _GEMINI_TURN)
                 for f in frames[:50])
    session = _GeminiSession() if gemini else _OpenAISession()
    for n, frame in enumerate(frames):
        kind = frame.get("kind", "message")
        if kind == "close":
            session.close(frame)
            continue
        if kind != "message":
            continue  # pings at the protocol level, binary frames: nothing a response holds
        data = frame.get("data")
        if frame.get("direction") == "sent":
            session.sent(data)
        else:
            session.received(data, n)
    session.end()
    return session.exchanges


class _Session:
    """What both families share: the exchanges so far and the response being received."""

    def __init__(self) -> None:
        self.exchanges: list[tuple[Request, Response]] = []
        self.chunks: list[Any] | None = None  # the open response's frames
        self.model: str | None = None

    def request_body(self) -> dict:
        raise NotImplementedError

    def open(self) -> None:
        self.chunks = []
        self.body = self.request_body()

    def finish(self, cut_off: str | None = None) -> None:
        if self.chunks is None:
            return
        body = self.body
        model = body.get("model") if isinstance(body.get("model"), str) else None
        self.exchanges.append((Request(method=None, model=model, body=body),
                               Response(streaming=True, chunks=self.chunks, cut_off=cut_off)))
        self.chunks = None
        self.responded()

    def responded(self) -> None:
        """A response ended: what the client sends next belongs to the next request."""

    def close(self, frame: dict) -> None:
        code, reason = frame.get("code"), frame.get("reason")
        text = f"the websocket closed with code {code}" + (f" ({reason})" if isinstance(reason, str) and reason else "")
        self.finish(cut_off=text)

    def end(self) -> None:
        self.finish(cut_off="the recording ends before the response did")


class _OpenAISession(_Session):
    def __init__(self) -> None:
        super().__init__()
        self.config: dict = {}  # the session as the server last described it
        self.updates: dict = {}  # the client's session.update fields, for servers that never echo
        self.items: list[Any] = []  # conversation items the client sent since the last response
        self.history: list[Any] = []

    def request_body(self) -> dict:
        config = {**self.updates, **self.config}
        body: dict[str, Any] = {}
        for key in ("model", "instructions", "tools", "tool_choice", "voice", "temperature",
                    "max_output_tokens", "max_response_output_tokens", "output_modalities", "modalities"):
            if config.get(key) is not None:
                body[key] = config[key]
        body["input"] = self.history + self.items
        return body

    def responded(self) -> None:
        self.history.extend(self.items)
        self.items = []

    def sent(self, data: Any) -> None:
        if not isinstance(data, dict):
            return
        kind = data.get("type")
        if kind == "session.update" and isinstance(data.get("session"), dict):
            self.updates.update(data["session"])
        elif kind == "conversation.item.create" and isinstance(data.get("item"), dict):
            self.items.append(data["item"])
        elif kind == "response.create" and isinstance(data.get("response"), dict):
            instructions = data["response"].get("instructions")
            if isinstance(instructions, str):
                self.updates["instructions"] = instructions

    def received(self, data: Any, n: int) -> None:
        if not isinstance(data, dict):
            if self.chunks is not None:
                self.chunks.append(data)
            return
        kind = data.get("type")
        if not isinstance(kind, str):
            if isinstance(data.get("session"), dict) and self.chunks is None:
                self.config.update(data["session"])  # xAI echoes the session without a type
            elif self.chunks is not None:
                self.chunks.append(data)
            return
        if kind in ("session.created", "session.updated") and isinstance(data.get("session"), dict):
            self.config.update(data["session"])
        elif kind == "conversation.item.input_audio_transcription.completed" and self.chunks is None:
            transcript = data.get("transcript")
            if isinstance(transcript, str):
                self.items.append({"type": "message", "role": "user",
                                   "content": [{"type": "input_audio", "transcript": transcript,
                                                "text": f"[audio] {transcript}"}]})
        if self.chunks is None:
            if not kind.startswith("response.") and kind != "error":
                return
            self.open()  # an error outside a response answers the request too: its own exchange
        self.chunks.append(data)
        if kind == "response.done" or kind == "error" and len(self.chunks) == 1:
            self.finish()


class _GeminiSession(_Session):
    def __init__(self) -> None:
        super().__init__()
        self.setup: dict = {}
        self.contents: list[dict] = []
        self.heard: dict | None = None  # the user turn a transcript is being added to

    def request_body(self) -> dict:
        body: dict[str, Any] = {}
        for key in ("model", "systemInstruction", "system_instruction", "tools", "generationConfig",
                    "generation_config"):
            if self.setup.get(key) is not None:
                body[key] = self.setup[key]
        body["contents"] = list(self.contents)
        return body

    def sent(self, data: Any) -> None:
        if not isinstance(data, dict):
            return
        if self.chunks is not None:
            self.finish()  # the client speaks: the model's turn (a tool call) is over
        self.heard = None
        setup = data.get("setup")
        if isinstance(setup, dict):
            self.setup = setup
        content = data.get("client_content") or data.get("clientContent")
        if isinstance(content, dict):
            for turn in content.get("turns") or []:
                if isinstance(turn, dict):
                    self.contents.append(turn)
        response = data.get("tool_response") or data.get("toolResponse")
        if isinstance(response, dict):
            parts = [{"functionResponse": r} for r in response.get("functionResponses") or []
                     if isinstance(r, dict)]
            self.contents.append({"role": "user", "parts": parts})
        audio = data.get("realtime_input") or data.get("realtimeInput")
        if isinstance(audio, dict) and audio.get("text") is not None:
            self.contents.append({"role": "user", "parts": [{"text": audio["text"]}]})

    def received(self, data: Any, n: int) -> None:
        if not isinstance(data, dict):
            if self.chunks is not None:
                self.chunks.append(data)
            return
        content = data.get("serverContent")
        if isinstance(content, dict) and isinstance(content.get("inputTranscription"), dict):
            text = content["inputTranscription"].get("text")
            if isinstance(text, str) and text:
                self._heard(text)
        if self.chunks is None:
            if not any(k in data for k in _GEMINI_TURN):
                return
            self.open()
        self.chunks.append(data)
        if isinstance(content, dict) and content.get("turnComplete"):
            self.finish()

    def _heard(self, text: str) -> None:
        """The transcript of what the user said, as it arrives, as a user turn of the request."""
        if self.heard is not None:
            self.heard["parts"][0]["text"] += text
        else:
            self.heard = {"role": "user", "parts": [{"text": text}]}
            self.contents.append(self.heard)
