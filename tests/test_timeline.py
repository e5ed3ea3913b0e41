"""llmtrace.timeline: entries per chunk, percentiles, stalls, TTFT and tokens/s — from real
times and reported durations only."""

from __future__ import annotations

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from conftest import corpus
from llmtrace import timeline
from llmtrace.loader import load
from llmtrace.model import Delta, Message, Result, Timeline, Usage


def result(n: int, deltas: list[Delta], times=None, timing="none", durations=None, output_tokens=None,
           contents=("",)) -> Result:
    return Result(
        choices=[Message(index=i, content=c) for i, c in enumerate(contents)],
        usage=Usage(output_tokens=output_tokens),
        timeline=Timeline(chunks=n, deltas=deltas, times=times, timing=timing, durations=durations or {}),
    )


# --- percentile --------------------------------------------------------------------------------


def test_percentile_interpolates_between_ranks():
    values = [4.0, 1.0, 3.0, 2.0]
    assert timeline.percentile(values, 0) == 1.0
    assert timeline.percentile(values, 100) == 4.0
    assert timeline.percentile(values, 50) == pytest.approx(2.5)
    assert timeline.percentile(values, 95) == pytest.approx(3.85)  # numpy.percentile(values, 95)
    assert timeline.percentile([7.0], 95) == 7.0
    assert timeline.percentile([], 50) is None


@given(st.lists(st.floats(min_value=0, max_value=1e6), min_size=1, max_size=50),
       st.floats(min_value=0, max_value=100), st.floats(min_value=0, max_value=100))
def test_percentile_stays_in_range_and_grows_with_q(values, q1, q2):
    lo, hi = sorted((q1, q2))
    p_lo, p_hi = timeline.percentile(values, lo), timeline.percentile(values, hi)
    assert min(values) <= p_lo <= max(values)
    assert p_lo <= p_hi + 1e-9


# --- entries -----------------------------------------------------------------------------------


def test_entries_one_per_chunk_with_offsets_gaps_text_and_token_ids():
    deltas = [Delta(0, 0, "reasoning", "think", 11), Delta(1, 0, "content", "He", 12), Delta(1, 0, "content", "llo", 13),
              Delta(3, 0, "tool", '{"a":', None), Delta(3, 0, "content", "x", None)]
    times = [100.0, 100.5, None, 102.0]
    rows = timeline.entries(result(4, deltas, times, "har"))
    assert [e.index for e in rows] == [0, 1, 2, 3]
    assert [e.offset_s for e in rows] == [0.0, 0.5, None, 2.0]
    # No gap across an unknown time: the wait before chunk 3 is not known chunk by chunk.
    assert [e.gap_s for e in rows] == [None, 0.5, None, None]
    assert [e.text for e in rows] == ["think", "Hello", "", '{"a":x']
    assert [e.token_id for e in rows] == [11, 12, None, None]
    assert [e.kind for e in rows] == ["reasoning", "content", None, "mixed"]


def test_entries_count_from_the_first_known_time():
    rows = timeline.entries(result(3, [], [None, 50.0, 50.25], "har"))
    assert [e.offset_s for e in rows] == [None, 0.0, 0.25]
    assert [e.gap_s for e in rows] == [None, None, 0.25]


def test_no_times_means_no_offsets_and_no_gaps():
    rows = timeline.entries(result(2, [Delta(0, 0, "content", "a"), Delta(1, 0, "content", "b")]))
    assert all(e.offset_s is None and e.gap_s is None for e in rows)
    summary = timeline.summarize(result(2, [Delta(0, 0, "content", "a")]))
    assert summary.timing == "none"
    assert (summary.ttft_s, summary.gap_p50_s, summary.gap_p95_s, summary.tokens_per_second,
            summary.longest_stall, summary.span_s) == (None,) * 6
    assert summary.first_text == (0, None)


