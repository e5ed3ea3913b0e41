"""``llmtrace reassemble``: the JSON the request would have returned unstreamed.

The provider's content is written as recorded; only credentials in a recorded error and in
URLs are masked (``output.dumps``). The JSON itself is ``llmtrace.view``'s (the API and
``serve`` give the same). With ``--request``: the request body as it went over the wire
(client-side arguments such as Llama Stack's ``extra_body`` merged by the container), compact,
one line per exchange, for ``curl -d @-``."""

from __future__ import annotations


from llmtrace.errors import UsageError
from llmtrace.loader import load
from llmtrace.view import normalized_json, provider_json
from llmtrace.output import MASK_ALL, MASK_URLS, dumps, stdout_is_terminal, warn, write_out


def run(path: str, index: int | None = None, normalized: bool = False, fmt: str | None = None,
        request: bool = False) -> int:
    recording = load(path, fmt=fmt)
    exchanges = recording.exchanges
    if index is not None:
        if not 0 <= index < len(exchanges):
            raise UsageError(f"--index {index} is out of range: {recording.source} holds "
                             f"{len(exchanges)} exchange{'s' if len(exchanges) != 1 else ''}")
        exchanges = [exchanges[index]]
    if request:
        return _requests(recording, exchanges)
    single = len(exchanges) == 1
    indent = single and stdout_is_terminal()
    render = normalized_json if normalized else provider_json
    parts = [dumps(render(ex), indent=indent, mask=MASK_ALL if ex.failed else MASK_URLS) for ex in exchanges]
    write_out(parts)
    code = 0
    for ex in exchanges:
        where = f" (exchange {ex.index})" if len(recording.exchanges) > 1 else ""
        if ex.failed:
            detail = ex.response.error_message or "no message recorded"
            status = f"status {ex.response.status}: " if ex.response.status else ""
            warn(f"{recording.source}{where}: recorded error: {status}{detail}")
            code = 1
        elif ex.result is not None and not ex.result.complete:
            warn(f"{recording.source}{where}: warning: the stream ends without a finish "
                 f"({ex.result.timeline.chunks} chunks); showing what arrived")
    return code


def _requests(recording, exchanges) -> int:
    """Each exchange's wire request body, compact JSON, one line each; exit 1 when one has none."""
    write_out([dumps(ex.request.body) for ex in exchanges if ex.request.body is not None])
    code = 0
    for ex in exchanges:
        if ex.request.body is None:
            warn(f"{recording.source} (exchange {ex.index}): the recording kept no request body")
            code = 1
    return code
