"""Websocket sessions recorded as message lists: realtime APIs (OpenAI Realtime GA and beta,
Azure OpenAI and Voice Live, xAI's voice API, OpenAI's Live sessions, Gemini Live, ElevenLabs
Agents) stored as ``interactions: [{kind, direction, data, at}]`` — pydantic-ai's realtime
cassettes. ``kind`` is ``message`` (``data`` the JSON frame, ``direction`` ``sent`` by the
client or ``received``) or ``close`` (``code``, ``reason``); ``at``, when recorded, is the
frame's time in seconds from the start of the session: the chunks' arrival times, and the time
the client last spoke before a response is its request start (so ``show`` gives a TTFT).

A session is split into exchanges, one per model response, in the order they began:

- OpenAI-style frames (a ``type`` field): a response runs from ``response.created`` (or the
  first ``response.*`` frame) to its ``response.done``; every frame received in between is one
  of its chunks (``conversation.item.*`` frames the server interleaves included — they are part
  of the stream as it arrived).
- OpenAI Live sessions (``session.start``, ``session.output_transcript.delta``, …; model
  ``gpt-live-1``) are full duplex: the voice model speaks while it listens and sends no
  response boundaries at all. A *voice turn* starts at its first output transcript delta and
  runs until the model speaks again after the session heard something new (an input
  transcript, a ``session.commentary.append`` from the client) or the session closes; the audio
  and session events in between are its chunks (audio streamed before the first words joins
  the first turn). A task the voice model delegates to a Responses API model arrives wrapped
  in ``response.event`` frames: each delegated response (``response.created`` … its
  ``response.completed``) is an exchange of its own, read as a Responses stream.
- Gemini Live frames (``setup``, ``serverContent``, ``toolCall``, …): a response runs from the
  first ``serverContent`` or ``toolCall`` after the client spoke to ``serverContent.turnComplete``
  — or until the client speaks again, which is how a turn that ends in a tool call ends (the
  model waits for the ``tool_response``).
- ElevenLabs Agents frames (``agent_chat_response_part``, ``agent_response``,
  ``client_tool_call``, ``audio``, …, each with its payload under ``<type>_event``): the
  server numbers the agent's turns with the payloads' ``event_id``, and the frames of one
  number are one response — except that a tool call the client answered (``client_tool_result``)
  ends its response, and what the agent says next under the same number is the next one. A
  correction (``agent_response_correction``, after a barge-in) joins the response it corrects
  (by ``response_id``), an ``interruption`` the response it cut off (the latest one before the
  number it carries), however late they come. Pings are bookkeeping.

The request of an exchange is what the session had been told by then, in the provider's own
terms: OpenAI ``{model, instructions, tools, input: [conversation items sent], …}`` from the
session configuration (the server's ``session.created``/``.updated``/``.started`` view, else the
client's ``session.update``/``session.start``); for a delegated response the delegate's
``{model, instructions, tools}`` and the items the client sent it (what the server itself passed
the delegate is not on the wire); Gemini ``{model, systemInstruction, tools, generationConfig,
contents}`` from ``setup`` and the turns sent; ElevenLabs the ``conversation_initiation_client_data``
sent, the agent prompt it overrides as ``system``, and the conversation so far as ``messages``
(user messages and transcripts, the agent's answers, its tool calls and their results). Spoken
input appears as its transcript when the server sent one (``[audio]`` otherwise); audio bytes
are never kept in the request. A request holds at most the ``HISTORY`` most recent items of the
conversation: each response of a long session carrying all that came before would make
reading it quadratic (2,000 responses: 24 s and 2.3 GiB); the earlier items are in the
earlier exchanges' requests.

A ``close`` frame while a response is open cuts that response off there (1011 is a session
the server dropped): the exchange is kept and is flagged ``no-finish``. Frames outside any
response (``session.created``, pings, ``setupComplete``, …) are session bookkeeping, not
exchanges. A session in which no response can be found at all is still never dropped: it is
one ``opaque`` exchange whose body is the whole session, so ``scan`` lists it and ``show``
shows it. Nothing here knows how to fold a response: the dialects (``openai-realtime``,
``gemini-live``, ``elevenlabs-agents``) do that.
"""

from __future__ import annotations

from typing import Any

from llmtrace.errors import ShapeError
from llmtrace.model import Request, Response

HISTORY = 128  # conversation items a response's request holds at most (the most recent)

NAME = "websocket"
MANY_EXCHANGES = True

