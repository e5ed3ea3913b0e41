"""What ``scan``'s summary and exit status need, folded file by file: a ``Tally``.

A sweep of millions of files must not keep every file's rows to print a summary at the end. A
tally holds counts, sums, the anomaly codes with a few example files, and the files that
failed; it takes one ``scan_file`` result at a time (``add``), and two tallies of consecutive
runs of files combine into the tally of both (``merge``: a Dask task returns its tally, the
client merges them in listing order). The summary is the same whichever way it was folded:
counters keep the order in which their keys first appeared, and a merge appends the later
tally's new keys and example files after the earlier one's, as one fold over all files would.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from llmtrace.anomalies import SEVERITY_RANK

EXAMPLES_PER_CODE = 3
USAGE_KEYS = ("input_tokens", "output_tokens", "total_tokens")
_BY = ("container", "dialect", "host", "model")


class Tally:
    """The ``scan --json`` summary of the files added so far, and their worst severity."""

    __slots__ = ("files", "exchanges", "skipped", "failed", "by", "usage", "reporting", "with_usage", "codes",
                 "detailed", "_worst")

    def __init__(self, detailed: bool = True) -> None:
        """``detailed=False``: only what the exit status needs (the counts of files, the failed
        ones, the worst severity) — ``scan --jsonl`` prints no summary, and folding one costs
        about 1.5% of a file's scan."""
        self.detailed = detailed
        self._worst = -1  # the worst severity's rank, when not detailed
        self.files = 0  # read or failed (not passed over)
        self.exchanges = 0
        self.skipped = 0  # passed over: walked files that are no recording
        self.failed: list[dict[str, str]] = []
        self.by: dict[str, Counter] = {key: Counter() for key in _BY}
        self.usage: Counter = Counter()
        self.reporting: Counter = Counter()  # how many exchanges each usage total covers
        self.with_usage = 0
        self.codes: dict[str, dict[str, Any]] = {}  # code -> {"count", "severity", "files"}

    def add(self, result: dict[str, Any]) -> None:
        """One ``scan_file`` result."""
        if result["skipped"]:
            self.skipped += 1
            return
        self.files += 1
        if result["error"]:
            self.failed.append({"file": result["file"], "error": result["error"]})
            return
        if not self.detailed:
            for severities in result["severities"]:
                for severity in severities.values():
                    if SEVERITY_RANK[severity] > self._worst:
                        self._worst = SEVERITY_RANK[severity]
            return
        by, usage, reporting, codes = self.by, self.usage, self.reporting, self.codes
        for row, severities in zip(result["rows"], result["severities"]):
            self.exchanges += 1
            for key, counter in by.items():
                counter[row[key] or "—"] += 1
            if row["input_tokens"] is not None or row["output_tokens"] is not None:
                self.with_usage += 1
            for key in USAGE_KEYS:
                if row[key] is not None:
                    usage[key] += row[key]
                    reporting[key] += 1
            for code, severity in severities.items():
                entry = codes.get(code)
                if entry is None:
                    entry = codes[code] = {"count": 0, "severity": severity, "files": []}
                entry["count"] += 1
                if SEVERITY_RANK[severity] > SEVERITY_RANK[entry["severity"]]:
                    entry["severity"] = severity
                if len(entry["files"]) < EXAMPLES_PER_CODE and row["file"] not in entry["files"]:
                    entry["files"].append(row["file"])

    def merge(self, later: Tally) -> None:
        """Fold in the tally of the files that come after this one's."""
        if later.detailed != self.detailed:
            raise ValueError("a detailed tally merges only with a detailed one")
        self._worst = max(self._worst, later._worst)
        self.files += later.files
        self.exchanges += later.exchanges
        self.skipped += later.skipped
        self.failed.extend(later.failed)
        for key, counter in self.by.items():
            counter.update(later.by[key])
        self.usage.update(later.usage)
        self.reporting.update(later.reporting)
        self.with_usage += later.with_usage
        for code, theirs in later.codes.items():
            entry = self.codes.get(code)
            if entry is None:
                self.codes[code] = {"count": theirs["count"], "severity": theirs["severity"],
                                    "files": list(theirs["files"])}
                continue
            entry["count"] += theirs["count"]
            if SEVERITY_RANK[theirs["severity"]] > SEVERITY_RANK[entry["severity"]]:
                entry["severity"] = theirs["severity"]
            for name in theirs["files"]:
                if len(entry["files"]) >= EXAMPLES_PER_CODE:
                    break
                if name not in entry["files"]:
                    entry["files"].append(name)

    def worst(self) -> str | None:
        """The highest severity of any anomaly found, or None."""
        if not self.detailed:
            return next((name for name, rank in SEVERITY_RANK.items() if rank == self._worst), None)
        return max((entry["severity"] for entry in self.codes.values()), key=SEVERITY_RANK.__getitem__, default=None)

    def summary(self) -> dict[str, Any]:
        """The ``scan --json`` summary (contracts.md); of a detailed tally only."""
        if not self.detailed:
            raise ValueError("a tally made with detailed=False has no summary")
        ordered = dict(sorted(self.codes.items(),
                              key=lambda kv: (-SEVERITY_RANK[kv[1]["severity"]], -kv[1]["count"], kv[0])))
        return {
            "files": self.files,
            "exchanges": self.exchanges,
            "skipped": self.skipped,
            "failed": self.failed,
            **{f"by_{key}": dict(counter.most_common()) for key, counter in self.by.items()},
            "usage": {**{k: self.usage[k] for k in USAGE_KEYS}, "exchanges_with_usage": self.with_usage,
                      "exchanges_reporting": {k: self.reporting[k] for k in USAGE_KEYS}},
            "anomalies": ordered,
        }
