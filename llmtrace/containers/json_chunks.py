"""A plain JSON array of chunks (``json.dump(list_of_chunks)``, Gemini's non-SSE
``streamGenerateContent`` body saved as a file) — or, when no other container claims it, one
response object on its own (a non-streamed body saved as a file), read as that body. There is
no request: the exchange's Request fields are None and the dialect comes from the chunks' shape.
"""

from __future__ import annotations

from typing import Any

from llmtrace import dialects
from llmtrace.errors import ShapeError
from llmtrace.model import Request, Response

NAME = "json-chunks"


def sniff(doc: Any) -> bool:
    if isinstance(doc, list):
        return bool(doc) and all(isinstance(item, dict) for item in doc)
    return isinstance(doc, dict) and dialects.sniff(doc) is not None


def read(doc: Any) -> list[tuple[Request, Response]]:
    if isinstance(doc, dict):
        return [(Request(), Response(body=doc))]
    if not isinstance(doc, list):
        raise ShapeError("a JSON chunk recording should be an array of chunk objects")
    for n, item in enumerate(doc):
        if not isinstance(item, dict):
            raise ShapeError("chunk should be an object", f"chunk {n}")
    return [(Request(), Response(streaming=True, chunks=doc))]
