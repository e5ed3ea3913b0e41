"""An independent reading of recorded bodies for the new-format tests: PyYAML/json and a few
lines of SSE splitting, never llmtrace's containers or folds."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import yaml

NEWFORMATS = Path(__file__).parent / "data" / "newformats"


def bodies(path: Path) -> list[tuple[str | None, str | None]]:
    """(url, response body text) per interaction or HAR entry, in file order."""
    if path.suffix == ".har":
        doc = json.loads(path.read_text())
        return [(e["request"]["url"], e["response"]["content"].get("text")) for e in doc["log"]["entries"]]
    doc = yaml.load(path.read_bytes(), Loader=yaml.SafeLoader)
    out = []
    for item in doc["interactions"]:
        body = item["response"]["body"]
        text = body.get("string") if isinstance(body, dict) else body
        if isinstance(text, bytes):
            text = (gzip.decompress(text) if text[:2] == b"\x1f\x8b" else text).decode()
        out.append((item["request"]["uri"], text))
    return out


def sse(text: str) -> list[tuple[str, str]]:
    """(event name, data) per SSE event: blank lines end events, data lines joined by newlines,
    ``:`` lines are comments."""
    events = []
    for block in text.replace("\r\n", "\n").split("\n\n"):
        name, data = "message", []
        for line in block.split("\n"):
            if not line or line.startswith(":"):
                continue
            field, _, value = line.partition(":")
            value = value[1:] if value.startswith(" ") else value
            if field == "event":
                name = value
            elif field == "data":
                data.append(value)
        if data:
            events.append((name, "\n".join(data)))
    return events


def ndjson(text: str) -> list[dict]:
    return [json.loads(line) for line in text.splitlines() if line.strip()]
