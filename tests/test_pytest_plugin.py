"""The pytest plugin, run the way a user runs it: a sample project (real cassettes from
tests/data, a cut-off one and a leaky one made here) checked by a pytest in a subprocess, with
pytest-recording installed and with its import blocked."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml

from conftest import DATA

pytest_plugins = ["pytester"]

CLEAN = DATA / "cassettes" / "crewAI" / "cassettes--test_usage_info_streaming_with_acall.yaml"
TWO = DATA / "cassettes" / "openllmetry" / \
    "test_finish_reasons--TestChatCompletionsFinishReasons.test_chat_streaming_sets_top_level_finish_reasons.yaml"
KEY = "sk-" + "proj-" + "Zx9" * 16  # made here: a committed key-shaped string is refused by secret scanners


def _cut(source: Path) -> str:
    """The cassette with its streamed body cut before the finish: a no-finish error."""
    doc = yaml.safe_load(source.read_text())
    body = doc["interactions"][0]["response"]["body"]["string"]
    events = body.split("\n\n")
    doc["interactions"][0]["response"]["body"]["string"] = "\n\n".join(events[:3]) + "\n\n"
    return yaml.safe_dump(doc)


def _leaky(source: Path) -> str:
    doc = yaml.safe_load(source.read_text())
    doc["interactions"][0]["request"]["headers"]["authorization"] = [f"Bearer {KEY}"]
    return yaml.safe_dump(doc)


@pytest.fixture
def project(pytester: pytest.Pytester) -> pytest.Pytester:
    cassettes = pytester.path / "tests" / "cassettes"
    cassettes.mkdir(parents=True)
    shutil.copy(CLEAN, cassettes / "clean.yaml")
    (cassettes / "cut.yaml").write_text(_cut(CLEAN))
    (cassettes / "README.md").write_text("not a recording\n")
    (pytester.path / "tests" / "test_nothing.py").write_text("def test_nothing():\n    pass\n")
    return pytester


def _run(pytester: pytest.Pytester, *args: str) -> pytest.RunResult:
    return pytester.runpytest_subprocess("-p", "no:cacheprovider", *args, timeout=120)


def test_one_item_per_recording_and_the_cut_one_fails(project):
    result = _run(project, "--llmtrace-check", "-v")
    result.stdout.fnmatch_lines([
        "tests/cassettes/clean.yaml::llmtrace PASSED*",
        "tests/cassettes/cut.yaml::llmtrace FAILED*",
        "*llmtrace: 1 finding at or above error",
        "tests/cassettes/cut.yaml: choice 0, chunk 2: error no-finish: the stream ends without a finish signal*",
    ])
    result.assert_outcomes(passed=2, failed=1)  # the two recordings and test_nothing
    assert "README" not in result.stdout.str()


def test_inactive_unless_asked(project):
    result = _run(project, "-v")
    result.assert_outcomes(passed=1)
    assert "::llmtrace" not in result.stdout.str()


def test_selection_by_node_id_and_k(project):
    result = _run(project, "--llmtrace-check", "tests/cassettes/clean.yaml::llmtrace")
    result.assert_outcomes(passed=1)
    result = _run(project, "--llmtrace-check", "-k", "cut")
    result.assert_outcomes(failed=1)


def test_warn_mode_never_fails(project):
    result = _run(project, "--llmtrace-warn", "-W", "default")
    result.assert_outcomes(passed=3)
    result.stdout.fnmatch_lines(["*LLMTraceWarning: tests/cassettes/cut.yaml: choice 0, chunk 2: error no-finish*"])


def test_ini_settings_paths_fail_on_and_ignore(project):
    other = project.path / "fixtures" / "llm"
    other.mkdir(parents=True)
    shutil.copy(DATA / "cassettes" / "openllmetry" /
                "test_llms--test_trace_propagation_stream_with_events_with_no_content[VLLMOpenAI].yaml",
                other / "truncated.yaml")
    project.makeini("[pytest]\nllmtrace_check = true\nllmtrace_fail_on = warning\nllmtrace_paths = fixtures/llm\n")
    result = _run(project, "-v", "fixtures", "tests")
    result.stdout.fnmatch_lines(["fixtures/llm/truncated.yaml::llmtrace FAILED*",
                                 "*warning truncated: stopped at the token limit (length)*"])
    assert "tests/cassettes/cut.yaml::llmtrace" not in result.stdout.str()  # only llmtrace_paths
    project.makeini("[pytest]\nllmtrace_check = true\nllmtrace_fail_on = warning\nllmtrace_paths = fixtures/llm\n"
                    "llmtrace_ignore = truncated\n")
    _run(project, "fixtures").assert_outcomes(passed=1)


def test_a_leaked_key_fails_without_showing_it(project):
    (project.path / "tests" / "cassettes" / "leaky.yaml").write_text(_leaky(CLEAN))
    result = _run(project, "--llmtrace-check", "tests/cassettes/leaky.yaml::llmtrace")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*error unmasked-secret*"])
    assert KEY not in result.stdout.str() and KEY not in result.stderr.str()


def test_an_unreadable_recording_fails_with_its_reason(project):
    (project.path / "tests" / "cassettes" / "broken.json").write_text('{"request": {"url": 3}')
    result = _run(project, "--llmtrace-check", "tests/cassettes/broken.json::llmtrace")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*tests/cassettes/broken.json: cut off mid-JSON*(unreadable)"])


def test_works_without_pytest_recording(project, monkeypatch):
    # pytest-recording and VCR.py cannot be imported in this run: the plugin must not need them.
    blocked = project.path / "blocked"
    blocked.mkdir()
    for name in ("pytest_recording", "vcr"):
        (blocked / f"{name}.py").write_text("raise ImportError('blocked for this test')\n")
    monkeypatch.setenv("PYTHONPATH", str(blocked))
    (project.path / "tests" / "test_blocked.py").write_text(
        "import pytest\n\ndef test_blocked():\n    with pytest.raises(ImportError):\n        import pytest_recording\n")
    result = _run(project, "-p", "no:recording", "--llmtrace-check", "--llmtrace-unused")
    result.assert_outcomes(passed=3, failed=1)


UNUSED_TEST = '''
import json
import urllib.request

import pytest


def _post(url):
    request = urllib.request.Request(url, data=b"{}", method="POST", headers={"content-type": "application/json"})
    with urllib.request.urlopen(request) as response:
        return response.read()


@pytest.mark.vcr("two.yaml")
def test_plays_one_of_two():
    _post("https://api.openai.com/v1/chat/completions")


@pytest.mark.vcr("one.yaml")
def test_plays_all():
    _post("https://api.openai.com/v1/chat/completions")
'''


def test_unused_interactions_fail_the_test_that_left_them(pytester):
    cassettes = pytester.path / "cassettes"
    cassettes.mkdir()
    shutil.copy(TWO, cassettes / "two.yaml")
    shutil.copy(CLEAN, cassettes / "one.yaml")
    pytester.makepyfile(test_replay=UNUSED_TEST)
    pytester.makeconftest('import pytest\n\n@pytest.fixture(scope="module")\ndef vcr_config():\n'
                          '    return {"match_on": ["method", "uri"], "allow_playback_repeats": False}\n\n'
                          '@pytest.fixture(scope="module")\ndef vcr_cassette_dir():\n'
                          f'    return {str(cassettes)!r}\n')
    _run(pytester, "--record-mode=none").assert_outcomes(passed=2)
    result = _run(pytester, "--record-mode=none", "--llmtrace-unused")
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(["*the cassette *two.yaml has interactions this test never played:",
                                 "*interaction 1: POST https://api.openai.com/v1/chat/completions"])


def test_llmtrace_load_fixture_and_helpers(pytester):
    shutil.copy(CLEAN, pytester.path / "clean.yaml")
    (pytester.path / "cut.yaml").write_text(_cut(CLEAN))
    pytester.makepyfile(test_helpers='''
import pytest
from llmtrace.testing import assert_no_anomalies, assert_same_response


def test_load(llmtrace_load):
    recording = llmtrace_load("clean.yaml")
    assert recording.exchanges[0].dialect == "openai-chat"
    assert_no_anomalies(recording, at="error")


def test_same(llmtrace_load):
    assert_same_response("clean.yaml", "clean.yaml")


def test_differs():
    assert_same_response("clean.yaml", "cut.yaml")
''')
    result = _run(pytester)
    result.assert_outcomes(passed=2, failed=1)
    result.stdout.fnmatch_lines(["*AssertionError: the responses differ:", "*--- clean.yaml*", "*+++ cut.yaml*",
                                 "*~ choices?0?.content*"])


SERVER_TEST = '''
import openai
import pytest
import yaml


def _body(path):
    doc = yaml.safe_load(open(path))
    import json
    return json.loads(doc["interactions"][0]["request"]["body"])


@pytest.mark.llmtrace_recordings("recordings/chat.yaml")
def test_named(llmtrace_server):
    client = openai.OpenAI(base_url=llmtrace_server.openai, api_key="test", max_retries=0, timeout=20)
    body = _body("recordings/chat.yaml")
    body["stream"] = False
    body.pop("stream_options", None)
    completion = client.chat.completions.create(**body)
    assert completion.choices[0].message.content


@pytest.mark.vcr("chat.yaml")
def test_from_the_vcr_marker(llmtrace_server):
    import httpx
    assert httpx.get(llmtrace_server.base + "/llmtrace/health").json()["exchanges"] == 1
'''


def test_llmtrace_server_fixture(pytester):
    (pytester.path / "recordings").mkdir()
    shutil.copy(CLEAN, pytester.path / "recordings" / "chat.yaml")
    (pytester.path / "cassettes").mkdir()
    shutil.copy(CLEAN, pytester.path / "cassettes" / "chat.yaml")
    pytester.makepyfile(test_server=SERVER_TEST)
    pytester.makeconftest('import pytest\n\n@pytest.fixture(scope="module")\ndef vcr_cassette_dir():\n'
                          f'    return {str(pytester.path / "cassettes")!r}\n')
    # --disable-recording: VCR.py does not intercept the requests; the real server answers them.
    result = _run(pytester, "--disable-recording")
    result.assert_outcomes(passed=2)


def test_a_link_to_a_folder_is_not_followed(project):
    """Like the CLI's walk: recordings reached through a symbolic link to a folder are not
    collected again (pytest itself follows the link)."""
    (project.path / "tests" / "cassettes" / "again").symlink_to(project.path / "tests" / "cassettes",
                                                                 target_is_directory=True)
    (project.path / "tests" / "fixtures").symlink_to(project.path / "tests" / "cassettes", target_is_directory=True)
    result = _run(project, "--llmtrace-check", "-v")
    items = [line for line in result.stdout.lines if line.startswith("tests/") and "::llmtrace " in line]
    assert len(items) == 2, result.stdout.str()
    result.assert_outcomes(passed=2, failed=1)
