"""Files that are not regular files, and stdin that is not a recording (issue 11, item 5).

A FIFO would block a read forever and ``/dev/zero`` never ends: walking takes regular files only
and says what it passed over; a special file named on the command line is unreadable at once.
A folder the walk cannot list is reported; stdin that is closed or a terminal is refused with
one line; every read is bounded by ``--max-size``.
"""

from __future__ import annotations

import json
import os
import pty
import resource
import shutil
import signal
import socket
import stat
import subprocess
import sys
from pathlib import Path
from typing import NamedTuple

import pytest
from typer.testing import CliRunner

from conftest import CORPUS, SEED
from llmtrace.cli import app
from llmtrace.errors import UnreadableInput
from llmtrace.loader import read_bytes
from llmtrace.walk import Input, iter_inputs

ENV = {**os.environ, "NO_COLOR": "1", "COLUMNS": "400"}
ENV.pop("FORCE_COLOR", None)
CLEAN = CORPUS / "llama-stack/openai-chat-stream/8a174c150228.json"
TIMEOUT = 20  # every run here ends in well under a second; a hang fails instead of stalling the suite


class Run(NamedTuple):
    returncode: int
    stdout: bytes
    stderr: bytes


@pytest.fixture(autouse=True)
def no_hang():
    """A read that blocks or never ends (the bugs this file is about) fails the test instead of
    stalling it or eating the machine's memory: an alarm, and a cap on this process's address
    space at 1 GiB more than it uses now (both lifted afterwards)."""
    def expired(signum, frame):
        raise TimeoutError("blocked: the command did not return")

    with open("/proc/self/statm", "rb") as fh:
        used = int(fh.read().split()[0]) * os.sysconf("SC_PAGE_SIZE")
    soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    cap = used + (1 << 30)
    if hard != resource.RLIM_INFINITY:
        cap = min(cap, hard)
    resource.setrlimit(resource.RLIMIT_AS, (cap, hard))
    previous = signal.signal(signal.SIGALRM, expired)
    signal.alarm(TIMEOUT)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)
        resource.setrlimit(resource.RLIMIT_AS, (soft, hard))


def llmtrace(*args: str, input: bytes | None = None) -> Run:
    """The command line, in this process (fast); the alarm above guards it."""
    result = CliRunner().invoke(app, list(args), input=input,
                                env={"NO_COLOR": "1", "LLMTRACE_DEBUG": "", "COLUMNS": "400"})
    if result.exception and not isinstance(result.exception, SystemExit):
        raise result.exception
    return Run(result.exit_code, result.stdout_bytes, result.stderr_bytes)


def process(*args: str, stdin=None, preexec_fn=None) -> subprocess.CompletedProcess:
    """The command line as a separate process: for what only a real process has (its fd 0)."""
    return subprocess.run([sys.executable, "-m", "llmtrace", *args], stdin=stdin, capture_output=True,
                          env=ENV, timeout=TIMEOUT, preexec_fn=preexec_fn)


def stderr_lines(proc) -> list[str]:
    return proc.stderr.decode().splitlines()


@pytest.fixture
def hostile_folder(tmp_path: Path) -> Path:
    """A folder with one recording and every kind of entry a walk must not read."""
    folder = tmp_path / "walk"
    folder.mkdir()
    shutil.copy(SEED, folder / "seed.json")
    os.mkfifo(folder / "fifo.json")
    (folder / "zero.json").symlink_to("/dev/zero")
    (folder / "random.yaml").symlink_to("/dev/urandom")
    (folder / "gone.json").symlink_to(folder / "nowhere.json")
    (folder / "self.json").symlink_to(folder / "self.json")  # a link loop
    (folder / "up").symlink_to(folder)  # a link to a folder: would go round
    (folder / "link.json").symlink_to(folder / "seed.json")  # a link to a regular file: read
    sock = socket.socket(socket.AF_UNIX)
    sock.bind(str(folder / "sock.json"))
    yield folder
    sock.close()


SKIP_NOTES = {
    "fifo.json": "not a regular file (FIFO)",
    "zero.json": "not a regular file (character device)",
    "random.yaml": "not a regular file (character device)",
    "sock.json": "not a regular file (socket)",
    "gone.json": "broken symbolic link",
    "self.json": "symbolic link loop",
    "up": "link to a folder, not followed",
}


