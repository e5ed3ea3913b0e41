"""Which files a command reads: the paths given, and directories walked recursively.

Walking a directory skips files that are plainly not recordings (LICENSE, README, SOURCE, docs,
code, images) and hidden entries; a file named explicitly is always read.
"""

from __future__ import annotations

import os
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


def iter_inputs(paths: list[str], skipped: list[str] | None = None) -> Iterator[Input]:
    """Files to read, in order: each path as given, directories walked in sorted order.
    Files passed over while walking are appended to ``skipped`` when given."""
    for path in paths:
        if path != "-" and os.path.isdir(path):
            for root, dirs, files in os.walk(path):
                dirs[:] = sorted(d for d in dirs if not d.startswith("."))
                for name in sorted(files):
                    full = os.path.join(root, name)
                    if is_skipped(name):
                        if skipped is not None:
                            skipped.append(full)
                        continue
                    yield Input(full, False)
        else:
            yield Input(path, True)