def test_a_non_streamed_body_has_no_entries():
    summary = timeline.summarize(result(0, [Delta(0, 0, "content", "whole answer")], contents=("whole answer",)))
    assert summary.entries == []
    assert timeline.observed(result(0, [Delta(0, 0, "content", "x")], contents=("whole answer",))) == (0, 0, 12)


# --- summary -----------------------------------------------------------------------------------


def test_stall_percentiles_and_first_text():
    times = [10.0, 10.1, 10.2, 12.2, 12.3, 12.4]
    deltas = [Delta(i, 0, "content", "t") for i in range(2, 6)]
    s = timeline.summarize(result(6, deltas, times, "created_at", output_tokens=4))
    assert s.longest_stall == timeline.Stall(after_chunk=2, seconds=2.0)
    assert s.gap_p50_s == pytest.approx(0.1)
    assert s.gap_p95_s == pytest.approx(1.62)
    assert s.first_text == (2, 0.2)
    assert s.span_s == pytest.approx(2.4)
    # No server durations: output tokens over the span from the first to the last chunk.
    assert s.tokens_per_second == pytest.approx(4 / 2.4, abs=0.01)
    assert s.tokens_per_second_basis == timeline.TPS_FROM_TIMES
    assert s.ttft_s is None  # chunk times never give a time to first token


def test_durations_give_ttft_and_tokens_per_second():
    durations = {"load_duration": 0.5, "prompt_eval_duration": 1.25, "eval_duration": 2.0, "total_duration": 4.0}
    s = timeline.summarize(result(0, [], timing="durations", durations=durations, output_tokens=50))
    assert s.ttft_s == 1.75
    assert s.tokens_per_second == 25.0
    assert s.tokens_per_second_basis == timeline.TPS_FROM_DURATIONS


def test_missing_durations_mean_unknown_not_zero():
    s = timeline.summarize(result(0, [], timing="durations", durations={"prompt_eval_duration": 1.0},
                                  output_tokens=50))
    assert s.ttft_s is None  # load_duration not reported: unknown, not 0
    assert s.tokens_per_second is None  # no eval_duration, no chunk times
    s = timeline.summarize(result(0, [], timing="durations", durations={"eval_duration": 2.0}))
    assert s.tokens_per_second is None  # eval_count not reported


def test_durations_win_over_chunk_times_for_tokens_per_second():
    s = timeline.summarize(result(2, [], [1.0, 2.0], "created_at", {"eval_duration": 0.5}, output_tokens=10))
    assert (s.tokens_per_second, s.tokens_per_second_basis) == (20.0, timeline.TPS_FROM_DURATIONS)


def test_none_result_is_empty():
    assert timeline.summarize(None) == timeline.EMPTY
    assert timeline.observed(None) == (0, 0, 0)


def test_observed_counts_content_chunks_and_characters():
    deltas = [Delta(0, 0, "reasoning", "hm"), Delta(1, 0, "content", "ab"), Delta(1, 1, "content", "c"),
              Delta(2, 0, "tool", "{}")]
    assert timeline.observed(result(3, deltas, contents=("ab", "c"))) == (3, 1, 3)


def test_summary_json_shape():
    s = timeline.summarize(result(2, [Delta(1, 0, "content", "x", 5)], [3.0, 3.5], "har"))
    doc = timeline.summary_json(s)
    assert doc == {
        "timing": "har", "ttft_s": None, "gap_p50_s": 0.5, "gap_p95_s": 0.5, "tokens_per_second": None,
        "longest_stall": {"after_chunk": 0, "seconds": 0.5},
        "entries": [{"index": 0, "offset_s": 0.0, "gap_s": None, "text": "", "token_id": None},
                    {"index": 1, "offset_s": 0.5, "gap_s": 0.5, "text": "x", "token_id": 5}],
    }
    orjson.dumps(doc)


# --- real recordings ---------------------------------------------------------------------------


def _ollama_stream_with_times():
    for path in corpus("ollama-generate-stream"):
        exchange = load(str(path)).exchanges[0]
        if exchange.result.timeline.timing == "created_at":
            return path, exchange
    pytest.fail("no Ollama stream with created_at times in the corpus")