def test_check_walks_regular_files_only_and_says_what_it_skipped(hostile_folder):
    proc = llmtrace("check", str(hostile_folder))
    assert proc.returncode == 0, proc.stderr
    notes = sorted(stderr_lines(proc))
    assert notes == sorted(f"llmtrace: {hostile_folder / name}: skipped: {why}" for name, why in SKIP_NOTES.items())
    out = proc.stdout.decode()
    assert out.rstrip().endswith(f"2 files checked, 0 clean, {len(SKIP_NOTES)} skipped: 2 warnings, 2 info")
    assert str(hostile_folder / "link.json") in out and str(hostile_folder / "seed.json") in out


def test_check_json_walk_lists_the_regular_files(hostile_folder):
    proc = llmtrace("check", "--json", str(hostile_folder))
    assert proc.returncode == 0, proc.stderr
    sources = [json.loads(line)["source"] for line in proc.stdout.splitlines()]
    assert sources == [str(hostile_folder / "link.json"), str(hostile_folder / "seed.json")]
    assert len(stderr_lines(proc)) == len(SKIP_NOTES)


def test_scan_walks_regular_files_only(hostile_folder):
    proc = llmtrace("scan", "--jsonl", "-j", "1", str(hostile_folder))
    assert proc.returncode == 0, proc.stderr
    files = [json.loads(line)["file"] for line in proc.stdout.splitlines()]
    assert files == [str(hostile_folder / name) for name in ("link.json", "seed.json")]
    assert len(stderr_lines(proc)) == len(SKIP_NOTES)


@pytest.mark.parametrize("make, kind", [
    (lambda p: os.mkfifo(p), "FIFO"),
    (lambda p: p.symlink_to("/dev/zero"), "character device"),
    (lambda p: p.symlink_to("/dev/urandom"), "character device"),
])
def test_a_named_special_file_is_unreadable_at_once(tmp_path, make, kind):
    path = tmp_path / "special.json"
    make(path)
    for command in (["check"], ["show"], ["show", "--json"], ["check", "--json"], ["scan", "--jsonl", "-j", "1"]):
        proc = llmtrace(*command, str(path), str(SEED))
        assert proc.returncode == 2, (command, proc.stderr)
        assert stderr_lines(proc) == [f"llmtrace: {path}: not a regular file ({kind})"], command
        assert str(SEED) in proc.stdout.decode(), command  # the other file is still read
    proc = llmtrace("reassemble", str(path))
    assert proc.returncode == 2 and stderr_lines(proc) == [f"llmtrace: {path}: not a regular file ({kind})"]


def test_a_named_dev_null_is_not_read():
    with pytest.raises(UnreadableInput, match=r"not a regular file \(character device\)"):
        read_bytes("/dev/null")


def test_a_fifo_swapped_in_after_the_stat_is_caught_on_the_open_descriptor(tmp_path, monkeypatch):
    """The race: the path was a regular file when looked at, a FIFO when opened. The open does
    not block (O_NONBLOCK) and the opened descriptor is checked."""
    fifo = tmp_path / "swapped.json"
    os.mkfifo(fifo)
    regular = os.stat(SEED)
    real_stat = os.stat
    monkeypatch.setattr(os, "stat", lambda p, *a, **k: regular if str(p) == str(fifo) else real_stat(p, *a, **k))
    with pytest.raises(UnreadableInput, match=r"not a regular file \(FIFO\)"):
        read_bytes(str(fifo))


def test_a_listed_file_is_opened_without_a_stat_and_checked_on_its_descriptor(tmp_path, monkeypatch):
    """A file a folder walk listed as regular is opened straight away (scan saves a ``stat``
    per file); what the open finds is checked as always: a FIFO swapped in since the listing
    does not block and is refused, a folder is a folder, a file gone is gone."""
    from llmtrace import loader
    from llmtrace.sweep import scan_file

    good = tmp_path / "good.json"
    shutil.copyfile(SEED, good)
    fifo = tmp_path / "swapped.json"
    os.mkfifo(fifo)
    real_stat = os.stat

    def no_stat(p, *args, **kwargs):
        if str(p).startswith(str(tmp_path)):
            raise AssertionError(f"stat of a listed file: {p}")
        return real_stat(p, *args, **kwargs)

    monkeypatch.setattr(loader.os, "stat", no_stat)
    assert read_bytes(str(good), listed=True) == SEED.read_bytes()
    assert scan_file(str(good), explicit=False)["rows"][0]["dialect"] == "openai-chat"
    with pytest.raises(UnreadableInput, match=r"not a regular file \(FIFO\)"):
        read_bytes(str(fifo), listed=True)
    with pytest.raises(UnreadableInput, match="is a directory"):
        read_bytes(str(tmp_path), listed=True)
    with pytest.raises(UnreadableInput, match="no such file"):
        read_bytes(str(tmp_path / "gone.json"), listed=True)
    assert scan_file(str(fifo), explicit=False)["error"] == f"{fifo}: not a regular file (FIFO)"


