"""``llmtrace show`` on 1, 2, 4, 8 and 16 MiB of content, as whole processes (medians of
interleaved runs): the time per size and its ratio to the size before (linear ≈ 2.0 per
doubling), then ``show --all`` at 8 MiB, which renders every character.

    python bench/bench_show.py [--runs N] [--kind body|event|chunks] [--sizes 1,2,4,8,16] [--all]

The recordings are built in a temporary directory: an OpenAI chat completion whose content
is lines of words, recorded as a plain response body (``body``, the default), as one SSE
``data:`` event holding the whole content (``event``), or as an SSE stream of 64-character
chunks (``chunks``). Goal: ratios near 2.0 (no superlinear path); ``show`` without ``--all``
cuts the body view, so its time is mostly reading the file.
"""

from __future__ import annotations

import argparse
import random
import tempfile
from pathlib import Path

import orjson

from measure import HAVE_TIME, compare, llmtrace_command

MIB = 2**20
WORDS = ("alpha", "beta", "gamma", "delta", "epsilon", "zeta", "eta", "theta", "lorem", "ipsum")


def content(size: int) -> str:
    rng = random.Random(size)
    lines, total = [], 0
    while total < size:
        line = " ".join(rng.choice(WORDS) for _ in range(12)) + "\n"
        lines.append(line)
        total += len(line)
    return "".join(lines)[:size]


def chunk(delta: dict, finish: str | None = None) -> bytes:
    return b"data: " + orjson.dumps({"id": "c", "object": "chat.completion.chunk", "created": 1, "model": "m",
                                     "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}) + b"\n\n"


def build(kind: str, size: int, folder: Path) -> Path:
    text = content(size)
    if kind == "body":
        path = folder / f"body-{size // MIB}.json"
        path.write_bytes(orjson.dumps({
            "request": {"url": "https://api.openai.com/v1/chat/completions", "method": "POST",
                        "body": {"model": "gpt-4o", "messages": [{"role": "user", "content": "write"}]}},
            "response": {"status": 200, "body": {
                "id": "c", "object": "chat.completion", "created": 1, "model": "gpt-4o",
                "choices": [{"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}],
                "usage": {"prompt_tokens": 1, "completion_tokens": 2, "total_tokens": 3}}}}))
        return path
    path = folder / f"{kind}-{size // MIB}.sse"
    pieces = [text] if kind == "event" else [text[i:i + 64] for i in range(0, len(text), 64)]
    with path.open("wb") as out:
        out.write(chunk({"role": "assistant"}))
        for piece in pieces:
            out.write(chunk({"content": piece}))
        out.write(chunk({}, "stop") + b"data: [DONE]\n\n")
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--kind", choices=("body", "event", "chunks"), default="body")
    parser.add_argument("--sizes", default="1,2,4,8,16", help="content sizes in MiB, comma-separated")
    parser.add_argument("--all", dest="everything", action="store_true",
                        help="run show --all at every size (its ratios too), not only at 8 MiB")
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    llmtrace = llmtrace_command()
    with tempfile.TemporaryDirectory(prefix="llmtrace-bench-") as tmp:
        paths = {size: build(args.kind, size * MIB, Path(tmp)) for size in sizes}
        commands = {f"show {size} MiB": [*llmtrace, "show", str(path)] for size, path in paths.items()}
        for size in sizes if args.everything else [8 if 8 in paths else sizes[-1]]:
            commands[f"show --all {size} MiB"] = [*llmtrace, "show", "--all", str(paths[size])]
        print(f"{args.kind}: content of {', '.join(map(str, sizes))} MiB; {args.runs} runs each\n")
        medians = compare(commands, args.runs)
    print(f"{'command':<22} {'wall':>9} {'CPU':>9} {'peak RSS':>10}   {'per doubling: wall':>18} {'CPU':>6}")
    previous: dict[str, object] = {}
    for name, m in medians.items():
        kind = name.rsplit(" ", 2)[0]  # "show" or "show --all"
        before = previous.get(kind)
        ratios = f"{m.wall / before.wall:>17.2f}x {m.cpu / before.cpu:>5.2f}x" if before else ""
        print(f"{name:<22} {m.wall:>7.2f} s {m.cpu:>7.2f} s {m.rss / 1024:>6.0f} MiB   {ratios}")
        previous[kind] = m
    print(f"(medians; linear is 2.0x per doubling; peak RSS and CPU from "
          f"{'/usr/bin/time -v' if HAVE_TIME else 'os.wait4'}; CPU is steadier than wall on a busy machine)")


if __name__ == "__main__":
    main()
