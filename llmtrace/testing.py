"""Assertions for test suites that use recordings, with failures that read like llmtrace's
own output.

>>> from llmtrace.testing import assert_no_anomalies
>>> assert_no_anomalies("examples/llama-stack/openai-parallel-tool-calls.json", at="warning")
>>> assert_no_anomalies("examples/llama-stack/together-llama-tool-call-as-text.json", at="warning")
Traceback (most recent call last):
...
AssertionError: 1 anomaly at or above warning in examples/llama-stack/together-llama-tool-call-as-text.json:
  choice 0, chunks 0–22, characters 0–76: warning tool-call-in-text: tool call written as text in the content (llama-json): get_weather({"city":"Tokyo"}); the request declared no tools; vLLM would parse it with --tool-call-parser llama3_json --enable-auto-tool-choice

Both helpers take a ``Recording`` or a path.
"""

from __future__ import annotations

import os
from typing import Any, Iterable

__all__ = ["assert_no_anomalies", "assert_same_response", "finding_line"]


def _recording(value: Any):
    import llmtrace

    if isinstance(value, (str, os.PathLike, bytes)):
        return llmtrace.load(value)
    return value


def finding_line(source: str, anomaly: Any, several: bool = True) -> str:
    """One finding on one line: where (file, exchange, choice, chunks, characters), then the
    severity, the code and the message (credentials masked, controls escaped)."""
    from llmtrace.anomalies import place
    from llmtrace.output import one_line

    head = ": ".join(part for part in (source, place(anomaly, several)) if part)
    return one_line(f"{head}: {anomaly.severity} {anomaly.code}: {anomaly.message}" if head
                    else f"{anomaly.severity} {anomaly.code}: {anomaly.message}")


def assert_no_anomalies(recording: Any, at: str = "warning", ignore: Iterable[str] = ()) -> None:
    """Fail when the recording has findings at or above ``at`` (``info``, ``warning``,
    ``error``), listing each."""
    __tracebackhide__ = True  # pytest shows the caller's line, not this helper's
    import llmtrace

    recording = _recording(recording)
    found = llmtrace.check(recording, fail_on=at, ignore=ignore)
    if found:
        several = len(recording.exchanges) > 1
        lines = [f"  {finding_line('', a, several)}" for a in found]
        raise AssertionError(f"{len(found)} anomal{'ies' if len(found) != 1 else 'y'} at or above {at} in "
                             f"{recording.source}:\n" + "\n".join(lines))


def assert_same_response(a: Any, b: Any, ignore: Iterable[str] = (), strict: bool = False) -> None:
    """Fail when two recordings differ by meaning (as ``llmtrace diff`` compares them),
    showing the difference as ``llmtrace diff`` prints it."""
    __tracebackhide__ = True
    import io

    import llmtrace

    ra, rb = _recording(a), _recording(b)
    if not llmtrace.diff(ra, rb, strict=strict, ignore=ignore):
        return
    from rich.console import Console

    from llmtrace import compare
    from llmtrace.view import documents
    from llmtrace.render.diff import print_diff

    pairs = compare.compare_recordings(documents(ra), documents(rb), strict=strict, ignore=list(ignore))
    buffer = io.StringIO()
    console = Console(file=buffer, width=100, no_color=True, highlight=False, emoji=False, force_terminal=False)
    print_diff(ra, rb, pairs, strict, console=console)
    raise AssertionError("the responses differ:\n" + buffer.getvalue().rstrip())
