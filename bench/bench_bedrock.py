"""``llmtrace reassemble`` on a 100,000-event Bedrock ConverseStream (raw AWS event-stream frames,
both CRC32s checked) against the same on an equivalent 100,000-chunk OpenAI chat stream (raw SSE),
as whole processes (wall time and peak RSS, medians of interleaved runs).

    python bench/bench_bedrock.py [--events N] [--runs N]

Both streams carry the same text, one token per event: the Bedrock one as ``messageStart``,
``contentBlockDelta`` events (each with Bedrock's random-length ``p`` padding, as the service
sends it), ``contentBlockStop``, ``messageStop`` and ``metadata``; the OpenAI one as
``chat.completion.chunk`` SSE events ending with a finish chunk, a usage chunk and ``[DONE]``.
Goal: the Bedrock stream within 1.5x the OpenAI stream's wall time.
"""

from __future__ import annotations

import argparse
import random
import sys
import tempfile
from pathlib import Path

import orjson

from measure import compare, llmtrace_command, report

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from llmtrace.containers.aws_eventstream import encode  # noqa: E402

WORDS = "the quick brown fox jumps over a lazy dog while streaming tokens arrive one by one".split()
PADDING = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"


def tokens(n: int) -> list[str]:
    return [(" " if i else "") + WORDS[i % len(WORDS)] for i in range(n)]


def bedrock_stream(n_events: int, rnd: random.Random) -> bytes:
    text = tokens(n_events - 5)
    chunks = [{"messageStart": {"p": PADDING[:rnd.randint(1, 50)], "role": "assistant"}}]
    chunks += [{"contentBlockDelta": {"contentBlockIndex": 0, "delta": {"text": t}, "p": PADDING[:rnd.randint(1, 50)]}}
               for t in text]
    chunks += [{"contentBlockStop": {"contentBlockIndex": 0, "p": "abc"}},
               {"messageStop": {"p": "abcdef", "stopReason": "end_turn"}},
               {"metadata": {"metrics": {"latencyMs": 4242}, "p": "ab",
                             "usage": {"inputTokens": 12, "outputTokens": len(text), "totalTokens": 12 + len(text)}}}]
    return encode(chunks)


def openai_stream(n_chunks: int) -> bytes:
    text = tokens(n_chunks - 2)
    head = {"id": "chatcmpl-bench", "object": "chat.completion.chunk", "created": 1760000000, "model": "gpt-4o-mini",
            "system_fingerprint": "fp_bench"}
    lines = []
    for n, token in enumerate(text):
        delta = {"role": "assistant", "content": token} if n == 0 else {"content": token}
        choice = {"index": 0, "delta": delta, "finish_reason": None}
        lines.append(b"data: " + orjson.dumps({**head, "choices": [choice]}))
    lines.append(b"data: " + orjson.dumps({**head, "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]}))
    lines.append(b"data: " + orjson.dumps({**head, "choices": [], "usage": {"prompt_tokens": 12, "completion_tokens":
                                                                           len(text), "total_tokens": 12 + len(text)}}))
    lines.append(b"data: [DONE]")
    return b"\n\n".join(lines) + b"\n\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=7)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="llmtrace-bench-") as tmp:
        bedrock = Path(tmp) / "converse.eventstream"
        openai = Path(tmp) / "openai.sse"
        bedrock.write_bytes(bedrock_stream(args.events, random.Random(0)))
        openai.write_bytes(openai_stream(args.events))
        print(f"{args.events} events: Bedrock {bedrock.stat().st_size / 2**20:.1f} MiB, "
              f"OpenAI {openai.stat().st_size / 2**20:.1f} MiB, {args.runs} runs each\n")
        commands = {
            "reassemble bedrock": [*llmtrace_command(), "reassemble", str(bedrock)],
            "reassemble openai": [*llmtrace_command(), "reassemble", str(openai)],
        }
        medians = compare(commands, args.runs)
        report(medians, "reassemble openai", (1.5, None))
        ratio = medians["reassemble bedrock"].wall / medians["reassemble openai"].wall
        print(f"\nBedrock / OpenAI wall time: {ratio:.2f}x (goal <= 1.5x)")


if __name__ == "__main__":
    main()
