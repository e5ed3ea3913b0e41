"""``llmtrace show``: a recording at a glance — what was asked, what came back, how it
streamed, what it cost, what went wrong. Rich is imported only to render (not for ``--json``)."""

from __future__ import annotations

from typing import Any

from llmtrace import timeline
from llmtrace.anomalies import skipped_codes
from llmtrace.commands.per_file import internal_error, passes_through
from llmtrace.errors import UnreadableInput
from llmtrace.loader import load
from llmtrace.model import Exchange, Recording, Usage
from llmtrace.output import dumps, stdout_is_terminal, warn, write_out
from llmtrace.view import Shown, request_stream, shown


def exchange_json(item: Shown) -> dict[str, Any]:
    """One exchange of ``show --json`` (contracts.md)."""
    ex = item.exchange
    req, resp, result = ex.request, ex.response, ex.result
    request = ex.normalized_request.model_dump()  # python mode: no depth limit (output.dumps has none)
    request.update(method=req.method, url=req.url, host=req.host, endpoint=req.endpoint, stream=request_stream(ex))
    usage = result.usage if result else Usage()
    return {
        "index": ex.index,
        "container": ex.container,
        "dialect": ex.dialect,
        "fidelity": ex.fidelity,
        "request": request,
        "response": {
            "status": resp.status,
            "streaming": resp.streaming,
            "model": result.model if result else None,
            "chunks": len(resp.chunks) if resp.streaming else None,
            "error": resp.error,
        },
        "choices": [m.model_dump() for m in result.choices] if result else [],
        "usage": {"reported": usage.model_dump(mode="json"), "observed": timeline.observed_json(item.observed)},
        "timeline": timeline.summary_json(item.summary),
        "anomalies": [a.model_dump() for a in item.anomalies],
        "skipped": skipped_codes(ex),
    }


def document(source: str, items: list[Shown]) -> dict[str, Any]:
    return {"source": source, "exchanges": [exchange_json(item) for item in items]}


def _selected(recording: Recording, index: int | None) -> list[Exchange] | None:
    """The exchanges to show: all, or the one ``--index`` names (None when out of range)."""
    exchanges = recording.exchanges
    if index is None:
        return exchanges
    return [exchanges[index]] if 0 <= index < len(exchanges) else None


def run(paths: list[str], all_chunks: bool = False, as_json: bool = False, index: int | None = None,
        fmt: str | None = None, console=None) -> int:
    """Show each file; an unreadable one gets one stderr line and exit 2, the others are shown.
    ``console`` (a rich Console) is for tests; by default one on stdout."""
    code = 0
    docs: list[bytes] = []
    if not as_json:
        from llmtrace.render.recording import RecordingView, make_console

        console = console or make_console()
    for path in paths:
        try:
            recording = load(path, fmt=fmt)
            exchanges = _selected(recording, index)
            if exchanges is None:
                n = len(recording.exchanges)
                warn(f"{recording.source}: --index {index} is out of range: the file holds {n} "
                     f"exchange{'s' if n != 1 else ''}")
                code = 2
                continue
            items = [shown(recording, ex) for ex in exchanges]
            if as_json:
                docs.append(dumps(document(recording.source, items), indent=len(paths) == 1 and stdout_is_terminal()))
            else:
                console.print(RecordingView(recording, items, all_chunks=all_chunks))
        except UnreadableInput as exc:
            warn(exc.line())
            code = 2
        except Exception as exc:  # noqa: BLE001 - one file's bug must not cost the others
            if passes_through(exc):
                raise
            warn(internal_error("<stdin>" if path == "-" else path, exc))
            code = 2
    if docs:
        write_out(docs)
    return code
