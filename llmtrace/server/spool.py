"""The spool of an exchange in flight: ``record`` writes every network read of a response to a
file in the record folder as it arrives, so that memory does not grow with the stream and a
recorder killed mid-stream (``kill -9``, a crash, a power cut after the kernel wrote it) leaves
what it received on disk.

A spool is ``.llmtrace-spool-XXXXXXXX.partial`` in the record folder (hidden: folder walkers
skip it), in the format ``llmtrace.containers.spool`` reads (``llmtrace show`` of the file
reads it as the recording it would have become). Frames are written unbuffered, each with one
system call: a killed process leaves every frame it wrote whole (a frame cut by a full disk or
a power loss ends the spool).

The file is locked (``flock``) while its recorder lives: the next ``record`` run (or ``serve
--upstream``) into the folder turns every spool no process holds into a recording, saved like
any other (masked) with ``_error`` saying the recorder stopped mid-exchange, and removes it.
"""

from __future__ import annotations

import errno
import io
import os
import tempfile
from pathlib import Path
from typing import Any, Iterator

import orjson

from llmtrace.containers.spool import HEAD, MAGIC
from llmtrace.containers.spool import frames as read_frames

try:
    import fcntl
except ImportError:  # pragma: no cover - no flock (Windows): spools are not recovered
    fcntl = None  # type: ignore[assignment]

PREFIX = ".llmtrace-spool-"
SUFFIX = ".partial"


class Spool:
    """A spool file being written (``write``), read back as often as needed (``frames``)."""

    __slots__ = ("path", "fd")

    def __init__(self, folder: str | Path | None):
        try:
            fd, path = tempfile.mkstemp(prefix=PREFIX, suffix=SUFFIX, dir=str(folder) if folder else None)
        except FileNotFoundError:  # the record folder was removed meanwhile: made again
            os.makedirs(str(folder), exist_ok=True)
            fd, path = tempfile.mkstemp(prefix=PREFIX, suffix=SUFFIX, dir=str(folder))
        self.path, self.fd = path, fd
        if fcntl is not None:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        os.write(fd, MAGIC)

    def write(self, kind: bytes, payload: bytes, offset: float = 0.0) -> None:
        if self.fd < 0:
            raise ValueError("the spool is closed")
        head = HEAD.pack(kind, len(payload), offset)
        if len(payload) < 4096:
            written = os.write(self.fd, head + payload)
        else:
            written = os.writev(self.fd, [head, payload])
        if written < len(head) + len(payload):  # the disk is full: the frame is cut, the spool ends there
            raise OSError(errno.ENOSPC, "the spool could not be written whole (disk full?)")

    def write_json(self, kind: bytes, doc: Any) -> None:
        self.write(kind, orjson.dumps(doc))

    def frames(self) -> Iterator[tuple[bytes, float, bytes]]:
        return frames(self.path)

    def close(self) -> None:
        """Stop writing; the file stays (for the next run to recover)."""
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1

    def remove(self) -> None:
        self.close()
        try:
            os.unlink(self.path)
        except FileNotFoundError:
            pass


def frames(path: str) -> Iterator[tuple[bytes, float, bytes]]:
    """The whole frames of the spool at ``path``, in order: (kind, offset in ms, payload)."""
    with open(path, "rb", buffering=0) as raw, io.BufferedReader(raw, 1 << 20) as fh:
        yield from read_frames(fh)


def orphans(folder: Path) -> Iterator[Spool]:
    """The spools in ``folder`` that no living process writes (their lock is free), each
    locked for the caller while it is handled (``remove`` it when done)."""
    if fcntl is None:
        return
    try:
        names = sorted(os.listdir(folder))
    except OSError:
        return
    for name in names:
        if not (name.startswith(PREFIX) and name.endswith(SUFFIX)):
            continue
        path = str(folder / name)
        try:
            fd = os.open(path, os.O_RDONLY)
        except OSError:
            continue
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(fd)  # a recorder writes it
            continue
        spool = Spool.__new__(Spool)
        spool.path, spool.fd = path, fd
        yield spool
        if spool.fd >= 0:  # not removed: let go
            os.close(spool.fd)
            spool.fd = -1
