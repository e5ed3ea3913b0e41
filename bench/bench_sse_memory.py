"""Peak memory of ``llmtrace reassemble`` on a 100,000-event raw SSE file against
``orjson.loads`` of the same stream as a JSON recording, as whole processes (peak RSS and wall
time, medians of interleaved runs).

    python bench/bench_sse_memory.py [--chunks N] [--runs N] [--source FILE]

The stream is the one ``bench_reassemble.py`` builds (a corpus stream's content chunks repeated
to N chunks, its finishing chunks at the end). It is written three ways: as that Llama Stack
recording, as a compact JSON array of its chunks (the smallest JSON recording of the stream:
the baseline), and as SSE (one ``data:`` event per chunk, then ``data: [DONE]``).
Goal: the SSE run's peak RSS at most 1.3x that of ``orjson.loads`` of the JSON array — the SSE
reader parses event by event over the file's bytes, keeping neither a decoded copy of the text
nor a list of its lines.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import orjson

from bench_reassemble import PARSE_ONLY, SEED, build_recording
from measure import compare, llmtrace_command, report

BASELINE = "orjson.loads array"


def write_streams(recording: Path, array: Path, sse: Path) -> None:
    """The recording's chunks as a compact JSON array and as SSE."""
    chunks = [item.get("__data__", item) for item in orjson.loads(recording.read_bytes())["response"]["body"]]
    array.write_bytes(orjson.dumps(chunks))
    with open(sse, "wb") as out:
        for chunk in chunks:
            out.write(b"data: " + orjson.dumps(chunk) + b"\n\n")
        out.write(b"data: [DONE]\n\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--chunks", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--source", type=Path, default=SEED, help="Llama Stack chat stream to repeat")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="llmtrace-bench-") as tmp:
        recording, array, sse = Path(tmp) / "stream.json", Path(tmp) / "chunks.json", Path(tmp) / "stream.sse"
        build_recording(args.source, args.chunks, recording)
        write_streams(recording, array, sse)
        sizes = ", ".join(f"{p.name} {p.stat().st_size / 2**20:.1f} MiB" for p in (recording, array, sse))
        print(f"{args.chunks} chunks from {args.source.name}: {sizes}; {args.runs} runs each\n")
        medians = compare({
            "llmtrace reassemble SSE": [*llmtrace_command(), "reassemble", str(sse)],
            "llmtrace reassemble array": [*llmtrace_command(), "reassemble", str(array)],
            "orjson.loads recording": [sys.executable, "-c", PARSE_ONLY, str(recording)],
            BASELINE: [sys.executable, "-c", PARSE_ONLY, str(array)],
        }, args.runs)
    report(medians, BASELINE, (1.5, 1.3))
    print(f"\nSSE peak RSS / {BASELINE} peak RSS: {medians['llmtrace reassemble SSE'][1] / medians[BASELINE][1]:.2f}x "
          "(goal <= 1.3x)")


if __name__ == "__main__":
    main()
