"""``llmtrace serve --upstream`` (record on miss): what forwarding a miss adds, measured from a
separate client process.

An Ollama stream with per-chunk times (the corpus recording re-timed to a 3-second stream with
gaps from 5 to 120 ms, as in bench_record.py) is the upstream: ``llmtrace serve --speed 1
--match closest`` in its own process. ``--streams`` concurrent clients (default 50) in another
process read it directly, then through ``llmtrace serve EMPTY_FOLDER --upstream`` (a third
process) — each stream a different prompt, so each is a miss: forwarded, streamed back, written
as a HAR file and loaded — then directly again. Per chunk after the first: its lateness against
its stream's first chunk (arrival − first arrival − the recorded gap); printed p50/p95 direct
and on a miss, and the difference: what record on miss adds per chunk. Goal: ≤ 2 ms p95.
Then the same prompts again: each now a hit, served from what was recorded (``--speed 1``, the
recorded reads' times), the upstream not asked (its request count is printed).

Clients, the serving process and the upstream share this machine's cores.

Usage: python bench/bench_record_on_miss.py [--streams 50]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from bench_record import added, lateness, pct, retimed, stop  # noqa: E402
from bench_serve import clients  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent

def start(args: list[str], log: Path) -> tuple[subprocess.Popen, str]:
    with open(log, "w") as err:
        proc = subprocess.Popen([sys.executable, "-m", "llmtrace", *args], stdout=subprocess.PIPE, stderr=err,
                                text=True, cwd=ROOT)
    return proc, proc.stdout.readline().strip()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--streams", type=int, default=50)
    args = parser.parse_args()
    n = args.streams
    print(f"{os.cpu_count()} cores; upstream, serve --upstream and the clients in separate processes; "
          f"load average {os.getloadavg()[0]:.1f}")
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        path = tmp / "timed.json"
        offsets = retimed(path)
        body = json.loads(path.read_text())["request"]["body"]
        folder = tmp / "recorded"
        folder.mkdir()
        upstream, up = start(["serve", "--port", "0", "--speed", "1", "--match", "closest", str(path)], tmp / "up.log")
        grower, base = start(["serve", "--port", "0", "--speed", "1", str(folder), "--upstream", up], tmp / "grow.log")
        try:
            clients(up + "/api/generate", body, 2, "warm")  # warm up both (the warm-up prompts are recorded)
            clients(base + "/api/generate", body, 2, "warm")
            rows = {}
            for name, url, tag in (("direct", up, "direct"), ("miss: recorded", base, "run"),
                                   ("direct again", up, "again"), ("hit: replayed", base, "run")):
                rows[name] = lateness(clients(url + "/api/generate", body, n, tag), offsets)
        finally:
            stop(grower)
            stop(upstream)
        asked = sum(1 for line in (tmp / "up.log").read_text().splitlines() if "POST /api/generate" in line)
        recorded = len(list(folder.glob("*.har")))
    added50, added95 = added(rows, n, "miss: recorded")
    direct, missed = rows["direct"][1] + rows["direct again"][1], rows["miss: recorded"][1]
    print(f"added by record on miss per chunk: p50 {added50 * 1000:+.2f} ms, p95 {added95 * 1000:+.2f} ms "
          f"(goal: p95 <= 2 ms) -> {'met' if added95 <= 0.002 else 'MISSED'}; p95 ratio miss/direct "
          f"{pct(missed, 95) / max(pct(direct, 95), 1e-9):.2f}")
    print(f"upstream asked {asked} times ({3 * n + 4} expected: {2 * n + 2} direct, {n + 2} misses; the {n} hits "
          f"never reach it); {recorded} HAR files recorded ({n + 2} expected)")


if __name__ == "__main__":
    main()
