"""``llmtrace serve`` over websockets: realtime sessions replayed to many clients at once.

A synthetic OpenAI Realtime session with per-frame times (``at``): ``session.created``, the
client's ``session.update`` and ``response.create``, then a response of ``--frames`` frames
(transcript deltas and 1 KiB base64 audio deltas alternating, 5–20 ms apart), then
``response.done``. ``llmtrace serve`` runs in its own process; ``--sessions`` concurrent
clients (aiohttp websockets) in another process each speak the session and note when every
frame arrives.

- ``--speed 1``: lateness of each frame = arrival − (when ``response.create`` was sent + its
  recorded distance from it). Printed: p50/p95/max lateness. Goal: p95 <= 20 ms for 200 sessions.
- ``--speed max``: frames per second over all sessions (all frames / wall time). Goal:
  >= 20,000 frames/s.

Usage: python bench/bench_serve_ws.py [--sessions 200] [--frames 200]
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

CLIENT = r'''
import asyncio, json, sys, time
import aiohttp

async def one(session, url, out):
    async with session.ws_connect(url, max_msg_size=0) as ws:
        await ws.receive()  # session.created
        await ws.send_str(json.dumps({"type": "session.update", "session": {"instructions": "bench"}}))
        await ws.receive()  # session.updated
        sent = time.monotonic()
        await ws.send_str(json.dumps({"type": "response.create"}))
        arrivals = []
        while True:
            msg = await ws.receive()
            if msg.type != aiohttp.WSMsgType.TEXT:
                break
            arrivals.append(time.monotonic() - sent)
            if '"response.done"' in msg.data[:40]:
                break
        out.append(arrivals)

async def main(url, n):
    out = []
    connector = aiohttp.TCPConnector(limit=0)
    async with aiohttp.ClientSession(connector=connector, timeout=aiohttp.ClientTimeout(total=600)) as session:
        t0 = time.monotonic()
        await asyncio.gather(*(one(session, url, out) for _ in range(n)))
        wall = time.monotonic() - t0
    print(json.dumps({"wall": wall, "arrivals": out}))

asyncio.run(main(sys.argv[1], int(sys.argv[2])))
'''


def session(frames: int, seed: int = 7) -> tuple[dict, list[float]]:
    """The session, and each response frame's recorded distance from ``response.create``."""
    rng = random.Random(seed)
    audio = base64.b64encode(bytes(rng.randrange(256) for _ in range(1024))).decode()
    items = [{"kind": "message", "direction": "received", "at": 0.0,
              "data": {"type": "session.created", "event_id": "e0", "session": {"model": "gpt-realtime"}}},
             {"kind": "message", "direction": "sent", "at": 0.1,
              "data": {"type": "session.update", "session": {"instructions": "bench"}}},
             {"kind": "message", "direction": "received", "at": 0.12,
              "data": {"type": "session.updated", "event_id": "e1", "session": {"model": "gpt-realtime"}}},
             {"kind": "message", "direction": "sent", "at": 0.2, "data": {"type": "response.create"}}]
    at, offsets = 0.2, []
    for i in range(frames):
        at += rng.uniform(0.005, 0.020)
        kind = "response.output_audio.delta" if i % 2 else "response.output_audio_transcript.delta"
        data = {"type": kind, "event_id": f"e{i + 2}", "response_id": "r1", "delta": audio if i % 2 else "word "}
        items.append({"kind": "message", "direction": "received", "at": round(at, 6), "data": data})
        offsets.append(at - 0.2)
    at += 0.01
    items.append({"kind": "message", "direction": "received", "at": round(at, 6),
                  "data": {"type": "response.done", "event_id": "e_done", "response": {"id": "r1", "status": "completed"}}})
    offsets.append(at - 0.2)
    return {"interactions": items}, offsets


def serve(path: Path, speed: str) -> tuple[subprocess.Popen, str]:
    proc = subprocess.Popen([sys.executable, "-m", "llmtrace", "serve", str(path), "--port", "0", "--speed", speed],
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    base = proc.stdout.readline().strip()
    return proc, base


def cpu_seconds(pid: int) -> float:
    """The CPU time (user + system) a process has used: what serving cost, whatever else runs."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def clients(base: str, n: int) -> dict:
    out = subprocess.run([sys.executable, "-c", CLIENT, base.replace("http", "ws") + "/v1/realtime", str(n)],
                         capture_output=True, text=True, timeout=900)
    if out.returncode != 0:
        raise SystemExit(out.stderr)
    return json.loads(out.stdout)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sessions", type=int, default=200)
    parser.add_argument("--frames", type=int, default=200)
    args = parser.parse_args()
    doc, offsets = session(args.frames)
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "session.json"
        path.write_text(json.dumps(doc))
        for speed in ("1", "max"):
            proc, base = serve(path, speed)
            try:
                before = cpu_seconds(proc.pid)
                result = clients(base, args.sessions)
                used = cpu_seconds(proc.pid) - before
            finally:
                proc.terminate()
                proc.wait(10)
            arrivals = result["arrivals"]
            total = sum(len(a) for a in arrivals)
            print(f"speed {speed}: the server used {used:.2f} s of CPU: {used / total * 1e6:.0f} µs per frame")
            assert all(len(a) == len(offsets) for a in arrivals), "a session lost frames"
            if speed == "1":
                late = sorted(max(0.0, got - want) * 1000 for a in arrivals for got, want in zip(a, offsets))
                p95 = late[int(0.95 * (len(late) - 1))]
                print(f"speed 1: {args.sessions} sessions x {len(offsets)} frames: lateness p50 "
                      f"{statistics.median(late):.1f} ms, p95 {p95:.1f} ms, max {late[-1]:.1f} ms "
                      f"(goal p95 <= 20 ms: {'met' if p95 <= 20 else 'NOT met'})")
            else:
                rate = total / result["wall"]
                print(f"speed max: {args.sessions} sessions, {total} frames in {result['wall']:.2f} s: "
                      f"{rate:,.0f} frames/s (goal >= 20,000: {'met' if rate >= 20000 else 'NOT met'})")
    print(f"cpus: {os.cpu_count()}")


if __name__ == "__main__":
    main()
