"""``llmtrace record``: what the recording proxy adds, measured from a separate client process.

Latency (``--streams`` concurrent streams, default 100): an Ollama stream with per-chunk times
(the corpus recording re-timed to a 3-second stream with gaps from 5 to 120 ms, no load time)
served by ``llmtrace serve --speed 1`` in its own process, read by clients in another process
directly and through ``llmtrace record`` (a third process) in front of it. Per chunk after the
first: its lateness against its stream's first chunk (arrival − first arrival − the recorded
gap); printed p50/p95 direct (measured before and after) and through the proxy, and their
difference: the latency the proxy adds per chunk. Goal: ≤ 1 ms p95 added at 100 concurrent
streams. The first chunk's lateness from the request start is printed apart (through the
proxy it includes opening the upstream connection).

Throughput (``--speed max``): a ``--chunks``-chunk OpenAI chat stream (default 2,000) to
``--clients`` concurrent clients (default 20), frames per second direct and through the proxy
(which writes one HAR file per exchange meanwhile). Goal: through the proxy ≥ 50% of direct.

Clients, proxy and upstream share this machine's cores: a miss is printed with its measure.

Usage: python bench/bench_record.py [--streams 100] [--clients 20] [--chunks 2000]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TIMED = ROOT / "tests" / "data" / "corpus" / "llama-stack" / "ollama-generate-stream" / "120f40661861.json"
SEED = ROOT / "tests" / "data" / "corpus" / "seed" / "000_a2136f253c2c20b7.json"

# The clients, in their own process: bench_serve.py's, the same loop for both benchmarks.
sys.path.insert(0, str(Path(__file__).parent))
from bench_serve import clients  # noqa: E402



def retimed(target: Path) -> list[float]:
    """The timed corpus stream, re-timed: gaps cycling 5..120 ms, no load time. The offsets."""
    doc = json.loads(TIMED.read_text())
    gaps = [0.005, 0.02, 0.04, 0.08, 0.12, 0.01, 0.06]
    offsets, t = [], 0.0
    for i, chunk in enumerate(doc["response"]["body"]):
        t += gaps[i % len(gaps)] if i else 0.0
        offsets.append(t)
        data = chunk["__data__"]
        data["created_at"] = f"2025-01-01T00:00:{t:012.9f}Z"
        for key in ("load_duration", "prompt_eval_duration", "total_duration"):
            data.pop(key, None)
    target.write_text(json.dumps(doc))
    return offsets


def start(args: list[str]) -> tuple[subprocess.Popen, str]:
    proc = subprocess.Popen([sys.executable, "-m", "llmtrace", *args], stdout=subprocess.PIPE,
                            stderr=subprocess.DEVNULL, text=True, cwd=ROOT)
    return proc, proc.stdout.readline().strip()


def stop(proc: subprocess.Popen) -> None:
    proc.terminate()
    proc.wait(30)


def pct(values: list[float], p: int) -> float:
    return statistics.quantiles(values, n=100)[p - 1] if len(values) > 1 else values[0]


def lateness(result: dict, offsets: list[float]) -> tuple[list[float], list[float]]:
    """(each first chunk's lateness from the request start; each later chunk's lateness against
    its stream's first chunk: what the path adds per chunk once the stream runs)."""
    first, later = [], []
    for arrivals in result["arrivals"]:
        first.append(arrivals[0] - offsets[0])
        later.extend((got - arrivals[0]) - (want - offsets[0]) for got, want in zip(arrivals[1:], offsets[1:]))
    return first, later


def added(rows: dict, streams: int, through: str) -> tuple[float, float]:
    """Print each row's per-chunk and first-chunk lateness; (p50, p95) per chunk that ``through``
    adds to the direct rows ("direct", "direct again")."""
    for name, (first, later) in rows.items():
        print(f"{streams} streams, {name:>15}: per chunk p50 {pct(later, 50) * 1000:6.2f} ms, "
              f"p95 {pct(later, 95) * 1000:6.2f} ms late ({len(later)} chunks); first chunk p50 "
              f"{pct(first, 50) * 1000:6.1f} ms, p95 {pct(first, 95) * 1000:6.1f} ms after the request")
    direct = rows["direct"][1] + rows["direct again"][1]
    return pct(rows[through][1], 50) - pct(direct, 50), pct(rows[through][1], 95) - pct(direct, 95)


def latency(streams: int, tmp: Path) -> None:
    path = tmp / "timed.json"
    offsets = retimed(path)
    body = json.loads(path.read_text())["request"]["body"]
    serve, upstream = start(["serve", "--port", "0", "--speed", "1", str(path)])
    record, proxy = start(["record", "--upstream", upstream, "--listen", "127.0.0.1:0", "-o", str(tmp / "latency")])
    try:
        clients(upstream + "/api/generate", body, 2)  # warm up both
        clients(proxy + "/api/generate", body, 2)
        rows = {}
        for name, base in (("direct", upstream), ("through record", proxy), ("direct again", upstream)):
            rows[name] = lateness(clients(base + "/api/generate", body, streams), offsets)
    finally:
        stop(record)
        stop(serve)
    added50, added95 = added(rows, streams, "through record")
    first_direct = rows["direct"][0] + rows["direct again"][0]
    print(f"added by the proxy per chunk: p50 {added50 * 1000:+.2f} ms, p95 {added95 * 1000:+.2f} ms "
          f"(goal: p95 <= 1 ms) -> {'met' if added95 <= 0.001 else 'MISSED'}; to the first chunk (its upstream "
          f"connection and request included): p50 {(pct(rows['through record'][0], 50) - pct(first_direct, 50)) * 1000:+.1f} ms")


def throughput(clients_n: int, chunks: int, tmp: Path) -> None:
    doc = json.loads(SEED.read_text())
    content, final = doc["response"]["body"][:-1], doc["response"]["body"][-1:]
    doc["response"]["body"] = [content[i % len(content)] for i in range(chunks - 1)] + final
    path = tmp / "big.json"
    path.write_text(json.dumps(doc))
    body = doc["request"]["body"]
    serve, upstream = start(["serve", "--port", "0", "--speed", "max", str(path)])
    record, proxy = start(["record", "--upstream", upstream, "--listen", "127.0.0.1:0", "-o", str(tmp / "throughput")])
    try:
        rates = {}
        for name, base in (("direct", upstream), ("through record", proxy)):
            clients(base + "/v1/chat/completions", body, 2)  # warm up
            result = clients(base + "/v1/chat/completions", body, clients_n)
            rates[name] = sum(len(a) for a in result["arrivals"]) / result["wall"]
    finally:
        stop(record)
        stop(serve)
    ratio = rates["through record"] / rates["direct"]
    print(f"--speed max, {clients_n} clients x {chunks:,} frames: direct {rates['direct']:,.0f} frames/s, "
          f"through record {rates['through record']:,.0f} frames/s ({ratio:.0%} of direct; goal >= 50%) "
          f"-> {'met' if ratio >= 0.5 else 'MISSED'}")
    files = list((tmp / "throughput").glob("*.har"))
    print(f"  ({len(files)} HAR files written by the proxy meanwhile)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--streams", type=int, default=100)
    parser.add_argument("--clients", type=int, default=20)
    parser.add_argument("--chunks", type=int, default=2000)
    args = parser.parse_args()
    print(f"{os.cpu_count()} cores; serve, record and the clients in separate processes; "
          f"load average {os.getloadavg()[0]:.1f}")
    with tempfile.TemporaryDirectory() as tmp:
        latency(args.streams, Path(tmp))
        throughput(args.clients, args.chunks, Path(tmp))


if __name__ == "__main__":
    main()
