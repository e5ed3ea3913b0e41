"""When each frame goes out: the recorded pace, scaled, or a pace asked for — never invented.

- The recording has per-chunk times (Ollama's ``created_at``, HAR or ``record``'s chunk times:
  ``Response.chunk_times`` / the fold's timeline): frame i is sent at its recorded offset from
  the first chunk, divided by ``--speed``. Time to the first frame follows the recorded time
  to first token where the recording knows it (the request start in HAR, or Ollama's own
  ``load_duration + prompt_eval_duration``), scaled the same way.
- It has none: frames go out at once, or at ``--rate`` chunks per second when asked for.
- ``--speed max``: as fast as the socket takes them, whatever the recording says.
"""

from __future__ import annotations

import asyncio
import time

from llmtrace.model import Exchange


def offsets(exchange: Exchange, speed: float | None, rate: float | None) -> list[float] | None:
    """Seconds after the request arrived at which each frame is due (None: send at once).
    ``speed`` None means ``max``."""
    result = exchange.result
    n = len(exchange.response.chunks)
    if speed is None or n == 0:
        return None
    times = result.timeline.times if result is not None else None
    if times is not None and len(times) == n and any(t is not None for t in times):
        origin = next(t for t in times if t is not None)
        first = _ttft(exchange) or 0.0
        out, last = [], 0.0
        for t in times:
            last = (t - origin) if t is not None else last  # a chunk without a time goes with the one before
            out.append((first + last) / speed)
        return out
    if rate:
        return [i / rate for i in range(n)]
    return None


def _ttft(exchange: Exchange) -> float | None:
    from llmtrace import timeline

    summary = timeline.summarize(exchange.result, exchange.response.timings)
    if summary.ttft_s is None or summary.first_text is None:
        return None
    # The first frame is due when the first chunk came: TTFT minus the first text chunk's offset.
    return max(0.0, summary.ttft_s - (summary.first_text[1] or 0.0))


class Clock:
    """Keeps frames on their offsets: the clock starts with the first frame (after the recorded
    time to it), and every later frame keeps its recorded distance to that one, whatever the
    writes cost. ``await clock.until(i)`` before sending frame i; nothing when there are no
    offsets (``--speed max``, or no times and no ``--rate``)."""

    def __init__(self, offsets: list[float] | None):
        self.offsets = offsets
        self.t0: float | None = None

    async def until(self, i: int) -> None:
        offsets = self.offsets
        if offsets is None:
            return
        if self.t0 is None:
            if offsets[i] > 0:
                await asyncio.sleep(offsets[i])  # the recorded time to the first frame
            self.t0 = time.monotonic() - offsets[i]
            return
        delay = offsets[i] - (time.monotonic() - self.t0)
        if delay > 0:
            await asyncio.sleep(delay)
