"""NDJSON / JSON Lines: one chunk per line (Ollama's native streams, ``jq -c`` dumps of SDK
chunks). Blank lines are skipped.

Read line by line over the file's bytes (each line parsed straight from its bytes). A last
line that is not JSON (the file was cut off mid-write) is dropped and the exchange's
``Response.cut_off`` says which line; a bad line with more after it, or a file with no readable
line at all, is unreadable (exit 2) with the line number. There is no request: the
exchange's Request fields are None and the dialect comes from the chunks' shape.
"""

from __future__ import annotations

import io

from llmtrace.containers.bodies import ndjson_payloads, starts_with_json_line
from llmtrace.model import Request, Response

NAME = "ndjson"


def sniff_text(data: bytes) -> bool:
    return starts_with_json_line(data)


def read_bytes(data: bytes) -> list[tuple[Request, Response]]:
    chunks, cut_off = ndjson_payloads(io.BytesIO(data))
    return [(Request(), Response(streaming=True, chunks=chunks, cut_off=cut_off))]
