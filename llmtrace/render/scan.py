"""The ``scan`` summary as a rich renderable: tables by container, dialect, host and model,
usage totals, anomalies by code with example files, and the files that failed."""

from __future__ import annotations

from typing import Any

from rich.console import Console, ConsoleOptions, Group, RenderResult
from rich.table import Table
from rich.text import Text

from llmtrace.render.safe import safe_text

SEVERITY_STYLE = {"error": "bold red", "warning": "yellow", "info": "cyan"}


class ScanSummary:
    def __init__(self, summary: dict[str, Any]):
        self.summary = summary

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        s = self.summary
        head = Text(f"{s['files']} files, {s['exchanges']} exchanges", style="bold")
        if s["skipped"]:
            head.append(f", {s['skipped']} skipped (not recordings)")
        if s["failed"]:
            head.append(f", {len(s['failed'])} unreadable", style="red")
        yield head
        counts = [self._counts(title, s[f"by_{key}"]) for key, title in
                  (("container", "container"), ("dialect", "dialect"), ("host", "host"), ("model", "model"))]
        yield Group(*counts)
        yield self._usage(s["usage"], s["exchanges"])
        if s["anomalies"]:
            yield self._anomalies(s["anomalies"])
        else:
            yield Text("no anomalies", style="green")
        if s["failed"]:
            table = Table(title="unreadable files", title_justify="left", expand=False)
            table.add_column("file", overflow="fold")
            table.add_column("reason", overflow="fold")
            for item in s["failed"]:
                reason = item["error"]
                prefix = item["file"] + ": "
                table.add_row(safe_text(item["file"]), safe_text(reason[len(prefix):] if reason.startswith(prefix) else reason))
            yield table

    @staticmethod
    def _counts(title: str, counts: dict[str, int]) -> Table:
        table = Table(title=f"exchanges by {title}", title_justify="left", show_edge=False, pad_edge=False)
        table.add_column(title, overflow="fold")
        table.add_column("exchanges", justify="right")
        for name, count in counts.items():
            table.add_row(safe_text(str(name)), str(count))
        return table

    @staticmethod
    def _usage(usage: dict[str, Any], exchanges: int) -> Table:
        """One row per total, with how many exchanges it covers ("over 3 of 7 exchanges") where
        some did not report it."""
        table = Table(title="usage (reported tokens)", title_justify="left", show_edge=False, pad_edge=False)
        table.add_column("")
        table.add_column("tokens", justify="right")
        table.add_column("over")
        reporting = usage.get("exchanges_reporting", {})
        for key in ("input", "output", "total"):
            covered = reporting.get(f"{key}_tokens", exchanges)
            over = (f"all {exchanges} exchange{'s' if exchanges != 1 else ''}" if covered == exchanges
                    else f"{covered} of {exchanges} exchange{'s' if exchanges != 1 else ''}")
            table.add_row(key, f"{usage[f'{key}_tokens']:,}", Text(over, style=None if covered == exchanges else "yellow"))
        return table

    @staticmethod
    def _anomalies(anomalies: dict[str, dict[str, Any]]) -> Table:
        table = Table(title="anomalies", title_justify="left", show_edge=False, pad_edge=False)
        table.add_column("code")
        table.add_column("severity")
        table.add_column("exchanges", justify="right")
        table.add_column("example files", overflow="fold")
        for code, entry in anomalies.items():
            examples = Text("\n").join(safe_text(f) for f in entry["files"])
            table.add_row(Text(code), Text(entry["severity"], style=SEVERITY_STYLE[entry["severity"]]),
                          str(entry["count"]), examples)
        return table
