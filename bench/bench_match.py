"""``llmtrace serve``: what matching costs per request with 10,000 recordings loaded.

10,000 recordings of one endpoint (a real OpenAI chat recording with tools, each copy asking its
own question, a fifth of them at a later agent turn), filed by ``server.match.Catalog``. Each
request goes the way ``serve`` takes it (``match.incoming``: detect and normalize the body, then
``Catalog.match``), without the memo of already-seen bytes (every request here is new bytes).
Printed, per mode and kind of request: p50 and p95 in milliseconds over ``--requests`` requests.

What keeps a hit flat in the number of recordings: two dictionaries filled at start — endpoint +
digest of the canonical request (strict), endpoint + digest of the conversation (loose, and the
candidates a strict miss is explained against). A miss with no recording of its conversation
compares against at most ``match.CANDIDATES`` (200) exchanges picked by a cheap ranking;
``closest`` compares against every exchange of the endpoint (linear: it is the mode for a few
recordings). Goal: strict and loose hits <= 1 ms p95.

Usage: python bench/bench_match.py [--recordings 10000] [--requests 2000]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from llmtrace.loader import load  # noqa: E402
from llmtrace.model import Recording  # noqa: E402
from llmtrace.normalize import normalize_request  # noqa: E402
from llmtrace.server import match  # noqa: E402
from llmtrace.view import request_doc  # noqa: E402

TOOLS = ROOT / "tests" / "data" / "cassettes" / "crewAI" / \
    "llms--TestToolCallStreamingEventStructure.test_tool_call_events_have_consistent_tool_id.yaml"
PATH = "/v1/chat/completions"


def body_of(base: dict, i: int) -> dict:
    """The i-th recording's request: its own question; every fifth one an agent's second turn."""
    messages = [{"role": "user", "content": f"What is the temperature in city number {i}?"}]
    if i % 5 == 0:
        messages += [{"role": "assistant", "content": None, "tool_calls": [
            {"id": f"call_{i}", "type": "function", "function": {"name": "get_current_temperature",
                                                                 "arguments": f'{{"city": "city {i}"}}'}}]},
                     {"role": "tool", "tool_call_id": f"call_{i}", "content": f"{i % 40} degrees"}]
    return {**base, "messages": messages}


def recordings(n: int) -> list[Recording]:
    recording = load(str(TOOLS))
    exchange = recording.exchanges[0]
    out = []
    for i in range(n):
        body = body_of(exchange.request.body, i)
        copy = exchange.model_copy(update={
            "request": exchange.request.model_copy(update={"body": body}),
            "normalized_request": normalize_request(body, exchange.dialect, exchange.request.model)})
        out.append(Recording(source=f"rec/{i:05d}.yaml", container=recording.container, exchanges=[copy]))
    return out


def timed(catalog: match.Catalog, bodies: list[dict], expect) -> list[float]:
    out = []
    for body in bodies:
        t0 = time.perf_counter()
        asked = match.incoming("POST", PATH, body)
        found = catalog.match(PATH, request_doc(asked), asked.dialect)
        out.append((time.perf_counter() - t0) * 1000)
        assert expect(found), (body["messages"][0], found)
    return out


def line(label: str, samples: list[float]) -> str:
    samples = sorted(samples)
    p95 = samples[min(len(samples) - 1, int(len(samples) * 0.95))]
    return f"{label:<44} p50 {statistics.median(samples):7.3f} ms   p95 {p95:7.3f} ms   ({len(samples)} requests)"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--recordings", type=int, default=10_000)
    parser.add_argument("--requests", type=int, default=2_000)
    args = parser.parse_args()
    base = load(str(TOOLS)).exchanges[0].request.body
    t0 = time.perf_counter()
    loaded = recordings(args.recordings)
    t1 = time.perf_counter()
    catalogs = {mode: match.Catalog(loaded, mode) for mode in ("strict", "loose")}
    t2 = time.perf_counter()
    print(f"{args.recordings} recordings built in {t1 - t0:.2f} s; two catalogs (strict, loose) filed in {t2 - t1:.2f} s")
    step = max(1, args.recordings // args.requests)
    picks = list(range(0, args.recordings, step))[:args.requests]
    hit = lambda found: isinstance(found, match.Hit)  # noqa: E731
    miss = lambda found: isinstance(found, match.Miss)  # noqa: E731
    # As SDKs send them: defaults added, stream flags changed, keys in another order.
    sdk = [dict(reversed(list({**body_of(base, i), "temperature": 1, "parallel_tool_calls": True,
                                "stream": False}.items()))) for i in picks]
    print(line("strict hit (SDK defaults added)", timed(catalogs["strict"], sdk, hit)))
    print(line("loose hit (temperature changed)",
               timed(catalogs["loose"], [{**b, "temperature": 0.2} for b in sdk], hit)))
    print(line("strict miss, same conversation (explained)",
               timed(catalogs["strict"], [{**b, "temperature": 0.2} for b in sdk], miss)))
    few = picks[:max(1, len(picks) // 20)]
    print(line("strict miss, new conversation (200 compared)",
               timed(catalogs["strict"], [{**body_of(base, i), "messages": [{"role": "user", "content": f"new {i}"}]}
                                          for i in few], miss)))
    closest = match.Catalog(loaded, "closest")
    print(line(f"closest, new conversation ({args.recordings} compared)",
               timed(closest, [{**body_of(base, i), "messages": [{"role": "user", "content": f"new {i}"}]}
                               for i in few[:5]], hit)))


if __name__ == "__main__":
    main()
