"""``llmtrace serve``: timing fidelity and throughput, measured from a separate client process.

Timing (``--speed 1`` and ``--speed 10``): an Ollama stream with per-chunk times (the corpus
recording's chunks, re-timed to a 3-second stream with gaps from 5 to 120 ms, no load time),
served by ``llmtrace serve`` in its own process; clients record when each line arrives. Printed:
p95 of |arrival offset − recorded offset / speed| (offsets from the first frame), for one
stream and for 500 concurrent streams, and the p95 lateness. Goal: p95 <= max(5 ms, 5% of the
offset) for one stream, p95 lateness <= 20 ms for 500.

Throughput (``--speed max``): a 2,000-chunk OpenAI chat stream to 50 concurrent clients in
another process, frames per second, beside a bare asyncio server writing the same frames with
the same HTTP framing (the ceiling of this machine). Goal: >= 50,000 frames/s.

Usage: python bench/bench_serve.py [--streams 500] [--clients 50] [--chunks 2000]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TIMED = ROOT / "tests" / "data" / "corpus" / "llama-stack" / "ollama-generate-stream" / "120f40661861.json"
SEED = ROOT / "tests" / "data" / "corpus" / "seed" / "000_a2136f253c2c20b7.json"

CLIENT = r'''
import asyncio, json, sys, time
import aiohttp

async def one(session, url, body, out):
    start = time.monotonic()
    arrivals = []
    async with session.post(url, json=body) as response:
        async for line in response.content:
            if line.strip():
                arrivals.append(time.monotonic() - start)
    out.append(arrivals)

def own(body, tag, i):  # with a tag, each stream its own prompt (bench_record_on_miss: a miss each)
    return body if tag is None else {**body, "prompt": f"{body['prompt']} [{tag} {i}]"}

async def main(url, body, n, tag):
    out = []
    connector = aiohttp.TCPConnector(limit=0)
    async with aiohttp.ClientSession(connector=connector, timeout=aiohttp.ClientTimeout(total=600)) as session:
        t0 = time.monotonic()
        await asyncio.gather(*(one(session, url, own(body, tag, i), out) for i in range(n)))
        wall = time.monotonic() - t0
    print(json.dumps({"wall": wall, "arrivals": out}))

asyncio.run(main(sys.argv[1], json.loads(sys.argv[2]), int(sys.argv[3]), sys.argv[4] if len(sys.argv) > 4 else None))
'''

BARE = r'''
import asyncio, json, sys
frames = [bytes.fromhex(h) for h in json.load(open(sys.argv[1]))]
head = b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n"

async def handle(reader, writer):
    while True:
        line = await reader.readline()
        if not line:
            return
        length = 0
        while line not in (b"\r\n", b"\n", b""):
            if line.lower().startswith(b"content-length:"):
                length = int(line.split(b":")[1])
            line = await reader.readline()
        await reader.readexactly(length)
        writer.write(head)
        for frame in frames:
            writer.write(b"%x\r\n%s\r\n" % (len(frame), frame))
            await writer.drain()
        writer.write(b"0\r\n\r\n")
        await writer.drain()

async def main():
    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    print(server.sockets[0].getsockname()[1], flush=True)
    async with server:
        await server.serve_forever()

asyncio.run(main())
'''


PACED = r'''
import asyncio, json, sys, time
frames = [bytes.fromhex(h) for h in json.load(open(sys.argv[1]))]
offsets = json.load(open(sys.argv[2]))
head = b"HTTP/1.1 200 OK\r\nContent-Type: application/x-ndjson\r\nTransfer-Encoding: chunked\r\n\r\n"

async def handle(reader, writer):
    while True:
        line = await reader.readline()
        if not line:
            return
        length = 0
        while line not in (b"\r\n", b"\n", b""):
            if line.lower().startswith(b"content-length:"):
                length = int(line.split(b":")[1])
            line = await reader.readline()
        await reader.readexactly(length)
        writer.write(head)
        t0 = time.monotonic()
        for frame, due in zip(frames, offsets):
            delay = due - (time.monotonic() - t0)
            if delay > 0:
                await asyncio.sleep(delay)
            writer.write(b"%x\r\n%s\r\n" % (len(frame), frame))
            await writer.drain()
        writer.write(b"0\r\n\r\n")
        await writer.drain()

async def main():
    server = await asyncio.start_server(handle, "127.0.0.1", 0, backlog=1024)
    print(server.sockets[0].getsockname()[1], flush=True)
    async with server:
        await server.serve_forever()

asyncio.run(main())
'''


def retimed(target: Path) -> list[float]:
    """The timed corpus stream, re-timed: gaps cycling 5..120 ms, no load time. The offsets."""
    doc = json.loads(TIMED.read_text())
    chunks = doc["response"]["body"]
    gaps = [0.005, 0.02, 0.04, 0.08, 0.12, 0.01, 0.06]
    offsets, t = [], 0.0
    for i, chunk in enumerate(chunks):
        t += gaps[i % len(gaps)] if i else 0.0
        offsets.append(t)
        data = chunk["__data__"]
        data["created_at"] = f"2025-01-01T00:00:{t:012.9f}Z"
        for key in ("load_duration", "prompt_eval_duration", "total_duration"):
            data.pop(key, None)
    target.write_text(json.dumps(doc))
    return offsets


def start_serve(path: Path, *args: str) -> tuple[subprocess.Popen, str]:
    proc = subprocess.Popen([sys.executable, "-m", "llmtrace", "serve", "--port", "0", *args, str(path)],
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, cwd=ROOT)
    return proc, proc.stdout.readline().strip()


def clients(url: str, body: dict, n: int, tag: str | None = None) -> dict:
    """``n`` concurrent streams of ``body`` from another process (with ``tag``: each its own prompt)."""
    out = subprocess.run([sys.executable, "-c", CLIENT, url, json.dumps(body), str(n), *([tag] if tag else [])],
                         capture_output=True, text=True, timeout=900)
    if out.returncode:
        raise SystemExit(out.stderr)
    return json.loads(out.stdout)


def p95(values: list[float]) -> float:
    return statistics.quantiles(values, n=100)[94] if len(values) > 1 else values[0]


def _errors(result: dict, offsets: list[float], speed: float) -> tuple[list[float], list[float], list[float]]:
    errors, late, allowed = [], [], []
    for arrivals in result["arrivals"]:
        first = arrivals[0]
        for got, want in zip(arrivals, offsets):
            error = (got - first) - want / speed
            errors.append(abs(error))
            late.append(max(0.0, error))
            allowed.append(max(0.005, 0.05 * want / speed))
    return errors, late, allowed


def ceiling(streams: int) -> None:
    """The same paced stream from a bare asyncio server (a sleep before each frame, nothing else):
    what pacing 500 streams costs on this machine with these clients, whoever serves them."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "timed.json"
        offsets = retimed(path)
        doc = json.loads(path.read_text())
        frames = [(json.dumps(c["__data__"], separators=(",", ":")) + "\n").encode().hex() for c in doc["response"]["body"]]
        (Path(tmp) / "frames.json").write_text(json.dumps(frames))
        for speed in (1.0, 10.0):
            (Path(tmp) / "offsets.json").write_text(json.dumps([o / speed for o in offsets]))
            bare = subprocess.Popen([sys.executable, "-c", PACED, str(Path(tmp) / "frames.json"),
                                     str(Path(tmp) / "offsets.json")], stdout=subprocess.PIPE, text=True)
            try:
                port = bare.stdout.readline().strip()
                for n in (1, streams):
                    result = clients(f"http://127.0.0.1:{port}/api/generate", doc["request"]["body"], n)
                    errors, late, _ = _errors(result, offsets, speed)
                    print(f"bare asyncio pacing at speed {speed:g}, {n:>3} stream{'s' if n > 1 else ' '}: p95 |error| "
                          f"{p95(errors) * 1000:6.1f} ms, p95 lateness {p95(late) * 1000:6.1f} ms")
            finally:
                bare.terminate()
                bare.wait(10)


