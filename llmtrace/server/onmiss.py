"""Record on miss (``llmtrace serve PATH... --upstream URL``): a request that no recording
answers goes to the upstream through ``record``'s proxy (``proxy.Recorder``: the answer streamed
to the client as it arrives, each read kept with its time), is saved in the record folder as
``record`` saves (``saving``: HAR files or one VCR cassette, credentials masked), then loaded
and served from then on: the same request again is a hit, the upstream is not asked twice.

What is kept: a complete answer with a status below 400. An upstream that cannot be reached
(the proxy's 502/504), an answer cut mid-stream, and error statuses go to the client as they
came and are not kept, so the next identical request tries the upstream again. An answer the
server could not serve (no exchange in it) is removed again.

The request waits, before its handler returns, until its recording is loaded: a client that
sends the same request again on the same connection finds it served. One that sends the same
bytes to the same path while the first is in flight waits for it, then is matched.
"""

from __future__ import annotations

import asyncio
import os
from pathlib import Path
from typing import Any, Callable, NamedTuple

from aiohttp import web

from llmtrace.errors import UnreadableInput
from llmtrace.model import Recording
from llmtrace.server import proxy
from llmtrace.server.saving import Capture, Saver


class Upstream(NamedTuple):
    """Where misses go (``url``) and where what comes back is kept (``record_to``, ``save_as``
    ``har`` or ``vcr``, credentials masked unless ``mask`` is False)."""

    url: str
    record_to: str
    save_as: str = "har"
    mask: bool = True


def default_folder(paths: list[str]) -> str | None:
    """``--record-to``'s default: the first PATH, when it is a folder."""
    return paths[0] if paths and os.path.isdir(paths[0]) else None


class Grower:
    """The upstream side of a ``Replay``: forwards a miss, keeps and loads what came back.
    ``add`` takes a loaded recording (the replay's catalog grows); ``log`` one line."""

    def __init__(self, upstream: Upstream, add: Callable[[Recording], None], log: Callable[[str], None]):
        self.upstream = upstream
        self.saver = Saver(upstream.record_to, upstream.save_as, upstream.mask)
        self.recorder = proxy.Recorder(upstream.url, self.saver, proxy.Options(log=log))
        self.add = add
        self.log = log
        self.inflight: dict[tuple, asyncio.Future] = {}
        self.recorded = 0

    async def open(self) -> None:
        await self.recorder.open()

    async def close(self) -> None:
        await self.recorder.close()

    async def wait_for(self, key: tuple) -> bool:
        """Wait for a recording of the same request in flight (True: there was one)."""
        pending = self.inflight.get(key)
        if pending is None:
            return False
        await asyncio.shield(pending)
        return True

    async def fetch(self, request: web.Request, key: tuple) -> web.StreamResponse:
        """Forward ``request`` (a miss) to the upstream, stream the answer back, keep it."""
        loop = asyncio.get_running_loop()
        landed = self.inflight[key] = loop.create_future()
        captured: list[Capture] = []
        try:
            try:
                response = await self.recorder.forward(request, captured.append)
            except BaseException:  # stopped mid-exchange: not kept, like a cut stream
                for capture in captured:
                    capture.discard()
                raise
            capture = captured[0]
            why = _not_kept(capture)
            head = f"{capture.method} {capture.path} → upstream {capture.status if capture.status is not None else 'failed'}"
            if why is not None:
                capture.discard()
                self.log(f"{head}, not recorded ({why})")
                return response
            try:
                where, recording = await loop.run_in_executor(self.recorder.writer, self._keep, capture)
            except (OSError, UnreadableInput) as exc:
                capture.discard()
                self.log(f"{head}, NOT recorded ({_reason(exc)})")
                return response
            if recording is None:
                self.log(f"{head}, not recorded (no servable exchange in it)")
                return response
            self.add(recording)
            self.recorded += 1
            chunks = capture.count
            self.log(f"{head}, {chunks} chunk{'s' if chunks != 1 else ''}, recorded → {where}")
            return response
        finally:
            del self.inflight[key]
            landed.set_result(None)

    def _keep(self, capture: Capture) -> tuple[Path, Recording | None]:
        """Save the capture and read it back as ``serve`` reads its recordings (in the writer
        thread: one at a time). A file that holds nothing servable is removed again."""
        from llmtrace.containers import bodies
        from llmtrace.loader import load

        where = self.saver.save(capture)
        previous = bodies.KEEP_RAW
        bodies.keep_raw(True)  # served as the recorded bytes, like every recording of serve
        try:
            recording = load(str(where))
        except UnreadableInput:
            if self.saver.save_as == "har":
                where.unlink(missing_ok=True)
            raise
        finally:
            bodies.keep_raw(previous)
        if self.saver.save_as == "vcr":  # the cassette holds the run so far: the newest is this one
            recording = recording.model_copy(update={"exchanges": recording.exchanges[-1:]})
        if not any(ex.request.endpoint for ex in recording.exchanges):
            if self.saver.save_as == "har":
                where.unlink(missing_ok=True)
            return where, None
        return where, recording


def _not_kept(capture: Capture) -> str | None:
    if capture.error is not None:
        return capture.error
    if capture.status is None:
        return "no answer"
    if capture.status >= 400:
        return f"status {capture.status}: errors are passed on, not kept"
    return None


def _reason(exc: BaseException) -> Any:
    if isinstance(exc, UnreadableInput):
        return exc.line()
    return getattr(exc, "strerror", None) or str(exc)
