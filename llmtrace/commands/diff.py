"""``llmtrace diff A B``: what changed between two recordings, compared after reassembly.

Each exchange becomes a provider-neutral document (the normalized request with the endpoint
and each declared tool's definition, the normalized choices, usage, the anomalies, and the
response's model, status, chunk count and timing summary) and ``llmtrace.compare`` lists the
differences, so two recordings of the same answer chunked differently, or recorded by another
container or dialect, are equal.

Output: human (``llmtrace.render.diff``: grouped by section, word-level diffs of text,
``[-removed-]`` and ``{+added+}`` markers when there is no colour), ``--json`` (a list of ``{path, change, a, b}``
with whole values) or ``--stat`` (one summary line). Exit 0 when equivalent, 1 when they differ,
2 on unreadable input or a usage error.

Paths (contracts.md): ``request.model``, ``request.endpoint``, ``request.messages[2].content``,
``request.tools`` (one difference per tool; the values are tool definitions),
``request.params.temperature``, ``choices[0].content``,
``choices[0].tool_calls[1].parsed_arguments.city``, ``choices[0].finish_reason``,
``usage.output_tokens``, ``anomalies`` (the values are whole anomalies), ``response.chunks``
and other ``response.*`` fields (shown; differences only with ``--strict``). A key that is not
a plain name is a quoted step, ``request.params["a.b"]``, so every path printed (human or
``--json``) can be given back to ``--ignore``.
Files with several exchanges: exchanges are paired by position, or with ``--by-request`` by the
normalized request's model, messages and tools (first unused match in file order). When either
file holds more than one exchange, every path is prefixed with ``exchanges[N].``, N being the
exchange's index in A (in B for an exchange only B has), and an exchange without a partner is
one difference at ``exchanges[N]`` (added or removed, the value its whole document).
``--ignore PATH`` matches with or without that prefix.
"""

from __future__ import annotations


from llmtrace import compare
from llmtrace.errors import UnreadableInput, UsageError
from llmtrace.loader import load
from llmtrace.model import Recording
from llmtrace.view import documents
from llmtrace.output import dumps, mask_text, stdout_is_terminal, warn, write_out


def run(a: str, b: str, strict: bool = False, ignore: list[str] = (), as_json: bool = False,
        stat: bool = False, by_request: bool = False, fmt: str | None = None) -> int:
    if as_json and stat:
        raise UsageError("--json and --stat cannot be combined")
    if a == "-" and b == "-":
        raise UsageError("only one of A and B can be - (stdin)")
    for pattern in ignore:
        try:
            compare.parse_path(pattern)
        except ValueError as exc:
            raise UsageError(f"--ignore: {exc}") from None
    recordings: list[Recording] = []
    for path in (a, b):
        try:
            recordings.append(load(path, fmt=fmt))
        except UnreadableInput as exc:
            warn(exc.line())
    if len(recordings) < 2:
        return 2
    return report(*recordings, strict=strict, ignore=ignore, as_json=as_json, stat=stat, by_request=by_request)


def report(ra: Recording, rb: Recording, strict: bool = False, ignore: list[str] = (), as_json: bool = False,
           stat: bool = False, by_request: bool = False) -> int:
    """Compare two loaded recordings and print the result; the exit code (0 equal, 1 different)."""
    pairs = compare.compare_recordings(documents(ra), documents(rb), strict=strict, ignore=list(ignore),
                                       by_request=by_request)
    counted = [d for pair in pairs for d in pair.differences if d.counts]
    if as_json:
        write_out([dumps([d.json() for d in counted], indent=stdout_is_terminal())])
    elif stat:
        write_out([mask_text(compare.stat_line(counted)).encode()])
    else:
        from llmtrace.render.diff import print_diff

        print_diff(ra, rb, pairs, strict)
    return 1 if counted else 0