_GEMINI_CLIENT = ("setup", "client_content", "clientContent", "realtime_input", "realtimeInput",
                  "tool_response", "toolResponse")
_GEMINI_TURN = ("serverContent", "toolCall", "toolCallCancellation")
# Frame types only ElevenLabs Agents sends (its others, ``audio``, ``ping``, ``interruption``, are
# too generic to tell the protocol by).
_ELEVENLABS = frozenset(("conversation_initiation_client_data", "conversation_initiation_metadata",
                         "agent_chat_response_part", "agent_response", "agent_response_correction",
                         "client_tool_call", "client_tool_result", "user_transcript", "agent_tool_response",
                         "internal_tentative_agent_response", "context_usage", "user_message"))
_CLOSED_NORMALLY = (1000, None)


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
    session = _session_for(frames)
    for n, frame in enumerate(frames):
        at = frame.get("at")
        session.at = float(at) if type(at) in (int, float) else None
        kind = frame.get("kind", "message")
        if kind == "close":
            session.close(frame)
            continue
        if kind != "message":
            continue  # pings at the protocol level, binary frames: nothing a response holds
        data = frame.get("data")
        if frame.get("direction") == "sent":
            if isinstance(data, dict):  # anything else the client sent asks nothing
                session.sent(data)
        elif isinstance(data, dict):
            session.received(data, n)
        elif session.current is not None:
            session.take(data)  # a frame that is no JSON object: kept in the response it came in
    session.end()
    endpoint = _endpoint(doc, session)
    pairs = [turn.pair(endpoint) for turn in session.turns]
    if not pairs:  # no response found: the session is kept whole, never dropped
        pairs = [(Request(method=None), Response(streaming=False, body={"interactions": frames}))]
    return pairs


def _session_for(frames: list) -> _Session:
    head = [f.get("data") for f in frames[:200] if isinstance(f.get("data"), dict)]
    if any(any(k in data for k in _GEMINI_CLIENT + _GEMINI_TURN) for data in head[:50]):
        return _GeminiSession()
    if any(isinstance(data.get("type"), str) and data["type"] in _ELEVENLABS for data in head):
        return _ElevenLabsSession()
    return _OpenAISession()


FAMILIES = {"openai": "openai-realtime", "gemini": "gemini-live", "elevenlabs": "elevenlabs-agents"}
# The protocols spoken on one path only: a session of theirs names its endpoint even when the file
# kept no URL (pydantic-ai's cassettes). OpenAI Realtime's frames are the same on OpenAI's and xAI's
# ``/v1/realtime``, Azure's ``/openai/realtime`` and Voice Live's ``/voice-live/realtime`` (the model
# cannot tell: an Azure deployment may be named ``gpt-realtime``), and Gemini Live's path holds an
# API version the frames do not say: those are left without one.
ELEVENLABS_PATH = "/v1/convai/conversation"
LIVE_PATH = "/v1/live/sessions"


def _endpoint(doc: dict, session: _Session) -> str | None:
    """The endpoint of a session whose protocol has one path: the path of the URL the file kept
    (``record``'s files), else that path."""
    if session.endpoint is None:
        return None
    url = doc.get("url")
    if isinstance(url, str) and url:
        from llmtrace.secrets import mask_url
        from llmtrace.urls import split_url

        return mask_url(split_url(url).path) or session.endpoint
    return session.endpoint


def family_of(frames: list) -> str:
    """The protocol a session speaks: ``openai`` (OpenAI, Azure, xAI realtime and Live),
    ``gemini`` (Gemini Live) or ``elevenlabs`` (ElevenLabs Agents); its dialect is
    ``FAMILIES[family]``."""
    session = _session_for(frames)
    return "gemini" if isinstance(session, _GeminiSession) else \
        "elevenlabs" if isinstance(session, _ElevenLabsSession) else "openai"


def opening_request(family: str, sent: dict) -> dict:
    """The request a session's first client frame makes (its ``session.update``, ``setup`` or
    ``conversation_initiation_client_data``), as an exchange of the session would carry it:
    what ``serve`` compares to choose the session that answers a connection."""
    session = {"gemini": _GeminiSession, "elevenlabs": _ElevenLabsSession}.get(family, _OpenAISession)()
    session.sent(sent)
    return session.request_body()


