"""A chunk sent again: checks on the raw chunks themselves, as they arrived."""

from __future__ import annotations

from itertools import compress, count, islice
from operator import eq

from llmtrace.anomalies import check, finding
from llmtrace.model import Anomaly, Exchange


# Fields that differ from chunk to chunk of one stream (OpenAI's random ``obfuscation`` padding,
# Mistral's ``p``, Ollama's ``created_at``): two chunks equal in them were sent twice.
PER_CHUNK = ("obfuscation", "p", "created_at")
# Without such a field, equal consecutive chunks are also what a model sends for a repeated
# short token ("\n", "4", " the"): only text at least this long counts then.
MIN_TEXT = 4


def _unique(chunk) -> bool:
    if not isinstance(chunk, dict):
        return False
    data = chunk.get("__data__") if isinstance(chunk.get("__data__"), dict) else chunk
    return any(data.get(key) for key in PER_CHUNK)


@check("duplicate-chunk", "warning")
def duplicate_chunk(exchange: Exchange) -> list[Anomaly]:
    """A chunk equal to the one before it — the same payload, id and all — that carried text:
    a proxy or a retry sent it again, and the reassembled text holds that fragment twice. Equal
    chunks without text (keep-alives, empty deltas) are not flagged, nor short repeated tokens
    in streams whose chunks carry nothing that differs per chunk."""
    chunks = exchange.response.chunks
    if not exchange.response.streaming or len(chunks) < 2:
        return []
    # Chunks equal to the one before them, compared in C (two chunks of a stream differ in their
    # first fields almost always); the texts are gathered only when there are such.
    equal = set(compress(count(1), map(eq, islice(chunks, 1, None), chunks)))
    if not equal:
        return []
    texts: dict[int, str] = {}
    for delta in exchange.result.timeline.deltas:
        if delta.text and delta.chunk in equal:
            texts[delta.chunk] = texts.get(delta.chunk, "") + delta.text
    repeated = [i for i in sorted(texts) if _unique(chunks[i]) or len(texts[i].strip()) >= MIN_TEXT]
    if not repeated:
        return []
    shown = texts[repeated[0]]
    shown = shown if len(shown) <= 40 else shown[:40] + "…"
    return [finding(exchange, "duplicate-chunk",
                    f"chunk {repeated[0]} repeats chunk {repeated[0] - 1} ({shown!r} twice in the text)"
                    + (f", and {len(repeated) - 1} more" if len(repeated) > 1 else ""),
                    chunks=repeated, details={"chunks": repeated, "text": shown})]
