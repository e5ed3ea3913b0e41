"""Raw Server-Sent Events text, as ``curl -N`` or a proxy saves a stream: ``event:``,
``data:``, ``id:`` lines, ``:`` comments, CRLF or LF, multi-line data, ``data: [DONE]``.

The file is read event by event over its bytes (``llmtrace.containers.bodies``): no second
copy of the text and no list of its lines is kept beside the parsed chunks. There is no
request: the exchange's Request fields are None and the dialect comes from the chunks' shape.
"""

from __future__ import annotations

from llmtrace.containers.bodies import byte_lines, kind_of, sse_payloads
from llmtrace.model import Request, Response

NAME = "sse"


def sniff_text(data: bytes) -> bool:
    return kind_of(data) == "sse"


def read_bytes(data: bytes) -> list[tuple[Request, Response]]:
    chunks, done, cut_off = sse_payloads(byte_lines(data))
    return [(Request(), Response(streaming=True, chunks=chunks, done_marker=done, cut_off=cut_off))]