class _Turn:
    """One response as it was received: its request body, its frames and their times."""

    __slots__ = ("body", "chunks", "times", "cut_off", "started")

    def __init__(self, body: Any, started: float | None):
        self.body = body
        self.chunks: list[Any] = []
        self.times: list[float | None] = []
        self.cut_off: str | None = None
        self.started = started

    def add(self, data: Any, at: float | None) -> None:
        self.chunks.append(data)
        self.times.append(at)

    def pair(self, endpoint: str | None = None) -> tuple[Request, Response]:
        body = self.body
        model = body.get("model") if isinstance(body, dict) and isinstance(body.get("model"), str) else None
        timed = any(t is not None for t in self.times)
        return (Request(method=None, model=model, body=body, endpoint=endpoint),
                Response(streaming=True, chunks=self.chunks, cut_off=self.cut_off,
                         chunk_times=self.times if timed else None, chunk_timing="chunk-times" if timed else None,
                         timings={"started": self.started} if timed and self.started is not None else None))


def _closed(frame: dict) -> str:
    code, reason = frame.get("code"), frame.get("reason")
    return f"the websocket closed with code {code}" + (f" ({reason})" if isinstance(reason, str) and reason else "")


_RECORDING_ENDS = "the recording ends before the response did"


class _Session:
    """What every family shares: the responses so far (in the order they began), the one being
    received, and the time the client last spoke."""

    endpoint: str | None = None  # the one path the protocol is spoken on, if it has one

    def __init__(self) -> None:
        self.turns: list[_Turn] = []
        self.current: _Turn | None = None  # the open response
        self.at: float | None = None  # the time of the frame being read
        self.asked_at: float | None = None  # when the client last sent something

    def request_body(self) -> dict:
        raise NotImplementedError

    def sent(self, data: dict) -> None:
        raise NotImplementedError

    def received(self, data: dict, n: int) -> None:
        raise NotImplementedError

    def open(self) -> None:
        self.current = _Turn(self.request_body(), self.asked_at)
        self.turns.append(self.current)

    def take(self, data: Any) -> None:
        self.current.add(data, self.at)

    def finish(self, cut_off: str | None = None) -> None:
        if self.current is None:
            return
        self.current.cut_off = cut_off
        self.current = None
        self.responded()

    def responded(self) -> None:
        """A response ended: what the client sends next belongs to the next request."""

    def close(self, frame: dict) -> None:
        self.finish(cut_off=_closed(frame))

    def end(self) -> None:
        self.finish(cut_off=_RECORDING_ENDS)


