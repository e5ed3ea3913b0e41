"""HAR 1.2 (browser DevTools exports, Polly.JS, mitmproxy, Playwright): ``log.entries``, every
entry one exchange in file order.

Request: ``method``, ``url``, ``headers`` (``[{name, value}]``), ``postData.text``. Response:
``status`` (0, an aborted request, reads as none), ``content.text`` with ``encoding: "base64"``
when the recorder encoded it; bodies are decoded and split by ``llmtrace.containers.bodies``
(SSE, NDJSON, a JSON document, or text).

Timing. A HAR entry has its start (``startedDateTime``) and phases (``timings``, in ms), not
per-chunk times: those go to ``Response.timings`` ("started" in epoch seconds, phases in
seconds, -1 phases left out), and ``Response.chunk_times`` stays None — chunk times are never
invented. Only when the entry carries its SSE events with their own arrival times (Chrome's
``_eventSourceMessages``: ``{time, eventName, eventId, data}``, time in epoch seconds) are the
chunks read from those events and ``Response.chunk_times`` set from them; likewise when the entry carries the network reads
``llmtrace record`` kept (``response.content._chunks``, read by ``containers.chunk_reads``;
timeline timing ``chunk-times``). Websocket entries
(``_webSocketMessages``) are ``opaque``: the messages, as recorded, are the response body.
"""

from __future__ import annotations

from typing import Any

import orjson

from llmtrace.containers import bodies, recorded
from llmtrace.containers.recorded import header, headers_of, parse_time
from llmtrace.errors import ShapeError
from llmtrace.model import Request, Response

NAME = "har"
MANY_EXCHANGES = True
PHASES = ("blocked", "dns", "connect", "ssl", "send", "wait", "receive")
# Python before 3.11 reads only 0, 3 or 6 fractional digits and no "Z".


def sniff(doc: Any) -> bool:
    return isinstance(doc, dict) and isinstance(doc.get("log"), dict) and isinstance(doc["log"].get("entries"), list)


def read(doc: Any) -> list[tuple[Request, Response]]:
    if not sniff(doc):
        raise ShapeError("not a HAR file (no \"log.entries\" list)")
    return [_entry(entry, n) for n, entry in enumerate(doc["log"]["entries"])]


def _entry(entry: Any, n: int) -> tuple[Request, Response]:
    try:
        return _read_entry(entry, n)
    except RecursionError:  # a value nested too deeply to be turned into text (a header, a URL)
        raise ShapeError("nested too deeply", f"entry {n}") from None


def _read_entry(entry: Any, n: int) -> tuple[Request, Response]:
    where = f"entry {n}"
    if not isinstance(entry, dict):
        raise ShapeError("entry should be an object", where)
    req, resp = entry.get("request") or {}, entry.get("response") or {}
    if not isinstance(req, dict):
        raise ShapeError("request should be an object", where)
    if not isinstance(resp, dict):
        raise ShapeError("response should be an object", where)
    request, response = _request(req, where), _response(entry, resp, where)
    content = resp.get("content")
    request.leaks.extend(recorded.raw_leaks(resp.get("redirectURL"), content.get("_chunks") if isinstance(content, dict) else None))
    return request, response


def _request(req: dict, where: str) -> Request:
    headers = headers_of(req.get("headers"), f"{where}, request headers")
    post = req.get("postData") or {}
    if not isinstance(post, dict):
        raise ShapeError("request postData should be an object", where)
    place = f"{where}, request body"
    text = bodies.decode(post.get("text"), place, base64=post.get("encoding") == "base64",
                         encoding=header(headers, "content-encoding"))
    return recorded.request(req.get("method"), req.get("url"), headers, recorded.json_or_text(text), where)


def _response(entry: dict, resp: dict, where: str) -> Response:
    status = recorded.status_of(resp.get("status"), f"{where}, response status")
    timings = _timings(entry, where)
    frames = entry.get("_webSocketMessages")
    if frames:
        return recorded.response(status, bodies.Payloads(False, [], frames), timings=timings)
    events = entry.get("_eventSourceMessages")
    if events:
        payloads, times = _events(events, f"{where}, _eventSourceMessages")
        return recorded.response(status, payloads, chunk_times=times, timings=timings)
    content = resp.get("content") or {}
    if not isinstance(content, dict):
        raise ShapeError("response content should be an object", where)
    headers = headers_of(resp.get("headers"), f"{where}, response headers")
    place = f"{where}, response body"
    text = bodies.decode(content.get("text"), place, base64=content.get("encoding") == "base64",
                         encoding=header(headers, "content-encoding"))
    payloads = bodies.split(text, place)
    # ``llmtrace record``'s network reads with their arrival offsets (``containers.chunk_reads``).
    times = None
    if "_chunks" in content:
        from llmtrace.containers import chunk_reads

        times = chunk_reads.times_for(content.get("_chunks"), (timings or {}).get("started"),
                                      header(headers, "content-encoding"), payloads, f"{place}, _chunks")
    response = recorded.response(status, payloads, chunk_times=times, timings=timings)
    if times is not None:
        response.chunk_timing = "chunk-times"
    return response


def _events(events: Any, where: str) -> tuple[bodies.Payloads, list[float | None]]:
    """Chrome's recorded SSE events → their JSON payloads and arrival times."""
    if not isinstance(events, list):
        raise ShapeError("should be a list", where)
    chunks: list[Any] = []
    times: list[float | None] = []
    done = False
    for n, event in enumerate(events):
        data = event.get("data") if isinstance(event, dict) else None
        if not isinstance(data, str):
            raise ShapeError("event data should be a string", f"{where}, event {n}")
        if data == "[DONE]":
            done = True
            continue
        if not data.strip():
            continue
        try:
            chunks.append(orjson.loads(data))
        except orjson.JSONDecodeError as exc:
            raise ShapeError(f"SSE data is not JSON ({exc.msg})", f"{where}, event {n}") from None
        time = event.get("time")
        times.append(float(time) if type(time) in (int, float) and time > 0 else None)
    return bodies.Payloads(True, chunks, None, done), times


def _timings(entry: dict, where: str) -> dict[str, float] | None:
    out: dict[str, float] = {}
    started = entry.get("startedDateTime")
    if isinstance(started, str):
        epoch = parse_time(started)
        if epoch is None:
            raise ShapeError(f"startedDateTime is not an ISO 8601 time: {started!r}", where)
        out["started"] = epoch
    timings = entry.get("timings")
    if isinstance(timings, dict):
        for phase in PHASES:
            ms = timings.get(phase)
            if type(ms) in (int, float) and ms >= 0:
                out[phase] = ms / 1000
    total = entry.get("time")
    if type(total) in (int, float) and total >= 0:
        out["total"] = total / 1000
    return out or None


