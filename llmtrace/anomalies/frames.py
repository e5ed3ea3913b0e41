"""Checks on the binary framing a stream arrived in: AWS event-stream frames (Bedrock) whose
prelude or message CRC32 does not match, or whose headers are malformed.

The event-stream reader (``llmtrace.containers.aws_eventstream``) leaves a ``{":bad-frame": …}``
marker chunk where it skipped such a frame; a frame whose prelude is broken ends the stream
there (``fatal``). This check turns each marker into a finding at the frame's byte offset. It
reads the chunks rather than the fold, as the framing is beneath every dialect: an event stream
no dialect reads (``opaque``) is checked too.
"""

from __future__ import annotations

from itertools import repeat

from llmtrace.anomalies import check, finding
from llmtrace.containers.aws_eventstream import BAD_FRAME
from llmtrace.model import Anomaly, Exchange


@check("bad-frame", "error", needs_result=False)
def bad_frame(exchange: Exchange) -> list[Anomaly]:
    """A binary event-stream frame whose CRC32 (prelude or message) does not match."""
    response = exchange.response
    if not response.streaming or response.error is not None:
        return []
    try:  # the usual case: dicts, none of them a marker (told in C)
        if not any(map(dict.__contains__, response.chunks, repeat(BAD_FRAME))):
            return []
    except TypeError:  # a chunk that is no dict: read one by one below
        pass
    anomalies: list[Anomaly] = []
    for n, chunk in enumerate(response.chunks):
        if type(chunk) is not dict or BAD_FRAME not in chunk:
            continue
        frame = chunk[BAD_FRAME]
        if not isinstance(frame, dict):
            continue
        offset = frame.get("offset")
        fatal = bool(frame.get("fatal"))
        after = "; the stream cannot be read past it" if fatal else "; skipped, reading went on with the next frame"
        anomalies.append(finding(exchange, "bad-frame",
                                 f"event-stream frame at byte {offset}: {frame.get('reason')}{after}", chunks=[n],
                                 details={"offset": offset, "length": frame.get("length"),
                                          "reason": frame.get("reason"), "fatal": fatal}))
    return anomalies
