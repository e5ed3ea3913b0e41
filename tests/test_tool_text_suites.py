"""Recall and precision of the tool-call-in-text detector over the model outputs of the serving
stacks' own parser test suites (tests/data/tool_text/suites/*.jsonl, one file per source project,
each row with its source repository, path and test; see the LICENSE file there).

Each row is a model output and what the suite expects of it: ``positive`` (the server's parser
returns these calls), ``negative`` (prose, a name mentioned in text, markup the parser rejects as
no call, code shown in a fence: the parser returns no call) or ``broken`` (the family's own
markers, which the parser refuses because the call is cut off or malformed: markup in the text
all the same, reported but not scored). The request's declared tools are the names the suite's
file calls (its fixtures declare them); ``model`` is given where the suite loads a named model.

A positive is found when a match has the row's family (or lists it in ``details.also``); a
negative is a false alarm when anything matches. Run this file directly to print the figures
per family (``names``: positives whose calls are read with exactly the suite's names).
"""

from __future__ import annotations

import json
from collections import defaultdict
from pathlib import Path

import pytest

from llmtrace.anomalies.tool_text import find_tool_calls
from llmtrace.anomalies.tool_text.families import also

SUITES = Path(__file__).parent / "data" / "tool_text" / "suites"


def rows() -> list[dict]:
    found = []
    for path in sorted(SUITES.glob("*.jsonl")):
        with path.open(encoding="utf-8") as f:
            found.extend(json.loads(line) for line in f if line.strip())
    return found


def _declared(all_rows: list[dict]) -> dict[tuple[str, str], frozenset[str]]:
    names: dict[tuple[str, str], set[str]] = defaultdict(set)
    for row in all_rows:
        names[row["source"]["repo"], row["source"]["path"]].update(row["expected"])
    return {key: frozenset(value) for key, value in names.items()}


def outcome(row: dict, declared: frozenset[str]) -> tuple[bool, list]:
    """(whether the row is read as its label says, the matches)."""
    matches = find_tool_calls(row["text"], declared, False, row.get("model"))
    if row["kind"] == "negative":
        return not matches, matches
    if row["kind"] == "broken":
        return bool(matches), matches
    family = row["family"]
    return any(m.family == family or family in also(m.family) for m in matches), matches


def measure(all_rows: list[dict] | None = None) -> dict:
    all_rows = rows() if all_rows is None else all_rows
    declared = _declared(all_rows)
    per_family: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    misses: list[dict] = []
    for row in all_rows:
        ok, matches = outcome(row, declared[row["source"]["repo"], row["source"]["path"]])
        stats = per_family[row["family"]]
        stats[row["kind"]] += 1
        if row["kind"] == "positive":
            stats["found"] += ok
            stats["detected"] += bool(matches)
            stats["names"] += [c["name"] for m in matches for c in m.calls] == row["expected"]
        elif row["kind"] == "negative":
            stats["false"] += not ok
        else:
            stats["broken_read"] += ok
        if not ok and row["kind"] != "broken":
            misses.append(row)
    positives = sum(s["positive"] for s in per_family.values())
    found = sum(s["found"] for s in per_family.values())
    detected = sum(s["detected"] for s in per_family.values())
    false = sum(s["false"] for s in per_family.values())
    return {"families": per_family, "misses": misses, "positives": positives,
            "negatives": sum(s["negative"] for s in per_family.values()),
            "recall": found / positives if positives else 1.0,
            "precision": detected / (detected + false) if detected + false else 1.0}


@pytest.fixture(scope="module")
def figures() -> dict:
    return measure()


def test_the_suites_are_there_with_their_sources():
    all_rows = rows()
    assert len(all_rows) >= 300
    for row in all_rows:
        assert row["kind"] in ("positive", "negative", "broken")
        assert (row["kind"] == "positive") == bool(row["expected"])
        assert row["source"]["repo"] and row["source"]["path"] and row["source"]["test"]
    assert (SUITES / "LICENSE").is_file()


def test_overall_recall_and_precision(figures):
    assert figures["recall"] >= 0.97, [(m["family"], m["source"]["test"]) for m in figures["misses"]]
    assert figures["precision"] >= 0.99


def test_the_calls_are_read_with_their_names(figures):
    positives = figures["positives"]
    assert sum(s["names"] for s in figures["families"].values()) >= 0.95 * positives


def test_no_family_below_ninety_percent_recall(figures):
    low = {family: f"{s['found']}/{s['positive']}" for family, s in figures["families"].items()
           if s["positive"] and s["found"] / s["positive"] < 0.9}
    assert not low


def test_the_suites_negatives_are_negatives_for_check(figures):
    false = [(m["family"], m["source"]["test"]) for m in figures["misses"] if m["kind"] == "negative"]
    assert len(false) <= figures["negatives"] // 100, false


def main() -> None:
    figures = measure()
    print(f"{'family':<16} {'found':>9} {'recall':>6} {'names':>6} {'negatives':>9} {'false':>5} {'broken read':>11}")
    for family, s in sorted(figures["families"].items()):
        recall = f"{s['found'] / s['positive']:.2f}" if s["positive"] else "-"
        print(f"{family:<16} {s['found']:>4}/{s['positive']:<4} {recall:>6} {s['names']:>6} {s['negative']:>9} "
              f"{s['false']:>5} {s['broken_read']:>5}/{s['broken']:<5}")
    print(f"overall: recall {figures['recall']:.3f} over {figures['positives']} positives, precision "
          f"{figures['precision']:.3f}, {figures['negatives']} negatives")
    for miss in figures["misses"]:
        print("MISS", miss["kind"], miss["family"], miss["source"]["path"].rsplit("/", 1)[-1], miss["source"]["test"])


if __name__ == "__main__":
    main()
