"""Anomaly detection: what went wrong in a recorded exchange, seen from the recording alone.

Every check is a small function registered here with ``@check(code, severity)``: it takes an
exchange and returns a list of the ``Anomaly`` records it finds (``finding`` builds them). Any
iterable would do, but ``detect`` calls every check on every exchange, mostly to find nothing,
and a plain function costs about a third of what a generator does to call. Checks work on the
dialect-neutral fold (``exchange.result``: choices, usage, timeline deltas, observations), never on
raw chunks, so they hold for every dialect. The codes follow the anomaly catalogue
(anomalies.md); ``CODES.md`` beside this file lists each with its default severity and meaning.
"""

from __future__ import annotations

from typing import Any, Callable, Iterable

from llmtrace.model import Anomaly, Exchange, Recording, Severity

# Higher is more severe; ``--fail-on LEVEL`` fails on anything whose rank is at least LEVEL's.
SEVERITY_RANK: dict[str, int] = {"info": 0, "warning": 1, "error": 2}

Check = Callable[[Exchange], Iterable[Anomaly]]
# code → check function, in registration order.
CHECKS: dict[str, Check] = {}
# code → default severity (a check may raise or lower it for a particular finding).
SEVERITIES: dict[str, Severity] = {}
# Codes whose check runs on exchanges without a folded result (recorded errors, opaque bodies).
_WITHOUT_RESULT: set[str] = set()


def check(code: str, severity: Severity, needs_result: bool = True) -> Callable[[Check], Check]:
    """Register ``fn`` as the check for ``code``. Unless ``needs_result`` is False, it runs only on
    exchanges a dialect folded (``exchange.result`` is set)."""

    def register(fn: Check) -> Check:
        if code in CHECKS:
            raise ValueError(f"anomaly code {code!r} registered twice")
        CHECKS[code] = fn
        SEVERITIES[code] = severity
        if not needs_result:
            _WITHOUT_RESULT.add(code)
        return fn

    return register


def finding(exchange: Exchange, code: str, message: str, *, severity: Severity | None = None,
            choice: int | None = None, chunks: list[int] | None = None, span: tuple[int, int] | None = None,
            details: dict[str, Any] | None = None) -> Anomaly:
    """An Anomaly of ``exchange`` with ``code``'s default severity unless one is given."""
    return Anomaly(code=code, severity=severity or SEVERITIES[code], message=message, exchange=exchange.index,
                   choice=choice, chunks=chunks or None, span=span, details=details or {})


def reaches(anomaly: Anomaly, level: str) -> bool:
    """Whether ``anomaly`` is at least as severe as ``level``."""
    return SEVERITY_RANK[anomaly.severity] >= SEVERITY_RANK[level]


# Checks that read a stream's chunks (their ids, indices, order): a recording that kept only the
# final text, or a first-token time, holds nothing they could find.
NEEDS_CHUNKS = frozenset(("content-after-finish", "mixed-ids", "tool-index-gap", "duplicate-chunk"))


def skipped_codes(exchange: Exchange) -> list[str]:
    """The codes that are not checked on ``exchange`` because its recording lacks what they
    need (contracts.md, fidelity): chunk checks on a recording without chunks, and the codes
    the dialect's fold said it has no data for (a span that captured no text)."""
    result = exchange.result
    if result is None:
        return []
    skipped = result.observations.skipped
    if not skipped and exchange.response.streaming and result.timeline.chunks:
        return []  # the common case: a stream with its chunks, and nothing the fold left out
    skipped = set(skipped)
    if exchange.fidelity in ("final-text", "ttft-only"):
        skipped |= NEEDS_CHUNKS
    return sorted(code for code in skipped if code in CHECKS)


def detect(exchange: Exchange, recording: Recording | None = None) -> list[Anomaly]:
    """Every anomaly of one exchange, most severe first (error, warning, info), then by code.

    ``recording`` is the file the exchange came from; every check so far needs only the exchange.
    """
    found: list[Anomaly] = []
    if exchange.result is None:
        for code, fn in CHECKS.items():
            if code in _WITHOUT_RESULT:
                found.extend(fn(exchange))
    else:
        skipped = skipped_codes(exchange)
        if skipped:
            for code, fn in CHECKS.items():
                if code not in skipped:
                    found.extend(fn(exchange))
        else:  # the common case: every check, without a test per check
            found = [anomaly for fn in CHECKS.values() for anomaly in fn(exchange)]
    if len(found) > 1:
        found.sort(key=lambda a: (-SEVERITY_RANK[a.severity], a.code))
    return found


def detect_recording(recording: Recording) -> list[Anomaly]:
    """The anomalies of every exchange of ``recording``, exchange by exchange."""
    return [a for exchange in recording.exchanges for a in detect(exchange, recording)]


def runs(indices: list[int], limit: int = 6) -> str:
    """Chunk indices as ranges: ``0–22, 25``; past ``limit`` ranges, a count of the rest."""
    ordered = sorted(set(indices))
    spans: list[list[int]] = []
    for i in ordered:
        if spans and i == spans[-1][1] + 1:
            spans[-1][1] = i
        else:
            spans.append([i, i])
    text = ", ".join(f"{a}–{b}" if a != b else str(a) for a, b in spans[:limit])
    if len(spans) > limit:
        text += f", … ({len(spans) - limit} more ranges)"
    return text


def place(a: Anomaly, exchange: bool = False) -> str:
    """Where a finding is: ``exchange 1, choice 0, chunks 0–22, characters 0–76`` (the exchange
    when ``exchange``: files that hold several)."""
    parts = [f"exchange {a.exchange}"] if exchange else []
    if a.choice is not None:
        parts.append(f"choice {a.choice}")
    if a.chunks:
        parts.append(f"chunk{'s' if len(a.chunks) > 1 else ''} {runs(a.chunks)}")
    if a.span is not None:
        parts.append(f"characters {a.span[0]}–{a.span[1]}")
    return ", ".join(parts)


# The checks register themselves on import.
from llmtrace.anomalies import content, metadata, stream, tools  # noqa: E402,F401
from llmtrace.anomalies import frames  # noqa: E402,F401  (AWS event-stream frames)
from llmtrace.anomalies import secrets  # noqa: E402,F401  (unmasked-secret: the file leaks a credential)
from llmtrace.anomalies import resent  # noqa: E402,F401  (duplicate-chunk: a chunk sent twice)