class _OpenAISession(_Session):
    def __init__(self) -> None:
        super().__init__()
        self.config: dict = {}  # the session as the server last described it
        self.updates: dict = {}  # the client's session.update fields, for servers that never echo
        self.items: list[Any] = []  # conversation items the client sent since the last response
        self.history: list[Any] = []
        # OpenAI Live: the voice turn being spoken, frames received before its first words,
        # whether the session heard something new since it began, the open delegated responses
        # (by delegation id) and the items the client sent the delegate.
        self.voice: _Turn | None = None
        self.early: list[tuple[Any, float | None]] = []
        self.heard_new = False
        self.heard: dict | None = None  # the input transcript being added to
        self.delegated: dict[Any, _Turn] = {}
        self.delegate_items: list[Any] = []

    def request_body(self) -> dict:
        config = {**self.updates, **self.config}
        body: dict[str, Any] = {}
        for key in ("model", "instructions", "tools", "tool_choice", "voice", "temperature",
                    "max_output_tokens", "max_response_output_tokens", "output_modalities", "modalities",
                    "delegation"):
            if config.get(key) is not None:
                body[key] = config[key]
        earlier = max(0, HISTORY - len(self.items))
        body["input"] = ((self.history[-earlier:] if earlier else []) + self.items)[-HISTORY:]
        return body

    def responded(self) -> None:
        self.history.extend(self.items)
        self.items = []

    def sent(self, data: dict) -> None:
        self.asked_at = self.at
        kind = data.get("type")
        if kind == "session.start":
            self.endpoint = LIVE_PATH  # OpenAI Live: its sessions only
        if kind in ("session.update", "session.start") and isinstance(data.get("session"), dict):
            self.updates.update(data["session"])
        elif kind == "conversation.item.create" and isinstance(data.get("item"), dict):
            self.items.append(data["item"])
        elif kind == "response.create" and isinstance(data.get("response"), dict):
            instructions = data["response"].get("instructions")
            if isinstance(instructions, str):
                self.updates["instructions"] = instructions
        elif kind == "response.item.create" and isinstance(data.get("item"), dict):
            self.delegate_items.append(data["item"])  # Live: an item for the delegated model
        elif kind == "session.commentary.append" and isinstance(data.get("content"), str):
            # Live: text the app tells the voice model, beside what it hears
            self.items.append({"type": "message", "role": "developer",
                               "content": [{"type": "input_text", "text": data["content"]}]})
            self._new_input()

    def received(self, data: dict, n: int) -> None:
        kind = data.get("type")
        if not isinstance(kind, str):
            if isinstance(data.get("session"), dict) and self.current is None:
                self.config.update(data["session"])  # xAI echoes the session without a type
            elif self.current is not None:
                self.take(data)
            return
        if kind == "response.event":
            self._delegated(data)
            return
        if kind.startswith("session.") and kind not in ("session.created", "session.updated"):
            self._live(kind, data)
            return
        if kind in ("session.created", "session.updated") and isinstance(data.get("session"), dict):
            self.config.update(data["session"])
        elif kind == "conversation.item.input_audio_transcription.completed" and self.current is None:
            transcript = data.get("transcript")
            if isinstance(transcript, str):
                self.items.append({"type": "message", "role": "user",
                                   "content": [{"type": "input_audio", "transcript": transcript,
                                                "text": f"[audio] {transcript}"}]})
        if self.current is None:
            if not kind.startswith("response.") and kind != "error":
                return
            self.open()  # an error outside a response answers the request too: its own exchange
        self.take(data)
        if kind == "response.done" or kind == "error" and len(self.current.chunks) == 1:
            self.finish()

    # --- OpenAI Live -------------------------------------------------------------------------

    def _live(self, kind: str, data: dict) -> None:
        if kind == "session.started":
            self.endpoint = LIVE_PATH
            if isinstance(data.get("session"), dict):
                self.config.update(data["session"])
            return
        if kind == "session.input_transcript.delta":
            delta = data.get("delta")
            if isinstance(delta, str):
                self._heard(delta)
            self._new_input()
            return
        if kind == "session.output_transcript.delta":
            if self.voice is None or self.heard_new:
                self._speak()
            self.voice.add(data, self.at)
            return
        if self.voice is None:
            self.early.append((data, self.at))  # audio and events before the first words
        else:
            self.voice.add(data, self.at)

    def _new_input(self) -> None:
        if self.voice is not None:
            self.heard_new = True

    def _heard(self, text: str) -> None:
        """The transcript of what the user says, as it arrives, as a user item of the request."""
        if self.heard is None or not any(item is self.heard for item in self.items):
            self.heard = {"type": "message", "role": "user",
                          "content": [{"type": "input_audio", "transcript": "", "text": "[audio] "}]}
            self.items.append(self.heard)
        part = self.heard["content"][0]
        part["transcript"] += text
        part["text"] = f"[audio] {part['transcript']}"

    def _speak(self) -> None:
        """A new voice turn: what the session heard until now is its request."""
        self.voice = _Turn(self.request_body(), None)  # full duplex: no request start to count from
        self.turns.append(self.voice)
        for data, at in self.early:
            self.voice.add(data, at)
        self.early = []
        self.heard_new = False
        self.heard = None
        self.responded()

    def _delegated(self, data: dict) -> None:
        event = data.get("event")
        inner = event.get("type") if isinstance(event, dict) else None
        key = data.get("delegation_id")
        key = key if isinstance(key, (str, int)) else None
        turn = self.delegated.get(key)
        if turn is None or inner == "response.created":
            if turn is not None:
                turn.cut_off = "a new delegated response began before this one finished"
            # No request start: the client streams audio all along, and the voice model delegates.
            turn = self.delegated[key] = _Turn(self._delegate_body(), None)
            self.turns.append(turn)
            self.delegate_items = []
        turn.add(data, self.at)
        if inner in ("response.completed", "response.failed", "response.incomplete", "response.done"):
            del self.delegated[key]

    def _delegate_body(self) -> dict:
        config = {**self.updates, **self.config}
        delegation = config.get("delegation") if isinstance(config.get("delegation"), dict) else {}
        target = delegation.get(delegation.get("type")) if isinstance(delegation.get("type"), str) else None
        target = target if isinstance(target, dict) else {}
        body = {key: target[key] for key in ("model", "instructions", "tools", "tool_choice", "reasoning")
                if target.get(key) is not None}
        body["input"] = list(self.delegate_items)
        return body

    def close(self, frame: dict) -> None:
        text = _closed(frame)
        self.finish(cut_off=text)
        if self.voice is not None:
            self.voice.add(frame, self.at)  # the voice fold reads the close code (a voice turn never ends otherwise)
            if frame.get("code") not in _CLOSED_NORMALLY:
                self.voice.cut_off = text
            self.voice = None
        for turn in self.delegated.values():
            turn.cut_off = text
        self.delegated = {}

    def end(self) -> None:
        super().end()
        # A voice turn has no end event: one the recording stops in is not cut short by it.
        for turn in self.delegated.values():
            turn.cut_off = _RECORDING_ENDS


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
        body["contents"] = self.contents[-HISTORY:]
        return body

    def sent(self, data: dict) -> None:
        self.asked_at = self.at
        if self.current is not None:
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

    def received(self, data: dict, n: int) -> None:
        content = data.get("serverContent")
        if isinstance(content, dict) and isinstance(content.get("inputTranscription"), dict):
            text = content["inputTranscription"].get("text")
            if isinstance(text, str) and text:
                self._heard(text)
        if self.current is None:
            if not any(k in data for k in _GEMINI_TURN):
                return
            self.open()
        self.take(data)
        if isinstance(content, dict) and content.get("turnComplete"):
            self.finish()

    def _heard(self, text: str) -> None:
        """The transcript of what the user said, as it arrives, as a user turn of the request."""
        if self.heard is not None:
            self.heard["parts"][0]["text"] += text
        else:
            self.heard = {"role": "user", "parts": [{"text": text}]}
            self.contents.append(self.heard)


