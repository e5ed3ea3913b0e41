"""``llmtrace record``'s memory relaying one long stream: an aiohttp upstream in this process
streams ``--size`` bytes (default 780 MB) of OpenAI chat chunks (``--delta`` characters of
content each, default 40) through ``llmtrace record`` in its own process to an httpx client
here; printed: the recorder's peak RSS (``VmHWM``) before the stream, once it is saved, and the
time from the stream's end to the HAR file saved, the HAR's size. Goal: peak RSS < 200 MB (the
reads go to a spool file as they arrive and the HAR is written piece by piece).

Usage: python bench/bench_record_memory.py [--size 780M] [--delta 40]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx
import orjson
from aiohttp import web


def _size(text: str) -> int:
    units = {"K": 1 << 10, "M": 1 << 20, "G": 1 << 30}
    return int(float(text[:-1]) * units[text[-1].upper()]) if text[-1].upper() in units else int(text)


def _block(delta: int) -> bytes:
    """About 64 KB of chat chunks, each with ``delta`` characters of content."""
    events, n = [], 0
    while sum(map(len, events)) < 64 << 10:
        content = (f"tok{n} " * delta)[:delta]
        events.append(b"data: " + orjson.dumps({
            "id": "chatcmpl-1", "object": "chat.completion.chunk", "created": 1, "model": "gpt-4o-mini",
            "choices": [{"index": 0, "delta": {"content": content}, "finish_reason": None}]}) + b"\n\n")
        n += 1
    return b"".join(events)


def upstream(total: int, delta: int) -> tuple[str, callable]:
    block = _block(delta)

    async def answer(request: web.Request) -> web.StreamResponse:
        await request.read()
        out = web.StreamResponse(headers={"content-type": "text/event-stream"})
        await out.prepare(request)
        for _ in range(total // len(block)):
            await out.write(block)
        await out.write(b'data: {"id":"chatcmpl-1","object":"chat.completion.chunk","created":1,"model":"gpt-4o-mini",'
                        b'"choices":[{"index":0,"delta":{},"finish_reason":"stop"}]}\n\ndata: [DONE]\n\n')
        await out.write_eof()
        return out

    loop = asyncio.new_event_loop()
    ready: list[str] = []
    started = threading.Event()

    async def start() -> web.AppRunner:
        app = web.Application()
        app.router.add_post("/v1/chat/completions", answer)
        runner = web.AppRunner(app)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        ready.append(f"http://127.0.0.1:{site._server.sockets[0].getsockname()[1]}")
        return runner

    def run() -> None:
        asyncio.set_event_loop(loop)
        loop.run_until_complete(start())
        started.set()
        loop.run_forever()

    threading.Thread(target=run, daemon=True).start()
    started.wait(10)
    return ready[0], lambda: loop.call_soon_threadsafe(loop.stop)


def peak_rss(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    return 0


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--size", default="780M")
    parser.add_argument("--delta", type=int, default=40)
    args = parser.parse_args()
    total = _size(args.size)
    url, stop = upstream(total, args.delta)
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "rec"
        proc = subprocess.Popen([sys.executable, "-m", "llmtrace", "record", "--upstream", url, "--listen",
                                 "127.0.0.1:0", "-o", str(out)], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                text=True)
        base = proc.stdout.readline().strip()
        before = peak_rss(proc.pid)
        got, t0 = 0, time.monotonic()
        with httpx.Client(timeout=600) as client:
            with client.stream("POST", base + "/v1/chat/completions", json={"model": "gpt-4o-mini", "stream": True}) as r:
                for data in r.iter_raw():
                    got += len(data)
        streamed = time.monotonic() - t0
        line = ""
        while "→" not in line:  # the exchange's log line, once saved
            line = proc.stderr.readline()
            if not line:
                break
        saved = time.monotonic() - t0 - streamed
        after = peak_rss(proc.pid)
        proc.send_signal(signal.SIGTERM)
        proc.communicate(timeout=60)
        har = sum(p.stat().st_size for p in out.glob("*.har"))
        stop()
    print(f"stream: {got / 1e6:.0f} MB of chat chunks ({args.delta}-character deltas) in {streamed:.1f} s")
    print(f"record's peak RSS: {before / 2**20:.0f} MiB started, {after / 2**20:.0f} MiB once saved "
          f"(goal < 200 MB) {'ok' if after < 200e6 else 'MISSED'}")
    print(f"saved {saved:.1f} s after the stream's end: a {har / 1e6:.0f} MB HAR file")
    print(f"log: {line.strip()[:200]}")


if __name__ == "__main__":
    main()