def timing(streams: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "timed.json"
        offsets = retimed(path)
        body = json.loads(path.read_text())["request"]["body"]
        for speed in (1.0, 10.0):
            proc, base = start_serve(path, "--speed", str(speed))
            try:
                for n in (1, streams):
                    result = clients(base + "/api/generate", body, n)
                    errors, late, allowed = [], [], []
                    for arrivals in result["arrivals"]:
                        first = arrivals[0]
                        for got, want in zip(arrivals, offsets):
                            error = (got - first) - want / speed
                            errors.append(abs(error))
                            late.append(max(0.0, error))
                            allowed.append(max(0.005, 0.05 * want / speed))
                    within = sum(e <= a for e, a in zip(errors, allowed)) / len(errors)
                    print(f"--speed {speed:g}, {n:>3} stream{'s' if n > 1 else ' '}: p95 |error| {p95(errors) * 1000:6.1f} ms, "
                          f"p95 lateness {p95(late) * 1000:6.1f} ms, {within:.1%} of frames within max(5 ms, 5%)")
            finally:
                proc.terminate()
                proc.wait(10)


def throughput(clients_n: int, chunks: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        doc = json.loads(SEED.read_text())
        body_chunks = doc["response"]["body"]
        content, final = body_chunks[:-1], body_chunks[-1:]
        doc["response"]["body"] = [content[i % len(content)] for i in range(chunks - 1)] + final
        path = Path(tmp) / "big.json"
        path.write_text(json.dumps(doc))
        body = doc["request"]["body"]
        proc, base = start_serve(path, "--speed", "max")
        try:
            clients(base + "/v1/chat/completions", body, 2)  # warm up
            result = clients(base + "/v1/chat/completions", body, clients_n)
        finally:
            proc.terminate()
            proc.wait(10)
        frames = sum(len(a) for a in result["arrivals"])
        served = frames / result["wall"]
        encoded = [(b"data: " + json.dumps(c["__data__"], separators=(",", ":")).encode() + b"\n\n").hex()
                   for c in doc["response"]["body"]]
        frames_file = Path(tmp) / "frames.json"
        frames_file.write_text(json.dumps(encoded))
        bare = subprocess.Popen([sys.executable, "-c", BARE, str(frames_file)], stdout=subprocess.PIPE, text=True)
        try:
            port = bare.stdout.readline().strip()
            url = f"http://127.0.0.1:{port}/v1/chat/completions"
            clients(url, body, 2)
            result = clients(url, body, clients_n)
        finally:
            bare.terminate()
            bare.wait(10)
        ceiling = sum(len(a) for a in result["arrivals"]) / result["wall"]
        print(f"--speed max, {clients_n} clients x {chunks:,} frames: llmtrace serve {served:,.0f} frames/s, "
              f"bare asyncio server {ceiling:,.0f} frames/s ({served / ceiling:.2f}x of the ceiling; goal >= 50,000/s)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--streams", type=int, default=500)
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--chunks", type=int, default=2000)
    args = parser.parse_args()
    print(f"{os.cpu_count()} cores; server and clients in separate processes")
    timing(args.streams)
    ceiling(args.streams)
    throughput(args.clients, args.chunks)


if __name__ == "__main__":
    main()
