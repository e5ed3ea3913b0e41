"""Building ``Request`` and ``Response`` from what an HTTP recorder stored, the same way in
every container: headers as one ``{name: value}`` dict, secrets masked (``llmtrace.secrets``),
host and endpoint from the URL, the model from the body (or from a Gemini-style
``/models/NAME:method`` path), and recorded errors (HTTP status >= 400) taken apart.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

import orjson

from llmtrace.containers.bodies import Payloads
from llmtrace.errors import ShapeError
from llmtrace.model import Request, Response
from llmtrace.secrets import (leaks_in_headers, leaks_in_text, leaks_in_url, mask_headers, mask_text, mask_url,
                              might_hold_secrets)
from llmtrace.urls import split_url

# The model named in the path: Gemini ``/models/NAME:method``, Bedrock ``/model/ID/converse`` (and
# ``converse-stream``, ``invoke``, ``invoke-with-response-stream``; the id may be percent-encoded).
_MODEL_IN_PATH = re.compile(r"/models/([^/:?#]+):|/model/([^/?#]+)/(?:converse|invoke)")
_STATUS_TEXT = re.compile(r"\s*(\d{3})\b")
_FRACTION = re.compile(r"\.(\d+)")


def headers_of(headers: Any, where: str) -> dict[str, str]:
    """Recorded headers → ``{name: value}``: from a dict of values or of value lists (VCR), or
    from a list of ``{"name", "value"}`` (HAR). Repeated values are joined with ``", "``."""
    if headers is None:
        return {}
    out: dict[str, str] = {}
    if isinstance(headers, dict):
        items = headers.items()
    elif isinstance(headers, list):
        items = []
        for n, item in enumerate(headers):
            if not isinstance(item, dict) or not isinstance(item.get("name"), str):
                raise ShapeError(f"header {n} should be an object with a name", where)
            items.append((item["name"], item.get("value")))
    else:
        raise ShapeError("headers should be an object or a list", where)
    for name, value in items:
        if isinstance(value, list):
            value = ", ".join(str(v) for v in value)
        elif value is not None and not isinstance(value, str):
            value = str(value)
        name = str(name)
        out[name] = value if name not in out else f"{out[name]}, {value}"
    return out


def header(headers: dict[str, str], name: str) -> str | None:
    """A header's value, whatever the case of its name."""
    for key, value in headers.items():
        if key.lower() == name:
            return value
    return None


def json_or_text(text: str | None) -> Any:
    """A request body: the JSON value when it is JSON, else the text (None when empty)."""
    if text is None or not text.strip():
        return None
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError:
        return text


def request(method: Any, url: Any, headers: dict[str, Any], body: Any, where: str, *,
            model: Any = None, endpoint: Any = None) -> Request:
    """A ``Request`` with secrets masked in its headers, URL and endpoint; the live-looking
    credentials they held are noted in ``leaks`` (place, kind and mask only)."""
    if url is not None and not isinstance(url, str):
        raise ShapeError("request.url should be a string", where or None)
    host = None
    leaks = leaks_in_headers(headers, "request")
    if isinstance(endpoint, str) and endpoint:
        leaks.extend(leaks_in_url(endpoint, "request endpoint"))
        endpoint = mask_url(endpoint)
    if url:
        parsed = split_url(url)  # tolerant: a malformed URL is data (``http://[::1/v1``)
        host = parsed.netloc.rpartition("@")[2] or parsed.scheme or None
        if not endpoint:
            endpoint = mask_url(parsed.path) or None
        leaks.extend(leaks_in_url(url, "request URL"))
        url = mask_url(url)
    if not model and isinstance(body, dict):
        model = body.get("model")
    if not model and isinstance(endpoint, str) and endpoint:
        found = _MODEL_IN_PATH.search(endpoint)
        if found is None:
            model = None
        else:
            model = found.group(1) or _unquote_path(found.group(2))
    return Request(
        method=method if isinstance(method, str) else None,
        url=url,
        host=host,
        endpoint=endpoint if isinstance(endpoint, str) else None,
        model=model if isinstance(model, str) else None,
        body=body,
        headers=mask_headers(headers),
        leaks=leaks,
    )


