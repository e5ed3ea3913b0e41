"""What the commands that read many files (``check``, ``show``, ``serve``, ``report``) share about
one file going wrong.

An unexpected exception while one file is read, checked or rendered is a bug in llmtrace, not
the user's fault, and must not cost them the other files: it is reported as
``llmtrace: PATH: internal error: …`` naming the file, the loop goes on, and the command exits 2
at the end. ``LLMTRACE_DEBUG=1`` lets it through with its traceback instead.
"""

from __future__ import annotations

import os

from llmtrace.errors import UnreadableInput
from llmtrace.walk import Input


def passes_through(exc: BaseException) -> bool:
    """Exceptions that are not about one file: the command as a whole stops (a closed stdout,
    Ctrl-C) or the user asked for tracebacks."""
    return isinstance(exc, BrokenPipeError) or bool(os.environ.get("LLMTRACE_DEBUG"))


def internal_error(source: str, exc: Exception) -> str:
    """The stderr line (without the ``llmtrace:`` prefix) for an unexpected exception."""
    return (f"{source}: internal error: {type(exc).__name__}: {exc} "
            "(set LLMTRACE_DEBUG=1 for the traceback, and please report it)")


def refused(item: Input) -> UnreadableInput | None:
    """The error of an input known to be unreadable before reading it (a folder the walk could
    not list), else None."""
    return UnreadableInput(item.error, path=item.path) if item.error else None


def load_all(paths: list[str], fmt: str | None = None, explicit_only: bool = False, read=None) -> tuple[list, list]:
    """Every recording the paths name, read before anything is served or drawn (``serve``,
    ``report``): the recordings, and ``(source, reason)`` for each that could not be read (its
    line already on stderr). A file a folder walk finds unreadable is skipped quietly (as
    ``check`` does) unless ``explicit_only``: then every failure counts. ``read(item, fmt)``
    reads one input instead of ``loader.load`` (``serve`` indexes a folder's files)."""
    from llmtrace.loader import load
    from llmtrace.output import warn
    from llmtrace.sources import iter_inputs
    from llmtrace.walk import skip_unreadable

    recordings, failed = [], []
    for item in iter_inputs(paths, []):
        source = "<stdin>" if item.path == "-" else item.path
        try:
            error = refused(item)
            if error is not None:
                raise error
            recordings.append(load(item.path, fmt=fmt) if read is None else read(item, fmt))
        except UnreadableInput as exc:
            if not explicit_only and skip_unreadable(item, exc):
                continue
            warn(exc.line())
            failed.append((source, exc.what if not exc.where else f"{exc.what}, {exc.where}"))
        except Exception as exc:  # noqa: BLE001 - one file's bug must not cost the others
            if passes_through(exc):
                raise
            line = internal_error(source, exc)
            warn(line)
            failed.append((source, line.split(": ", 1)[1]))
    return recordings, failed
