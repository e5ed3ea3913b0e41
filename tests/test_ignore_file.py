""".llmtraceignore: what a folder walk leaves out, in .gitignore syntax, for every command that
walks folders (check, scan, serve, report) and the pytest plugin; and the examples/ folder,
which holds recordings only for a walk."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from llmtrace.walk import iter_inputs

ROOT = Path(__file__).resolve().parent.parent
RECORDING = ROOT / "examples" / "llama-stack" / "openai-parallel-tool-calls.json"
BROKEN = "{not json\n"


def walked(top: Path) -> list[str]:
    return sorted(Path(item.path).relative_to(top).as_posix() for item in iter_inputs([str(top)]))


def tree(top: Path, files: list[str], ignore: str | None = None) -> Path:
    for name in files:
        path = top / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("{}")
    if ignore is not None:
        (top / ".llmtraceignore").write_text(ignore)
    return top


@pytest.mark.parametrize("ignore, expected", [
    ("", ["a.json", "out/b.json", "sub/out/c.json", "sub/x.txt"]),
    ("# a comment\n\nout/\n", ["a.json", "sub/x.txt"]),  # a name at any depth
    ("/out/\n", ["a.json", "sub/out/c.json", "sub/x.txt"]),  # anchored: this folder's only
    ("sub/out\n", ["a.json", "out/b.json", "sub/x.txt"]),  # a slash in the middle anchors too
    ("*.txt\n", ["a.json", "out/b.json", "sub/out/c.json"]),
    ("*.json\n!a.json\n", ["a.json", "sub/x.txt"]),  # the last matching line wins
    ("**/c.json\n", ["a.json", "out/b.json", "sub/x.txt"]),
    ("sub/**\n", ["a.json", "out/b.json"]),
    ("sub/**/c.json\n", ["a.json", "out/b.json", "sub/x.txt"]),
    ("a.json/\n", ["a.json", "out/b.json", "sub/out/c.json", "sub/x.txt"]),  # "/" at the end: folders only
    ("[ab].json\n", ["sub/out/c.json", "sub/x.txt"]),
    ("[!ab].json\n", ["a.json", "out/b.json", "sub/x.txt"]),
    ("?.json\n", ["sub/x.txt"]),
    ("\\#x.txt\nx.tx?   \n", ["a.json", "out/b.json", "sub/out/c.json"]),  # trailing spaces dropped
    ("out/\n!out/b.json\n", ["a.json", "sub/x.txt"]),  # a file in a left-out folder stays out (git)
])
def test_gitignore_syntax(tmp_path, ignore, expected):
    tree(tmp_path, ["a.json", "out/b.json", "sub/out/c.json", "sub/x.txt"], ignore)
    assert walked(tmp_path) == expected


def test_a_deeper_file_applies_below_it_and_wins(tmp_path):
    tree(tmp_path, ["a.json", "sub/a.json", "sub/b.json", "other/b.json"], "b.json\n")
    (tmp_path / "sub" / ".llmtraceignore").write_text("a.json\n!b.json\n")
    assert walked(tmp_path) == ["a.json", "sub/b.json"]


def test_only_walked_folders_count_and_named_files_are_read(tmp_path):
    tree(tmp_path, ["out/b.json"], "out/\n")
    # the folder named is walked from itself: the file above it is not read
    assert walked(tmp_path / "out") == ["b.json"]
    # a file named on the command line is always read
    named = [item.path for item in iter_inputs([str(tmp_path / "out" / "b.json")])]
    assert named == [str(tmp_path / "out" / "b.json")]


def test_an_unreadable_ignore_file_is_no_failure(tmp_path):
    tree(tmp_path, ["a.json"])
    (tmp_path / ".llmtraceignore").mkdir()  # not a file: nothing to read, nothing left out
    assert walked(tmp_path) == ["a.json"]


def run(*args: str, cwd: Path = ROOT, timeout: float = 120) -> subprocess.CompletedProcess:
    env = {**os.environ, "NO_COLOR": "1", "COLUMNS": "100"}
    return subprocess.run([sys.executable, "-m", "llmtrace", *args], cwd=cwd, capture_output=True, text=True,
                          env=env, timeout=timeout)


@pytest.fixture()
def with_junk(tmp_path):
    """A folder with one recording and, left out by its .llmtraceignore, files no command reads."""
    tree(tmp_path, [], "notes/\n*.txt\n")
    (tmp_path / "rec.json").write_bytes(RECORDING.read_bytes())
    (tmp_path / "notes").mkdir()
    (tmp_path / "notes" / "broken.json").write_text(BROKEN)
    (tmp_path / "transcript.txt").write_text(BROKEN)
    return tmp_path


@pytest.mark.parametrize("command", [["check"], ["scan", "-j", "1"], ["report", "-o", "OUT"]])
def test_commands_honour_it(with_junk, tmp_path_factory, command):
    args = [str(tmp_path_factory.mktemp("out") / "r.html") if a == "OUT" else a for a in command]
    assert run(*args, str(with_junk)).returncode in (0, 1)
    (with_junk / ".llmtraceignore").unlink()
    proc = run(*args, str(with_junk))
    assert proc.returncode == 2, proc.stderr
    assert "broken.json" in proc.stderr


def first_line_of_serve(args: list[str], cwd: Path = ROOT) -> tuple[int | None, str, str]:
    """Start ``llmtrace serve ARGS --port 0``; the exit code if it ended, else None after its
    first stdout line; then stop it."""
    proc = subprocess.Popen([sys.executable, "-m", "llmtrace", "serve", "--port", "0", *args], cwd=cwd,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        line = proc.stdout.readline()
        if not line:
            return proc.wait(timeout=60), "", proc.stderr.read()
        return None, line.strip(), ""
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            proc.wait(timeout=30)
        proc.stdout.close()
        proc.stderr.close()


def test_serve_honours_it(with_junk):
    code, line, _ = first_line_of_serve([str(with_junk)])
    assert code is None and line.startswith("http://127.0.0.1:")
    (with_junk / ".llmtraceignore").unlink()
    code, _, err = first_line_of_serve([str(with_junk)])
    assert code == 2 and "broken.json" in err


def test_pytest_plugin_honours_it(with_junk, pytester_cassettes):
    folder = pytester_cassettes(with_junk)
    proc = subprocess.run([sys.executable, "-m", "pytest", "--llmtrace-check", "-p", "no:cacheprovider",
                           "-q", "--co", "-o", "llmtrace_paths=recs"], cwd=folder, capture_output=True,
                          text=True, timeout=120)
    assert "rec.json::llmtrace" in proc.stdout
    assert "broken.json" not in proc.stdout
    (folder / "recs" / ".llmtraceignore").unlink()
    proc = subprocess.run([sys.executable, "-m", "pytest", "--llmtrace-check", "-p", "no:cacheprovider",
                           "-q", "--co", "-o", "llmtrace_paths=recs"], cwd=folder, capture_output=True,
                          text=True, timeout=120)
    assert "broken.json::llmtrace" in proc.stdout


@pytest.fixture()
def pytester_cassettes(tmp_path_factory):
    def make(source: Path) -> Path:
        project = tmp_path_factory.mktemp("project")
        (project / "recs").mkdir()
        for name in ("rec.json", ".llmtraceignore", "transcript.txt"):
            (project / "recs" / name).write_bytes((source / name).read_bytes())
        (project / "recs" / "notes").mkdir()
        (project / "recs" / "notes" / "broken.json").write_text(BROKEN)
        return project
    return make


# The examples folder: recordings only, for every command that walks it.

@pytest.mark.parametrize("command", [["check"], ["scan"], ["report", "-o", "OUT"]])
def test_every_command_reads_the_examples_folder(tmp_path, command):
    args = [str(tmp_path / "r.html") if a == "OUT" else a for a in command]
    proc = run(*args, "examples")
    assert proc.returncode in (0, 1), proc.stderr
    assert "examples/output" not in proc.stdout + proc.stderr
    assert "unreadable" not in proc.stdout.lower()


def test_serve_serves_the_examples_folder():
    code, line, err = first_line_of_serve(["examples"])
    assert code is None, err
    assert line.startswith("http://127.0.0.1:")
