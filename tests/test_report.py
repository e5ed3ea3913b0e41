"""``llmtrace report``: self-contained HTML pages, checked as files and, where Chromium is
installed (Debian's ``chromium``; ``.ci/run`` installs it), opened in a real headless browser
driven by playwright: no console errors, one chart point per chunk, anomaly spans marked at the
right text, index links that open their section, hostile recordings that run nothing."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import orjson
import pytest

from conftest import CORPUS, SEED
from llmtrace.render import chart
from llmtrace.timeline import Entry

TIMED = CORPUS / "llama-stack" / "ollama-generate-stream" / "120f40661861.json"
CASSETTE = Path(__file__).parent / "data" / "cassettes" / "mirascope" / "cassettes--test_versioned_context_call_stream_method.yaml"
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
KEY = "sk-" + "proj-" + "Qw7" * 16  # made here, never committed


def _report(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "llmtrace", "report", *args], capture_output=True, text=True,
                          cwd=cwd, timeout=120)


def _hostile(tmp_path: Path) -> Path:
    doc = orjson.loads(SEED.read_bytes())
    payload = ('<script>window.pwned = 1</script><img src=x onerror="window.pwned = 2">'
               '<a href="javascript:window.pwned=3">x</a>]]><!-- \x1b[31m \u202e ')
    doc["request"]["body"]["messages"][0]["content"] = payload + f" key {KEY}"
    doc["request"]["body"]["model"] = "<b>model</b>"
    for chunk in doc["response"]["body"][:1]:
        chunk["__data__"]["choices"][0]["delta"]["content"] = payload
    doc["request"]["url"] = "javascript:alert(1)//" + doc["request"]["url"]
    target = tmp_path / "hostile.json"
    target.write_bytes(orjson.dumps(doc))
    return target


# --- the chart -----------------------------------------------------------------------------------


def _entries(n: int, timed: bool = True) -> list[Entry]:
    return [Entry(i, i * 0.1 if timed else None, 0.1 if timed and i else None, f"w{i} ", None, "content")
            for i in range(n)]


def test_one_point_per_chunk_and_the_axis_says_what_x_is():
    series, timed = chart.series_of("s", _entries(30))
    svg = chart.svg([series], chart.axis_for([series], timed, False))
    assert svg.count('class="point"') == 30 and "seconds since the first chunk" in svg
    series, timed = chart.series_of("s", _entries(30, timed=False))
    svg = chart.svg([series], chart.axis_for([series], timed, False))
    assert not timed and "chunk index (this recording has no per-chunk times)" in svg


def test_stalls_are_shaded_and_ttft_marked_only_with_a_request_start():
    entries = _entries(10)
    entries[6] = entries[6]._replace(offset_s=3.5, gap_s=3.0)
    entries[7:] = [e._replace(offset_s=e.offset_s + 2.9) for e in entries[7:]]
    series, _ = chart.series_of("s", entries, started_offset=0.4, ttft_s=0.4)
    [(start, end)] = series.stalls
    assert (start, end) == (pytest.approx(0.9), pytest.approx(3.9)) and series.ttft_x == 0.4
    assert chart.series_of("s", entries, ttft_s=0.4)[0].ttft_x is None  # no request start: no invented TTFT


def test_big_streams_are_drawn_from_a_subset():
    series, timed = chart.series_of("s", _entries(100_000))
    svg = chart.svg([series], chart.axis_for([series], timed, False))
    assert svg.count('class="point"') <= chart.MAX_POINTS + 1 and "of 100,000 chunks drawn" in svg


def test_chart_text_is_escaped():
    series, timed = chart.series_of("<s>", [Entry(0, 0.0, None, "</title><script>x</script>", None, "content")])
    svg = chart.svg([series, series], chart.axis_for([series], timed, False))
    assert "<script>" not in svg and "&lt;script&gt;" in svg


# --- the pages -------------------------------------------------------------------------------------


def test_single_recording_page_is_self_contained_and_deterministic(tmp_path):
    first, second = tmp_path / "a.html", tmp_path / "b.html"
    assert _report(str(TIMED), "-o", str(first)).returncode == 0
    assert _report(str(TIMED), "-o", str(second)).returncode == 0
    html = first.read_text()
    assert html == second.read_text()  # byte-identical: no clock, no random ids
    _assert_self_contained(html)
    assert "chunks+times" in html and "seconds since the first chunk" in html


def _assert_self_contained(html: str) -> None:
    """Nothing that fetches: src/href only to anchors in the page, no url( or @import."""
    for attr, value in re.findall(r'\b(src|href|action|poster|srcset)\s*=\s*"([^"]*)"', html):
        assert value.startswith("#"), (attr, value)
    assert "url(" not in html and "@import" not in html
    # The only absolute URIs are SVG's namespace (not a fetch) and recorded text shown as text.
    assert "<link" not in html and "<iframe" not in html


def test_default_output_and_path_on_stderr(tmp_path):
    result = _report(str(TIMED), cwd=tmp_path)
    assert result.returncode == 0 and result.stderr.strip() == "llmtrace: report written to report.html"
    assert (tmp_path / "report.html").exists()
    result = _report("--svg", str(TIMED), cwd=tmp_path)
    assert result.returncode == 0 and (tmp_path / "report.svg").read_text().startswith("<?xml")


def test_hostile_text_is_text_and_secrets_are_masked(tmp_path):
    target = tmp_path / "out.html"
    assert _report(str(_hostile(tmp_path)), "-o", str(target)).returncode == 0
    html = target.read_text()
    assert "<script>window.pwned" not in html and "&lt;script&gt;window.pwned" in html
    assert 'onerror="window' not in html and "<b>model</b>" not in html
    assert "\x1b" not in html and "\u202e" not in html and "\\x1b" in html
    assert KEY not in html and KEY[-12:] not in html
    _assert_self_contained(html)


def test_unreadable_input_is_listed_and_exit_2(tmp_path):
    folder = tmp_path / "recs"
    folder.mkdir()
    shutil.copy(TIMED, folder / "good.json")
    (folder / "bad.json").write_text('{"request": ')
    target = tmp_path / "out.html"
    result = _report(str(folder), "-o", str(target))
    assert result.returncode == 2 and "bad.json: cut off mid-JSON" in result.stderr
    html = target.read_text()
    assert "unreadable" in html and "bad.json" in html and "good.json" in html


def test_diff_page_and_svg(tmp_path):
    target = tmp_path / "diff.html"
    result = _report("--diff", str(SEED), str(TIMED), "-o", str(target))
    assert result.returncode == 0, result.stderr
    html = target.read_text()
    assert "request.model" in html and ("<del>" in html or "<ins>" in html)
    assert _report("--diff", str(SEED), str(TIMED), str(SEED)).returncode == 2  # --diff takes just the two
    svg = tmp_path / "both.svg"
    assert _report("--diff", str(SEED), str(TIMED), "--svg", "-o", str(svg)).returncode == 0
    assert svg.read_text().count("<polyline") == 2


# --- in a real browser -------------------------------------------------------------------------------

browser_only = pytest.mark.skipif(CHROMIUM is None, reason="Chromium is not installed (apt-get install -y chromium)")


@pytest.fixture(scope="module")
def browser():
    if CHROMIUM is None:
        pytest.skip("Chromium is not installed (apt-get install -y chromium)")
    playwright = pytest.importorskip("playwright.sync_api", reason="playwright is not installed")
    with playwright.sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=[
            "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
            "--disable-component-update", "--disable-sync"])
        yield b
        b.close()


def _open(browser, path: Path):
    page = browser.new_page()
    problems: list[str] = []
    page.on("console", lambda m: problems.append(f"{m.type}: {m.text}") if m.type in ("error", "warning") else None)
    page.on("pageerror", lambda e: problems.append(f"pageerror: {e}"))
    page.on("dialog", lambda d: (problems.append(f"dialog: {d.message}"), d.dismiss()))
    page.on("request", lambda r: problems.append(f"request: {r.url}") if not r.url.startswith("file:") else None)
    page.goto(path.resolve().as_uri())
    return page, problems


@browser_only
def test_timed_stream_in_the_browser(browser, tmp_path):
    target = tmp_path / "timed.html"
    assert _report(str(TIMED), "-o", str(target)).returncode == 0
    page, problems = _open(browser, target)
    chunks = len(orjson.loads(TIMED.read_bytes())["response"]["body"])
    assert page.locator("svg.chart circle.point").count() == chunks
    # The tool call written as text is marked at exactly the text the finding's span names.
    content = page.locator(".choice .text").first.inner_text()
    marked = page.locator(".choice mark").all_inner_texts()
    assert marked and "".join(marked) in content and "get_weather" in "".join(marked)
    page.locator(".choice mark a").first.click()
    assert page.evaluate("location.hash").endswith("-a0")
    assert problems == []
    page.close()


@browser_only
def test_folder_index_links_open_their_section(browser, tmp_path):
    folder = tmp_path / "recs"
    folder.mkdir()
    for n, source in enumerate([TIMED, SEED, CASSETTE]):
        shutil.copy(source, folder / f"{n}-{source.name}")
    target = tmp_path / "folder.html"
    assert _report(str(folder), "-o", str(target)).returncode == 0
    page, problems = _open(browser, target)
    rows = page.locator("table.index tbody tr")
    assert rows.count() == 1 + 1 + 5  # the cassette holds five exchanges
    assert page.locator("section.exchange").count() == 0  # nothing drawn before it is asked for
    page.locator("table.index a", has_text="2-cassettes").nth(2).click()
    assert page.evaluate("document.getElementById('f2').open") is True
    assert page.locator("#f2x2").is_visible()
    page.locator("table.index th", has_text="chunks").click()
    assert problems == []
    page.close()


@browser_only
def test_a_hostile_recording_runs_nothing(browser, tmp_path):
    target = tmp_path / "hostile.html"
    assert _report(str(_hostile(tmp_path)), "-o", str(target)).returncode == 0
    page, problems = _open(browser, target)
    page.locator("details summary", has_text="request").first.click()
    assert page.evaluate("window.pwned") is None
    assert page.locator("text=<script>window.pwned = 1</script>").count() >= 1
    assert [p for p in problems if not p.startswith("request:")] == [] and not any(
        p.startswith("request:") for p in problems)
    page.close()


def test_a_long_legend_label_is_cut_in_the_middle_and_kept_whole_in_its_title():
    """A diff's legend names each recording by its path: a deep one must not run out of the chart."""
    long_a = "A: /" + "/".join(["a-folder-with-a-long-name"] * 8) + "/recording-a.json"
    long_b = "B: /" + "/".join(["another-folder-name"] * 8) + "/recording-b.json"
    entries = [chart_entry(0, 0.1, "hi"), chart_entry(1, 0.2, " there")]
    series = [chart.series_of(label, entries)[0] for label in (long_a, long_b)]
    page = chart.svg(series, chart.axis_for(series, True, False))
    legends = re.findall(r'<text class="legend"[^>]*>([^<]*)<title>([^<]*)</title>', page)
    assert [title for _, title in legends] == [long_a, long_b]
    for shown, whole in legends:
        assert len(shown) <= chart.LEGEND_CHARS < len(whole) and "…" in shown
        assert shown.startswith("A: /" if whole.startswith("A") else "B: /") and shown.endswith(whole[-12:])


def chart_entry(index: int, offset: float, text: str):
    from llmtrace import timeline

    return timeline.Entry(index, offset, None, text, None, None)