def test_a_named_link_loop_and_a_missing_file(tmp_path):
    loop = tmp_path / "loop.json"
    loop.symlink_to(loop)
    proc = llmtrace("check", str(loop), str(tmp_path / "missing.json"), str(SEED))
    assert proc.returncode == 2
    lines = stderr_lines(proc)
    assert lines[0].startswith(f"llmtrace: {loop}: cannot read (") and "symbolic links" in lines[0]
    assert lines[1] == f"llmtrace: {tmp_path / 'missing.json'}: no such file"
    assert "1 file checked" in proc.stdout.decode()


def test_a_folder_that_cannot_be_listed_is_reported(tmp_path, monkeypatch, capfd):
    """Tests run as root (permissions do not stop it), so the refusal is the walk's listing
    call failing as it does for a folder without read permission."""
    (tmp_path / "locked").mkdir()
    shutil.copy(SEED, tmp_path / "locked" / "hidden.json")
    shutil.copy(SEED, tmp_path / "seed.json")
    real_scandir = os.scandir

    def scandir(path="."):
        if os.path.basename(os.fspath(path)) == "locked":
            raise PermissionError(13, "Permission denied", os.fspath(path))
        return real_scandir(path)

    monkeypatch.setattr(os, "scandir", scandir)
    assert list(iter_inputs([str(tmp_path)])) == [
        Input(str(tmp_path / "seed.json"), False),
        Input(str(tmp_path / "locked"), False, "cannot list the folder (Permission denied)"),
    ]
    from llmtrace.commands import check

    assert check.run([str(tmp_path)], as_json=True) == 2
    out, err = capfd.readouterr()
    docs = [json.loads(line) for line in out.splitlines()]
    assert [d["source"] for d in docs] == [str(tmp_path / "seed.json"), str(tmp_path / "locked")]
    assert docs[0]["error"] is None
    assert docs[1]["error"] == f"{tmp_path / 'locked'}: cannot list the folder (Permission denied)"
    assert err.splitlines() == [f"llmtrace: {tmp_path / 'locked'}: cannot list the folder (Permission denied)"]


def test_a_folder_removed_while_walking_is_reported(tmp_path):
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    shutil.copy(SEED, tmp_path / "a" / "one.json")
    shutil.copy(SEED, tmp_path / "b" / "two.json")
    walk = iter_inputs([str(tmp_path)])
    assert next(walk) == Input(str(tmp_path / "a" / "one.json"), False)
    shutil.rmtree(tmp_path / "b")  # listed as a subfolder already, gone before it is read
    assert list(walk) == [Input(str(tmp_path / "b"), False, "cannot list the folder (No such file or directory)")]


def test_walk_order_is_a_folders_files_then_its_subfolders_in_sorted_order(tmp_path):
    for rel in ("b/2.json", "b/a/1.json", "a/z.json", "m.json", "c.json", ".hidden/x.json", "b/.x.json"):
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_text("{}")
    skipped: list[str] = []
    paths = [i.path for i in iter_inputs([str(tmp_path)], skipped)]
    assert paths == [str(tmp_path / rel) for rel in ("c.json", "m.json", "a/z.json", "b/2.json", "b/a/1.json")]
    assert skipped == [str(tmp_path / "b/.x.json")]


# --- stdin ---------------------------------------------------------------------------------------


