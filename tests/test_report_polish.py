"""The report pages in Chromium, light and dark: long model names fit the folder index (cut with
an ellipsis, whole in the title), "1 exchange", TTFT with its unit, the diff's JSON given room
(stacked on a narrow screen), "finish stop" in the chunk table as ``show`` says it, the stream's
chunks in alternating tints, a dark theme that follows ``prefers-color-scheme``; and the pages
stay byte-identical for the same input."""

from __future__ import annotations

import json
import shutil

import pytest

from conftest import SEED
from test_report import CHROMIUM, TIMED, _open, _report, browser  # noqa: F401 - browser is a fixture

LONG_MODEL = "accounts/fireworks/models/an-unusually-long-fine-tuned-model-name-with-a-version-suffix-2025-08-15"
PARALLEL = SEED.parent.parent.parent.parent.parent / "examples" / "llama-stack" / "openai-parallel-tool-calls.json"
TEXT = SEED.parent.parent.parent.parent.parent / "examples" / "llama-stack" / "together-llama-tool-call-as-text.json"

browser_only = pytest.mark.skipif(CHROMIUM is None, reason="Chromium is not installed (apt-get install -y chromium)")


def long_model_recording(folder):
    text = TIMED.read_text()
    model = json.loads(text)["request"]["body"]["model"]
    path = folder / "long-model.json"
    path.write_text(text.replace(json.dumps(model), json.dumps(LONG_MODEL)))
    return path


def test_pages_stay_byte_identical_and_say_what_show_says(tmp_path):
    first, second = tmp_path / "1.html", tmp_path / "2.html"
    assert _report(str(TEXT), "-o", str(first)).returncode == 0
    assert _report(str(TEXT), "-o", str(second)).returncode == 0
    page = first.read_text()
    assert page == second.read_text()
    assert '<span class="note">finish stop</span>' in page
    assert 'class="text k0"' in page and 'class="text k1"' in page
    assert "@media (prefers-color-scheme:dark)" in page


def test_folder_of_one_says_one_exchange_and_ttft_in_seconds(tmp_path):
    folder = tmp_path / "one"
    folder.mkdir()
    shutil.copy(TIMED, folder / "timed.json")
    target = tmp_path / "folder.html"
    assert _report(str(folder), "-o", str(target)).returncode == 0
    page = target.read_text()
    assert "1 recording, 1 exchange." in page and "1 exchanges" not in page
    assert "median " in page and " s, 1 exchange</text>" in page


@browser_only
@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_folder_index_fits_long_model_names(browser, tmp_path, scheme):  # noqa: F811
    folder = tmp_path / "recs"
    folder.mkdir()
    long_model_recording(folder)
    shutil.copy(TEXT, folder / "text.json")
    target = tmp_path / "folder.html"
    assert _report(str(folder), "-o", str(target)).returncode == 0
    page, problems = _open(browser, target)
    page.emulate_media(color_scheme=scheme)
    page.set_viewport_size({"width": 1000, "height": 800})
    cell = page.locator("table.index td.clip", has_text="an-unusually-long").first
    assert cell.get_attribute("title") == LONG_MODEL
    fits = page.evaluate("""() => {
        const c = [...document.querySelectorAll('table.index td.clip')].find(td => td.title.includes('unusually'));
        return {cut: c.scrollWidth > c.clientWidth, ellipsis: getComputedStyle(c).textOverflow,
                table: document.querySelector('table.index').scrollWidth, body: document.body.clientWidth};
    }""")
    assert fits["cut"] and fits["ellipsis"] == "ellipsis" and fits["table"] <= fits["body"]
    background = page.evaluate("getComputedStyle(document.body).backgroundColor")
    assert background == ("rgb(255, 255, 255)" if scheme == "light" else "rgb(17, 24, 39)")
    assert problems == []
    page.close()


@browser_only
def test_diff_page_gives_json_room_and_stacks_on_narrow_screens(browser, tmp_path):  # noqa: F811
    target = tmp_path / "diff.html"
    assert _report("--diff", str(PARALLEL), str(TEXT), "-o", str(target)).returncode == 0
    page, problems = _open(browser, target)
    cell = "table.diff tbody td[data-side=B]"
    page.set_viewport_size({"width": 1100, "height": 900})
    wide = page.evaluate(f"() => {{ const b = document.querySelector('{cell}'), a = b.previousElementSibling;"
                         "return {display: getComputedStyle(b).display, side: a.getBoundingClientRect().top"
                         " === b.getBoundingClientRect().top, width: b.getBoundingClientRect().width}; }")
    assert wide["display"] == "table-cell" and wide["side"] and wide["width"] > 300
    page.set_viewport_size({"width": 480, "height": 900})
    narrow = page.evaluate(f"() => {{ const b = document.querySelector('{cell}'), a = b.previousElementSibling;"
                           "return {display: getComputedStyle(b).display, below: b.getBoundingClientRect().top"
                           " > a.getBoundingClientRect().top, label: getComputedStyle(b, '::before').content,"
                           " overflow: document.documentElement.scrollWidth <= window.innerWidth}; }")
    assert narrow == {"display": "block", "below": True, "label": '"B"', "overflow": True}
    assert problems == []
    page.close()


@browser_only
def test_chunks_alternate_tints_and_the_finish_row_reads_like_show(browser, tmp_path):  # noqa: F811
    target = tmp_path / "text.html"
    assert _report(str(TEXT), "-o", str(target)).returncode == 0
    page, problems = _open(browser, target)
    tints = page.evaluate("[...document.querySelectorAll('.cuts a')].slice(0, 4)"
                          ".map(a => getComputedStyle(a).backgroundColor)")
    assert len(set(tints)) == 2 and tints[0] == tints[2] and tints[1] == tints[3]
    assert "".join(page.locator(".cuts a").all_inner_texts()) == page.locator(".choice .text").first.inner_text()
    page.locator(".cuts a").nth(5).click()
    assert page.evaluate("location.hash").endswith("-k5")
    assert page.locator("table.chunks tr", has_text="finish stop").count() == 1
    assert problems == []
    page.close()


def test_the_readme_shows_every_report_screenshot_light_and_dark():
    import re

    root = TEXT.parent.parent.parent
    readme = (root / "README.md").read_text()
    shots = set(re.findall(r"examples/report/[\w.-]+\.png", readme))
    assert shots and all((root / shot).is_file() for shot in shots)
    light = {s for s in shots if not s.endswith("-dark.png")}
    assert {s.replace(".png", "-dark.png") for s in light} <= shots
