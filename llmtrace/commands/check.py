"""``llmtrace check``: detect anomalies in recordings, for people (per file, compact) and for CI
(``--json``: one JSON line per input file; the exit code says whether anything reached
``--fail-on``)."""

from __future__ import annotations

import sys
from collections import Counter

from llmtrace.anomalies import CHECKS, SEVERITY_RANK, detect, place, reaches, skipped_codes
from llmtrace.commands.per_file import internal_error, passes_through, refused
from llmtrace.errors import UnreadableInput, UsageError
from llmtrace.loader import load
from llmtrace.model import Anomaly, Recording
from llmtrace.output import dumps, warn
from llmtrace.sources import iter_inputs
from llmtrace.walk import skip_unreadable


def run(paths: list[str], fail_on: str = "error", as_json: bool = False, ignore: list[str] | None = None,
        fmt: str | None = None) -> int:
    ignored = set(ignore or ())
    unknown = sorted(ignored - CHECKS.keys())
    if unknown:
        raise UsageError(f"--ignore: unknown anomaly code{'s' if len(unknown) > 1 else ''} "
                         f"{', '.join(unknown)} (known: {', '.join(sorted(CHECKS))})")
    out = _JsonLines() if as_json else _Report()
    skipped: list[str] = []
    unreadable = 0
    failed = 0
    failing = False
    for item in iter_inputs(paths, skipped):
        source = "<stdin>" if item.path == "-" else item.path
        try:
            error = refused(item)
            if error is not None:
                raise error
            recording = load(item.path, fmt=fmt)
            anomalies = [a for ex in recording.exchanges for a in detect(ex, recording) if a.code not in ignored]
            out.file(source, recording, anomalies)
        except UnreadableInput as exc:
            if skip_unreadable(item, exc):
                skipped.append(item.path)
                continue
            unreadable += 1
            out.unreadable(source, exc.line())
            warn(exc.line())
            continue
        except Exception as exc:  # noqa: BLE001 - one file's bug must not cost the others
            if passes_through(exc):
                raise
            failed += 1
            out.unreadable(source, internal_error(source, exc))
            warn(internal_error(source, exc))
            continue
        failing = failing or any(reaches(a, fail_on) for a in anomalies)
    out.close(len(skipped), unreadable, failed)
    if unreadable or failed:
        return 2
    return 1 if failing else 0


class _JsonLines:
    """``{"source", "anomalies", "error"}`` per input file, written as each file is checked."""

    def __init__(self) -> None:
        self.stdout = sys.stdout.buffer

    def _line(self, doc: dict) -> None:
        self.stdout.write(dumps(doc) + b"\n")
        self.stdout.flush()

    def file(self, source: str, recording: Recording, anomalies: list[Anomaly]) -> None:
        skipped = sorted({code for ex in recording.exchanges for code in skipped_codes(ex)})
        self._line({"source": source, "anomalies": [a.model_dump() for a in anomalies], "error": None,
                    "skipped": skipped})

    def unreadable(self, source: str, error: str) -> None:
        self._line({"source": source, "anomalies": [], "error": error, "skipped": []})

    def close(self, skipped: int, unreadable: int, failed: int) -> None:
        pass


class _Report:
    """For people: each file with findings and one line per anomaly, then the totals. Files
    without findings are only counted; details are left to ``--json``."""

    def __init__(self) -> None:
        from llmtrace.render.recording import make_console

        self.console = make_console()
        self.files = 0
        self.clean = 0
        self.counts: Counter[str] = Counter()

    def file(self, source: str, recording: Recording, anomalies: list[Anomaly]) -> None:
        from rich.table import Table
        from rich.text import Text

        from llmtrace.render.recording import SEVERITY_STYLE
        from llmtrace.render.safe import safe_text

        self.files += 1
        self.counts.update(a.severity for a in anomalies)
        if not anomalies:
            self.clean += 1
            return
        self.console.print(safe_text(source, style="bold"))
        several = len(recording.exchanges) > 1
        table = Table.grid(padding=(0, 1), pad_edge=False)
        table.add_column(no_wrap=True)  # indent
        table.add_column(no_wrap=True, min_width=len("warning"))
        table.add_column(no_wrap=True)  # code
        table.add_column(overflow="fold")
        for a in anomalies:
            line = safe_text(a.message)
            evidence = place(a, several)
            if evidence:
                line.append(f"  ({evidence})", style="dim")
            table.add_row("", Text(a.severity, style=SEVERITY_STYLE[a.severity]), Text(a.code, style="bold"), line)
        self.console.print(table)

    def unreadable(self, source: str, error: str) -> None:
        pass  # the line on stderr says it

    def close(self, skipped: int, unreadable: int, failed: int) -> None:
        if not self.files:
            return  # nothing was read: the stderr lines are the whole story
        from rich.text import Text

        from llmtrace.render.recording import SEVERITY_STYLE

        line = Text(f"{self.files} file{'s' if self.files != 1 else ''} checked, {self.clean} clean")
        for label, n in ((f"{skipped} skipped", skipped), (f"{unreadable} unreadable", unreadable),
                         (f"{failed} failed (internal error)", failed)):
            if n:
                line.append(f", {label}")
        line.append(": ")
        found = [(severity, self.counts[severity]) for severity in sorted(SEVERITY_RANK, key=SEVERITY_RANK.get,
                                                                          reverse=True) if self.counts[severity]]
        if not found:
            line.append("no anomalies", style="green")
        for n, (severity, count) in enumerate(found):
            if n:
                line.append(", ")
            line.append(f"{count} {severity}{'s' if count != 1 and severity != 'info' else ''}",
                        style=SEVERITY_STYLE[severity])
        self.console.print(line)