def test_a_closed_stdin_is_unreadable(monkeypatch):
    proc = process("check", "-", str(SEED), preexec_fn=lambda: os.close(0))
    assert proc.returncode == 2, proc.stderr
    assert stderr_lines(proc) == ["llmtrace: <stdin>: is closed; pipe a recording in or name a file"]
    assert str(SEED) in proc.stdout.decode()  # the other input is still checked
    monkeypatch.setattr(sys, "stdin", None)  # what Python makes of a closed fd 0
    with pytest.raises(UnreadableInput, match="is closed"):
        read_bytes("-")


def test_a_terminal_on_stdin_is_refused_not_waited_on():
    leader, follower = pty.openpty()
    try:
        proc = process("show", "-", stdin=follower)
    finally:
        os.close(follower)
        os.close(leader)
    assert proc.returncode == 2 and proc.stdout == b""
    assert stderr_lines(proc) == ["llmtrace: <stdin>: is a terminal; pipe a recording in or name a file"]


def test_stdin_from_a_pipe_and_from_a_file_still_read(monkeypatch):
    piped = llmtrace("check", "--json", "-", input=SEED.read_bytes())
    assert piped.returncode == 0 and json.loads(piped.stdout)["source"] == "<stdin>"
    with open(SEED, "rb") as fh:
        monkeypatch.setattr(sys, "stdin", os.fdopen(os.dup(fh.fileno()), "r"))
        assert read_bytes("-") == SEED.read_bytes()


# --- size cap ------------------------------------------------------------------------------------


@pytest.fixture
def default_limit():
    """``--max-size`` is process-wide: put the default back for the tests that follow."""
    from llmtrace import limits

    yield
    limits.set_max_size(None)


def test_reads_are_bounded_by_max_size(default_limit):
    size = SEED.stat().st_size
    proc = llmtrace("check", "--max-size", "1K", str(SEED), str(CLEAN))
    assert proc.returncode == 2
    assert stderr_lines(proc)[0].startswith(f"llmtrace: {SEED}: file is ")
    assert "beyond the 1 KiB limit (--max-size)" in stderr_lines(proc)[0]
    piped = llmtrace("check", "--max-size", "1K", "-", input=SEED.read_bytes())
    assert piped.returncode == 2 and size > 1024
    assert stderr_lines(piped) == ["llmtrace: <stdin>: input goes on beyond the 1 KiB limit (--max-size)"]


def test_read_bytes_limit_holds_for_a_pipe_and_a_growing_file(tmp_path, monkeypatch):
    data = SEED.read_bytes()
    assert read_bytes(str(SEED), len(data)) == data
    with pytest.raises(UnreadableInput, match="beyond"):
        read_bytes(str(SEED), len(data) - 1)
    # A file that grows between fstat and read: fstat says 10 bytes, the read finds all of it.
    real_fstat = os.fstat

    class Small:
        def __init__(self, st):
            self.st_mode, self.st_size = st.st_mode, 10

    monkeypatch.setattr(os, "fstat", lambda fd: Small(real_fstat(fd)))
    assert read_bytes(str(SEED), len(data)) == data
    with pytest.raises(UnreadableInput, match="input goes on beyond"):
        read_bytes(str(SEED), len(data) - 1)


def test_a_file_is_read_in_one_call_and_its_end_found_with_one_byte_asked(monkeypatch):
    """The size fstat gives is asked for (plus one), then one byte: a file that grew since goes on
    in blocks; no block-sized buffer is asked for to find the end."""
    data = SEED.read_bytes()
    asked = []
    real_read = os.read

    def read(fd, n):
        asked.append(n)
        return real_read(fd, n)

    monkeypatch.setattr(os, "read", read)
    assert read_bytes(str(SEED)) == data and asked == [len(data) + 1, 1]
    real_fstat = os.fstat

    class Small:
        def __init__(self, st):
            self.st_mode, self.st_size = st.st_mode, 10

    monkeypatch.setattr(os, "fstat", lambda fd: Small(real_fstat(fd)))
    asked.clear()
    assert read_bytes(str(SEED)) == data  # 11 bytes came for 10: the rest in blocks
    assert asked == [11, 1 << 20, 1 << 20] and len(data) < 1 << 20


def test_zero_size_regular_files_that_hold_data_are_read_whole():
    """/proc files say 0 bytes and hold more."""
    data = read_bytes("/proc/self/status")
    assert data.startswith(b"Name:") and stat.S_ISREG(os.stat("/proc/self/status").st_mode)