def test_ollama_stream_times_and_durations_match_the_file():
    path, exchange = _ollama_stream_with_times()
    lines = [item["__data__"] for item in orjson.loads(path.read_bytes())["response"]["body"]]
    done = lines[-1]
    s = timeline.summarize(exchange.result)
    assert len(s.entries) == len(lines)
    assert [e.text for e in s.entries] == [line["response"] for line in lines]
    assert s.ttft_s == pytest.approx((done["load_duration"] + done["prompt_eval_duration"]) / 1e9, abs=1e-6)
    assert s.tokens_per_second == pytest.approx(done["eval_count"] / (done["eval_duration"] / 1e9), abs=0.01)
    assert s.entries[0].offset_s == 0.0
    gaps = [e.gap_s for e in s.entries[1:]]
    assert all(g is not None and g >= 0 for g in gaps)
    assert s.longest_stall.seconds == max(gaps)
    assert s.entries[s.longest_stall.after_chunk + 1].gap_s == max(gaps)


def test_corpus_streams_without_times_say_so():
    for path in corpus("openai-chat-stream"):
        s = timeline.summarize(load(str(path)).exchanges[0].result)
        assert s.timing == "none"
        assert all(e.offset_s is None for e in s.entries)


@st.composite
def streams(draw):
    n = draw(st.integers(min_value=0, max_value=40))
    steps = draw(st.lists(st.floats(min_value=0, max_value=5), min_size=n, max_size=n))
    known = draw(st.lists(st.booleans(), min_size=n, max_size=n))
    times, t = [], 1.7e9
    for step, k in zip(steps, known):
        t += step
        times.append(t if k else None)
    deltas = draw(st.lists(st.tuples(st.integers(min_value=0, max_value=max(n - 1, 0)),
                                     st.sampled_from(["content", "reasoning", "tool"]), st.text(min_size=1)),
                           max_size=60)) if n else []
    deltas = [Delta(c, 0, kind, text) for c, kind, text in sorted(deltas, key=lambda d: d[0])]
    return n, times, deltas


@given(streams())
def test_summary_invariants(stream):
    n, times, deltas = stream
    s = timeline.summarize(result(n, deltas, times, "har"))
    assert [e.index for e in s.entries] == list(range(n))
    assert "".join(e.text for e in s.entries) == "".join(d.text for d in deltas)
    gaps = [e.gap_s for e in s.entries if e.gap_s is not None]
    if gaps:
        assert s.gap_p50_s <= s.gap_p95_s + 1e-9 <= s.longest_stall.seconds + 2e-9
        assert s.longest_stall.seconds == max(gaps)
    else:
        assert s.longest_stall is None and s.gap_p50_s is None
    offsets = [e.offset_s for e in s.entries if e.offset_s is not None]
    assert offsets == sorted(offsets) and (not offsets or offsets[0] == 0.0)


def test_har_request_start_gives_a_real_ttft_and_receive_time_a_rate():
    deltas = [Delta(1, 0, "content", "Hi")]
    s = timeline.summarize(result(3, deltas, [10.5, 10.75, 11.0], "har", output_tokens=5),
                           {"started": 10.0, "wait": 0.4, "receive": 0.6})
    assert (s.ttft_s, s.ttft_basis) == (0.75, timeline.TTFT_FROM_START)  # first text chunk − request start
    assert s.har_timings == {"wait": 0.4, "receive": 0.6}
    # HAR timings without per-chunk times: no TTFT (wait is the first byte, not a token), rate from receive.
    s = timeline.summarize(result(3, deltas, output_tokens=6), {"started": 10.0, "wait": 0.4, "receive": 0.5})
    assert s.timing == "har" and s.ttft_s is None
    assert (s.tokens_per_second, s.tokens_per_second_basis) == (12.0, timeline.TPS_FROM_RECEIVE)
