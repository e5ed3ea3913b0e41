"""``Tally``: ``scan``'s summary folded file by file, and merged from consecutive runs of files
(how the tasks of a Dask cluster give it) to the same summary as one fold."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from conftest import DATA
from llmtrace.anomalies import SEVERITY_RANK
from llmtrace.sweep import scan_file
from llmtrace.tally import EXAMPLES_PER_CODE, Tally
from llmtrace.walk import iter_inputs


@pytest.fixture(scope="module")
def results(tmp_path_factory):
    """Every file of tests/data scanned (real results: rows, anomalies, passed-over files), with
    files that fail here and there among them."""
    bad = tmp_path_factory.mktemp("bad")
    (bad / "cut.json").write_bytes(b'{"request": ')
    (bad / "empty.json").write_bytes(b"")
    (bad / "notes.json").write_bytes(b'{"hello": 1}')  # found by the walk, no recording: passed over
    cut, empty, notes = [scan_file(inp.path, inp.explicit, None, inp.error) for inp in iter_inputs([str(bad)])]
    out = [scan_file(inp.path, inp.explicit, None, inp.error) for inp in iter_inputs([str(DATA)])]
    out[50:50] = [cut]
    out[200:200] = [notes, empty]
    assert sum(1 for r in out if r["error"]) == 2 and sum(1 for r in out if r["rows"]) > 200
    assert any(r["skipped"] for r in out)
    return out


def fold(results) -> Tally:
    tally = Tally()
    for result in results:
        tally.add(result)
    return tally


def test_the_fold_counts_what_the_rows_say(results):
    tally = fold(results)
    summary = tally.summary()
    rows = [row for r in results if not r["skipped"] and not r["error"] for row in r["rows"]]
    assert summary["files"] == sum(1 for r in results if not r["skipped"])
    assert summary["skipped"] == sum(1 for r in results if r["skipped"]) == 1
    assert summary["exchanges"] == len(rows) == sum(summary["by_dialect"].values())
    assert summary["usage"]["output_tokens"] == sum(row["output_tokens"] or 0 for row in rows)
    assert [f["file"] for f in summary["failed"]] == [r["file"] for r in results if r["error"]]
    codes = [c for row in rows for c in set(row["anomalies"])]  # a code twice in one exchange counts once
    assert {code: entry["count"] for code, entry in summary["anomalies"].items()} == {c: codes.count(c) for c in set(codes)}
    for code, entry in summary["anomalies"].items():
        having = list(dict.fromkeys(row["file"] for row in rows if code in row["anomalies"]))
        assert entry["files"] == having[:EXAMPLES_PER_CODE]
    severities = [s for r in results for sev in r["severities"] for s in sev.values()]
    assert tally.worst() == max(severities, key=SEVERITY_RANK.__getitem__)
    assert Tally().worst() is None


@settings(max_examples=60, deadline=None)
@given(data=st.data())
def test_merging_consecutive_runs_gives_the_summary_of_one_fold(results, data):
    """Any cut of the files into consecutive runs (a cluster's tasks), each folded, merged in
    order: the same summary and worst severity — key order of every counter, example files,
    failed files included."""
    cuts = sorted(data.draw(st.lists(st.integers(0, len(results)), max_size=12)))
    whole = fold(results)
    merged = Tally()
    for start, end in zip([0, *cuts], [*cuts, len(results)]):
        merged.merge(fold(results[start:end]))
    assert merged.summary() == whole.summary()
    assert list(merged.summary()["by_model"]) == list(whole.summary()["by_model"])  # ties: first seen first
    assert merged.worst() == whole.worst()


@settings(max_examples=40, deadline=None)
@given(data=st.data())
def test_merging_any_runs_is_folding_them_one_after_the_other(results, data):
    """Runs that overlap or repeat files too: the merge of their tallies is the fold of all
    their files in that order (a file already among a code's examples is not listed twice)."""
    bounds = st.tuples(st.integers(0, len(results)), st.integers(0, 60))
    runs = [results[start:start + length] for start, length in data.draw(st.lists(bounds, min_size=1, max_size=6))]
    merged = Tally()
    for run in runs:
        merged.merge(fold(run))
    assert merged.summary() == fold([r for run in runs for r in run]).summary()


def test_a_merge_copies_what_it_takes(results):
    """The later tally is not changed by later merges into the earlier one."""
    first, second = fold(results[:100]), fold(results[100:200])
    before = second.summary()
    merged = Tally()
    merged.merge(second)
    merged.merge(first)
    assert second.summary() == before


def test_a_tally_for_the_exit_status_only(results):
    """``detailed=False`` (``scan --jsonl``): the same counts of files, failures and worst
    severity, no summary; it merges only with its kind."""
    light, full = Tally(detailed=False), fold(results)
    for result in results:
        light.add(result)
    assert (light.files, light.skipped, light.failed, light.worst()) == (full.files, full.skipped, full.failed,
                                                                        full.worst())
    assert light.exchanges == 0 and not light.codes
    clean = Tally(detailed=False)
    clean.add(next(r for r in results if r["rows"] and not any(r["severities"])))
    assert clean.worst() is None
    halves = Tally(detailed=False)
    for part in (results[:150], results[150:]):
        one = Tally(detailed=False)
        for result in part:
            one.add(result)
        halves.merge(one)
    assert halves.worst() == full.worst() and halves.failed == full.failed
    with pytest.raises(ValueError):
        light.summary()
    with pytest.raises(ValueError):
        full.merge(light)
