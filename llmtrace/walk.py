"""Which files a command reads: the paths given, and directories walked recursively.

Walking a directory skips files that are plainly not recordings (LICENSE, README, SOURCE, docs,
code, images) and hidden entries; a file named explicitly is always read.

Walking takes regular files only (a symbolic link to one is fine). Everything else found in a
folder is passed over and counted as skipped, with a note on stderr that says why: a FIFO would
block the read forever, a link to ``/dev/zero`` or ``/dev/urandom`` never ends, a socket or a
device holds no recording, a broken link or a link loop leads nowhere. Links to directories are
not followed (so a link to a parent folder cannot make the walk go round). A folder that cannot
be listed (permission denied, removed while walking) is not skipped in silence: it is yielded
as an input with ``error`` set, which the commands report as unreadable.
"""

from __future__ import annotations

import errno
import os
import stat
from typing import Iterator, NamedTuple

SKIP_STEMS = {"license", "licence", "copying", "notice", "readme", "source", "sources", "changelog",
              "authors", "contributing", "makefile"}
SKIP_SUFFIXES = {".md", ".rst", ".py", ".pyc", ".toml", ".cfg", ".ini", ".lock", ".sh", ".png", ".jpg",
                 ".jpeg", ".gif", ".svg", ".pdf", ".html", ".css", ".js", ".ts"}


# Extensions recordings are saved under: found while walking, a file with one of them that does
# not read is reported as unreadable; any other file that holds no recording is skipped.
RECORDING_SUFFIXES = {".json", ".jsonl", ".ndjson", ".yaml", ".yml", ".har", ".sse", ".gz"}


class Input(NamedTuple):
    path: str
    explicit: bool  # named on the command line (not found by walking)
    error: str | None = None  # why it cannot be read, known before reading (a folder not listable)


def skip_unreadable(inp: Input, exc) -> bool:
    """Whether an input that did not read is passed over (not reported): only a file found by
    walking whose content is no recording and whose name does not say it should be one."""
    if inp.explicit or not getattr(exc, "not_recording", False):
        return False
    return os.path.splitext(inp.path.lower())[1] not in RECORDING_SUFFIXES or exc.what.startswith("not a recording")


def is_skipped(name: str) -> bool:
    if name.startswith("."):
        return True
    stem, suffix = os.path.splitext(name.lower())
    return stem in SKIP_STEMS or suffix in SKIP_SUFFIXES or (stem == "" and suffix == "")


def file_kind(mode: int) -> str:
    """What a file that is not a regular file is, in words (from its ``st_mode``)."""
    for test, name in ((stat.S_ISDIR, "directory"), (stat.S_ISFIFO, "FIFO"), (stat.S_ISCHR, "character device"),
                       (stat.S_ISBLK, "block device"), (stat.S_ISSOCK, "socket")):
        if test(mode):
            return name
    return "special file"


def iter_inputs(paths: list[str], skipped: list[str] | None = None) -> Iterator[Input]:
    """Files to read, in order: each path as given, directories walked in sorted order (a
    folder's files, then its subfolders one after the other).

    Files passed over while walking are appended to ``skipped`` when it is given; then a file
    that is passed over for not being a regular file also gets a note on stderr (once: a caller
    that only counts the inputs passes no list and prints nothing)."""
    for path in paths:
        if "://" in path:
            from llmtrace.distributed import inputs, is_url

            if is_url(path):  # an object store, http(s) or file:// URL, or a glob of one
                yield from inputs(path)
                continue
        if path != "-" and os.path.isdir(path):
            yield from _walk(path, skipped)
        else:
            yield Input(path, True)


def _walk(top: str, skipped: list[str] | None) -> Iterator[Input]:
    folders = [top]
    while folders:
        folder = folders.pop()
        try:
            with os.scandir(folder) as listing:
                entries = sorted(listing, key=lambda entry: entry.name)
        except OSError as exc:
            yield Input(folder, False, f"cannot list the folder ({exc.strerror or exc})")
            continue
        subfolders = []
        for entry in entries:
            name = entry.name
            if _is_dir(entry):
                if name.startswith("."):
                    continue
                if entry.is_symlink():
                    _skip(entry.path, "link to a folder, not followed", skipped)
                else:
                    subfolders.append(entry.path)
            elif is_skipped(name):
                if skipped is not None:
                    skipped.append(entry.path)
            elif _is_file(entry):
                yield Input(entry.path, False)
            else:
                _skip(entry.path, _why_not_regular(entry), skipped)
        folders.extend(reversed(subfolders))


def _is_dir(entry: os.DirEntry) -> bool:
    try:
        return entry.is_dir()
    except OSError:
        return False


def _is_file(entry: os.DirEntry) -> bool:
    try:
        return entry.is_file()
    except OSError:
        return False


def _why_not_regular(entry: os.DirEntry) -> str:
    """Why a walked entry is not taken: what it is, or why its link leads nowhere."""
    try:
        mode = entry.stat().st_mode
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            return "symbolic link loop"
        if exc.errno == errno.ENOENT and entry.is_symlink():
            return "broken symbolic link"
        return f"cannot stat ({exc.strerror or exc})"
    return f"not a regular file ({file_kind(mode)})"


def _skip(path: str, why: str, skipped: list[str] | None) -> None:
    if skipped is None:
        return
    from llmtrace.output import warn

    skipped.append(path)
    warn(f"{path}: skipped: {why}")