def raw_leaks(redirect: Any, reads: Any) -> list:
    """The credentials a recording keeps outside what is parsed: a HAR ``redirectURL`` and the
    text of ``llmtrace record``'s raw reads (``_chunks``, joined: a credential may straddle two
    reads). Base64 reads are compressed or binary: their decoded body is searched instead."""
    leaks = []
    if isinstance(redirect, str) and redirect:
        leaks.extend(leaks_in_text(redirect, "response redirectURL"))
    if isinstance(reads, list):
        joined = "".join(item["text"] for item in reads if isinstance(item, dict) and isinstance(item.get("text"), str))
        if joined and might_hold_secrets(joined):
            leaks.extend(leaks_in_text(joined, "response _chunks"))
    return leaks


def status_of(value: Any, where: str) -> int | None:
    """An HTTP status as recorded: an integer, or text that starts with one (``"200 OK"``);
    0 means no response arrived. VCR.py's ``{"code": 200, "message": "OK"}`` object gives its code
    (wherever a recorder stored it: a cassette, a single-exchange JSON file)."""
    if isinstance(value, dict) and "code" in value:
        value = value["code"]
    if isinstance(value, str):
        found = _STATUS_TEXT.match(value)
        value = int(found.group(1)) if found else value
    if value is not None and type(value) is not int:
        raise ShapeError("response status should be an integer", where)
    return value or None


def recorded_error(body: Any) -> tuple[Any, str | None]:
    """The error object of an error response's body, and its message."""
    error = body.get("error", body) if isinstance(body, dict) else body
    return error, error_text(error)


def error_text(error: Any) -> str | None:
    """The most specific message in a recorded error: a provider's own message inside an SDK
    exception's ``body`` or ``error`` before the SDK's wrapper text; credentials in it masked
    (an "Incorrect API key provided: sk-…" message quotes the key)."""
    if isinstance(error, str):
        return mask_text(error) or None
    if not isinstance(error, dict):
        return None
    for key in ("body", "error"):
        inner = error_text(error[key]) if isinstance(error.get(key), dict) else None
        if inner:
            return inner
    for key in ("message", "detail", "error"):
        if isinstance(error.get(key), str) and error[key]:
            return mask_text(error[key])
    return None


def response(status: int | None, payloads: Payloads, *, chunk_times: list | None = None,
             timings: dict[str, float] | None = None) -> Response:
    """A ``Response`` from a status and a split body; status >= 400 makes it a recorded error."""
    if status is not None and status >= 400:
        body = payloads.chunks if payloads.streaming else payloads.body
        error, message = recorded_error(body[0] if payloads.streaming and len(body) == 1 else body)
        return Response(status=status, streaming=payloads.streaming, body=body, error=error,
                        error_message=message, timings=timings)
    return Response(status=status, streaming=payloads.streaming, chunks=payloads.chunks, body=payloads.body,
                    done_marker=payloads.done, cut_off=payloads.cut_off, chunk_times=chunk_times,
                    timings=timings)


def _unquote_path(text: str) -> str:
    """A path segment with its percent-escapes decoded (``%3A`` → ``:``)."""
    if "%" not in text:
        return text
    from urllib.parse import unquote

    return unquote(text)


def parse_time(text: str) -> float | None:
    """An ISO 8601 time (``2026-01-31T00:32:54.108Z``) in epoch seconds, or None."""
    text = text.strip()
    if text.endswith(("Z", "z")):
        text = text[:-1] + "+00:00"
    text = _FRACTION.sub(lambda m: "." + (m.group(1) + "000000")[:6], text, count=1)
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        return None
    if value.tzinfo is None:
        return None  # a local time of an unknown zone: not a point in time
    return value.timestamp()