# ElevenLabs frames that are the agent speaking: the first of a turn number opens a response.
_AGENT_SPEAKS = frozenset(("agent_chat_response_part", "agent_response", "client_tool_call", "audio",
                           "internal_tentative_agent_response", "mcp_tool_call"))
_KEEPALIVE = frozenset(("ping", "pong", "vad_score", "user_activity"))


class _AgentTurn(_Turn):
    """An ElevenLabs response, with what the session needs to know of it."""

    __slots__ = ("event_id", "response_id", "said", "calls", "answered", "final", "message")

    def __init__(self, body: Any, started: float | None, event_id: int | None):
        super().__init__(body, started)
        self.event_id = event_id
        self.response_id: str | None = None
        self.said: list[str] = []  # text deltas
        self.calls: list[dict] = []  # client_tool_call payloads
        self.answered = False  # the client sent a result for its tool call
        self.final: str | None = None  # agent_response text (or a correction of it)
        self.message: dict | None = None  # its entry in the conversation, once there


def _payload(data: dict) -> dict:
    """An ElevenLabs frame's payload: its one object beside ``type`` (``<type>_event``,
    ``text_response_part``, ``client_tool_call``)."""
    return next((v for k, v in data.items() if k != "type" and isinstance(v, dict)), {})


def _number(value: Any) -> int | None:
    return value if type(value) is int else None


