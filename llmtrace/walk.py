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

A ``.llmtraceignore`` file in a walked folder lists what the walk leaves out, in ``.gitignore``
syntax: one pattern a line, ``#`` comments, ``!`` to take a path back, a trailing ``/`` for
folders only, a ``/`` at the start or in the middle anchoring the pattern to the file's folder
(otherwise it matches a name at any depth), ``*``, ``?``, ``[a-z]`` and ``**`` as git reads them,
and the last matching line wins. It applies to its folder and everything below it, like a
``.gitignore``; a deeper file's lines come after (and so win over) a higher one's. As in git, a
file in a left-out folder cannot be taken back (the walk does not go in). Only the files of the
folders walked count (not those of the folders above the one named), a file named on the command
line is always read, and what is left out is not counted as skipped: for the walk it is not
there. The pytest plugin honours the same files between its root folder and a recording.
"""

from __future__ import annotations

import errno
import os
import stat
import re
from functools import lru_cache
from typing import Iterator, NamedTuple

SKIP_STEMS = {"license", "licence", "copying", "notice", "readme", "source", "sources", "changelog",
              "authors", "contributing", "makefile"}
SKIP_SUFFIXES = {".md", ".rst", ".py", ".pyc", ".toml", ".cfg", ".ini", ".lock", ".sh", ".png", ".jpg",
                 ".jpeg", ".gif", ".svg", ".pdf", ".html", ".css", ".js", ".ts"}


# Extensions recordings are saved under: found while walking, a file with one of them that does
# not read is reported as unreadable; any other file that holds no recording is skipped.
RECORDING_SUFFIXES = {".json", ".jsonl", ".ndjson", ".yaml", ".yml", ".har", ".sse", ".gz"}

IGNORE_FILE = ".llmtraceignore"


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
    """Local files to read, in order: each path as given, directories walked in sorted order (a
    folder's files, then its subfolders one after the other). URLs are ``sources.iter_inputs``'s.

    Files passed over while walking are appended to ``skipped`` when it is given; then a file
    that is passed over for not being a regular file also gets a note on stderr (once: a caller
    that only counts the inputs passes no list and prints nothing)."""
    for path in paths:
        if path != "-" and os.path.isdir(path):
            yield from _walk(path, skipped)
        else:
            yield Input(path, True)


def _walk(top: str, skipped: list[str] | None) -> Iterator[Input]:
    folders: list[tuple[str, tuple[Rules, ...]]] = [(top, ())]
    while folders:
        folder, rules = folders.pop()
        try:
            with os.scandir(folder) as listing:
                entries = sorted(listing, key=lambda entry: entry.name)
        except OSError as exc:
            yield Input(folder, False, f"cannot list the folder ({exc.strerror or exc})")
            continue
        own = read_ignore_file(folder) if any(entry.name == IGNORE_FILE for entry in entries) else None
        if own is not None:
            rules = (*rules, own)
        subfolders = []
        for entry in entries:
            name = entry.name
            if _is_dir(entry):
                if name.startswith(".") or (rules and is_ignored(rules, entry.path, True)):
                    continue
                if entry.is_symlink():
                    _skip(entry.path, "link to a folder, not followed", skipped)
                else:
                    subfolders.append((entry.path, rules))
            elif rules and is_ignored(rules, entry.path, False):
                continue
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


class Rules(NamedTuple):
    """The patterns of one ``.llmtraceignore``: the folder it is in, and (regex, negated,
    folders only) for each pattern line, in file order."""
    folder: str
    patterns: tuple[tuple[re.Pattern, bool, bool], ...]


def read_ignore_file(folder: str) -> Rules | None:
    """The rules of ``folder``'s ``.llmtraceignore`` (None when it has none or it cannot be read:
    a walk never fails for it)."""
    try:
        with open(os.path.join(folder, IGNORE_FILE), encoding="utf-8", errors="replace") as file:
            text = file.read(1 << 20)
    except OSError:
        return None
    patterns = tuple(rule for rule in map(_parse_line, text.splitlines()) if rule is not None)
    return Rules(folder, patterns) if patterns else None


def is_ignored(rules: tuple[Rules, ...], path: str, is_dir: bool) -> bool:
    """Whether ``path`` (a file, or a folder when ``is_dir``) is left out by ``rules`` (outermost
    file first): the last pattern that matches decides."""
    ignored = False
    for rule in rules:
        relative = os.path.relpath(path, rule.folder).replace(os.sep, "/")
        for regex, negated, folders_only in rule.patterns:
            if (is_dir or not folders_only) and regex.fullmatch(relative):
                ignored = not negated
    return ignored


def ignored_below(root: str, path: str) -> bool:
    """Whether the ``.llmtraceignore`` files in ``root`` and the folders between it and ``path``
    leave ``path`` (a file under ``root``) out, or one of the folders on the way."""
    relative = os.path.relpath(path, root)
    if relative.startswith(os.pardir) or os.path.isabs(relative):
        return False
    parts = relative.split(os.sep)
    folder, rules = root, ()
    for depth, part in enumerate(parts):
        own = _cached_rules(folder)
        if own is not None:
            rules = (*rules, own)
        folder = os.path.join(folder, part)
        if rules and is_ignored(rules, folder, depth < len(parts) - 1):
            return True
    return False


@lru_cache(maxsize=256)
def _cached_rules(folder: str) -> Rules | None:
    return read_ignore_file(folder) if os.path.isfile(os.path.join(folder, IGNORE_FILE)) else None


def _parse_line(line: str) -> tuple[re.Pattern, bool, bool] | None:
    """One ``.gitignore`` line as (regex over the path relative to the file's folder, negated,
    folders only); None for a blank line or a comment."""
    stripped = line.rstrip(" \t")
    if line[len(stripped):].startswith(" ") and stripped.endswith("\\"):
        stripped += " "  # "\ " keeps one trailing space
    line = stripped
    if not line or line.startswith("#"):
        return None
    negated = line.startswith("!")
    if negated:
        line = line[1:]
    folders_only = line.endswith("/")
    line = line.rstrip("/")
    if not line:
        return None
    anchored = "/" in line
    line = line.lstrip("/")
    body = _translate(line)
    return re.compile(body if anchored else f"(?:.*/)?{body}", re.DOTALL), negated, folders_only


def _translate(pattern: str) -> str:
    """A gitignore glob as a regex: ``*`` and ``?`` stop at ``/``, ``**`` spans folders where it
    is a whole path segment, ``[...]`` is a character class, ``\\`` escapes."""
    out, i, n = [], 0, len(pattern)
    while i < n:
        char = pattern[i]
        if char == "*" and pattern.startswith("**", i) and (i == 0 or pattern[i - 1] == "/") \
                and (i + 2 == n or pattern[i + 2] == "/"):
            if i + 2 == n:
                out.append(".*")  # "a/**": everything inside
            else:
                out.append("(?:.*/)?")  # "**/" : any number of folders, none included
                i += 1
            i += 2
            continue
        if char == "*":
            while i < n and pattern[i] == "*":
                i += 1
            out.append("[^/]*")
            continue
        if char == "?":
            out.append("[^/]")
        elif char == "[":
            end = pattern.find("]", i + 2 if pattern[i + 1:i + 2] in ("!", "^", "]") else i + 1)
            if end < 0:
                out.append(re.escape(char))
            else:
                inner = pattern[i + 1:end]
                if inner[:1] in ("!", "^"):
                    inner = "^" + inner[1:]
                out.append("[" + inner.replace("\\", "\\\\") + "]")
                i = end
        elif char == "\\" and i + 1 < n:
            i += 1
            out.append(re.escape(pattern[i]))
        else:
            out.append(re.escape(char))
        i += 1
    return "".join(out)