class _ElevenLabsSession(_Session):
    endpoint = ELEVENLABS_PATH

    def __init__(self) -> None:
        super().__init__()
        self.client_data: dict = {}  # conversation_initiation_client_data, as sent
        self.messages: list[dict] = []  # the conversation so far, as role + content
        self.agent_turns: list[_AgentTurn] = []
        self.unlogged = 0  # agent_turns before this one are in the conversation
        # The latest response of each turn number, response id and tool call id.
        self.by_number: dict[int, _AgentTurn] = {}
        self.by_response: dict[str, _AgentTurn] = {}
        self.by_call: dict[Any, _AgentTurn] = {}

    def request_body(self) -> dict:
        body: dict[str, Any] = {}
        override = self.client_data.get("conversation_config_override")
        agent = override.get("agent") if isinstance(override, dict) else None
        prompt = agent.get("prompt") if isinstance(agent, dict) else None
        prompt = prompt.get("prompt") if isinstance(prompt, dict) else None
        if isinstance(prompt, str) and prompt:
            body["system"] = prompt
        if self.client_data:
            body["conversation_initiation_client_data"] = self.client_data
        body["messages"] = self.messages[-HISTORY:]
        return body

    def _log(self) -> None:
        """The agent's responses so far that the conversation does not hold yet, added to it."""
        for turn in self.agent_turns[self.unlogged:]:
            if turn.message is not None:
                continue
            text = turn.final if turn.final is not None else "".join(turn.said)
            if not text and not turn.calls:
                continue  # nothing said yet: logged once it says something
            message: dict[str, Any] = {"role": "assistant", "content": text}
            if turn.calls:
                message["tool_calls"] = [{"id": c.get("tool_call_id"), "type": "function",
                                          "function": {"name": c.get("tool_name"),
                                                       "arguments": c.get("parameters")}} for c in turn.calls]
            turn.message = message
            self.messages.append(message)
        while self.unlogged < len(self.agent_turns) and self.agent_turns[self.unlogged].message is not None:
            self.unlogged += 1

    def sent(self, data: dict) -> None:
        kind = data.get("type")
        if not isinstance(kind, str) or kind in _KEEPALIVE:
            return
        self.asked_at = self.at
        if kind == "conversation_initiation_client_data":
            self.client_data = {k: v for k, v in data.items() if k != "type"}
        elif kind in ("user_message", "contextual_update") and isinstance(data.get("text"), str):
            self._log()
            self.messages.append({"role": "user" if kind == "user_message" else "system", "content": data["text"]})
        elif kind == "client_tool_result":
            call_id = data.get("tool_call_id")
            turn = self.by_call.get(call_id) if isinstance(call_id, (str, int)) else None
            if turn is None:
                turn = next((t for t in reversed(self.agent_turns) if t.calls), None)
            if turn is not None:
                turn.answered = True
            self._log()
            result = data.get("result")
            self.messages.append({"role": "tool", "tool_call_id": call_id,
                                  "content": result if isinstance(result, str) else str(result)})

    def received(self, data: dict, n: int) -> None:
        kind = data.get("type")
        kind = kind if isinstance(kind, str) else None
        payload = _payload(data)
        if kind == "conversation_initiation_metadata" or kind in _KEEPALIVE:
            return  # session bookkeeping
        if kind == "user_transcript":
            text = payload.get("user_transcript")
            if isinstance(text, str) and text:
                self._log()
                self.messages.append({"role": "user", "content": text})
                self.asked_at = self.at
            return
        number = _number(payload.get("event_id"))
        turn = self._turn_of(kind, payload, number)
        if turn is None:
            return  # nothing said yet: bookkeeping
        turn.add(data, self.at)
        text = payload.get("text")
        if kind == "agent_chat_response_part" and payload.get("type") == "delta" and isinstance(text, str):
            turn.said.append(text)
        elif kind == "agent_response" and isinstance(payload.get("agent_response"), str):
            turn.final = payload["agent_response"]
        elif kind == "agent_response_correction" and isinstance(payload.get("corrected_agent_response"), str):
            turn.final = payload["corrected_agent_response"]
            if turn.message is not None:
                turn.message["content"] = turn.final
        elif kind == "client_tool_call":
            turn.calls.append(payload)
            if isinstance(payload.get("tool_call_id"), (str, int)):
                self.by_call[payload["tool_call_id"]] = turn
        if kind in ("agent_response", "client_tool_call") and turn.response_id is None:
            rid = payload.get("response_id")
            if isinstance(rid, str):
                turn.response_id = rid
                self.by_response[rid] = turn

    def _turn_of(self, kind: Any, payload: dict, number: int | None) -> _AgentTurn | None:
        """The response a frame belongs to (opened when the agent starts speaking)."""
        rid = payload.get("response_id") if isinstance(payload.get("response_id"), str) else None
        if kind == "interruption":  # cuts the latest response numbered before it
            return next((t for t in reversed(self.agent_turns)
                         if number is None or t.event_id is None or t.event_id < number), None)
        if kind == "agent_response_correction" and rid in self.by_response:
            return self.by_response[rid]
        call_id = payload.get("tool_call_id")
        if kind == "agent_tool_response" and isinstance(call_id, (str, int)) and call_id in self.by_call:
            return self.by_call[call_id]  # the server saw the tool's result: part of the call's response
        turn = self.current if number is None else self.by_number.get(number)
        if kind in _AGENT_SPEAKS:
            other = rid is not None and turn is not None and turn.response_id not in (None, rid)
            if turn is None or turn.answered or other:
                self._log()
                turn = _AgentTurn(self.request_body(), self.asked_at, number)
                if number is not None:
                    self.by_number[number] = turn
                self.agent_turns.append(turn)
                self.turns.append(turn)
                self.current = turn
        return turn

    def close(self, frame: dict) -> None:
        turn = self.current
        if turn is not None and turn.final is None and not turn.calls:
            turn.cut_off = _closed(frame)
        self.current = None

    def end(self) -> None:
        turn = self.current
        if turn is not None and turn.final is None and not turn.calls:
            turn.cut_off = _RECORDING_ENDS
