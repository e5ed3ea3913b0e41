"""``llmtrace reassemble`` on a 100,000-chunk Llama Stack recording against merely parsing the
same file with orjson, as whole processes (wall time and peak RSS, medians of interleaved runs).

    python bench/bench_reassemble.py [--chunks N] [--runs N] [--source FILE]

The recording is built from a corpus file: its content chunks repeated in order until the
stream holds N chunks, its finishing chunks (finish_reason, usage) kept at the end.
Goals: at most 1.5x the wall time and 1.3x the peak memory of the orjson baseline; at least
20x faster than openai-python's ``ChatCompletionStreamState`` fed the same chunks
(openai_accumulate.py); faster than ``jq`` extracting just the content.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
from pathlib import Path

import orjson

from measure import compare, llmtrace_command, report

ROOT = Path(__file__).resolve().parent.parent
SEED = ROOT / "tests" / "data" / "corpus" / "seed" / "000_a2136f253c2c20b7.json"
HERE = Path(__file__).resolve().parent
JQ_CONTENT = '.response.body[].__data__.choices[]?.delta.content // empty'
PARSE_ONLY = "import orjson,sys; orjson.loads(open(sys.argv[1],'rb').read())"


def _is_final(item: dict) -> bool:
    chunk = item.get("__data__", item)
    return chunk.get("usage") is not None or any(c.get("finish_reason") for c in chunk.get("choices") or [])


def build_recording(source: Path, n_chunks: int, target: Path) -> None:
    doc = orjson.loads(source.read_bytes())
    body = doc["response"]["body"]
    final = [item for item in body if _is_final(item)]
    content = [item for item in body if not _is_final(item)]
    if not content:
        raise SystemExit(f"{source}: no content chunks to repeat")
    repeats = max(n_chunks - len(final), 0)
    doc["response"]["body"] = [content[i % len(content)] for i in range(repeats)] + final
    target.write_bytes(orjson.dumps(doc, option=orjson.OPT_INDENT_2))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--chunks", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--source", type=Path, default=SEED, help="Llama Stack chat stream to repeat")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="llmtrace-bench-") as tmp:
        path = Path(tmp) / "stream.json"
        build_recording(args.source, args.chunks, path)
        size = path.stat().st_size
        print(f"{args.chunks} chunks from {args.source.name}: {size / 2**20:.1f} MiB, {args.runs} runs each\n")
        commands = {
            "llmtrace reassemble": [*llmtrace_command(), "reassemble", str(path)],
            "orjson.loads (baseline)": [sys.executable, "-c", PARSE_ONLY, str(path)],
        }
        medians = compare(commands, args.runs)
        report(medians, "orjson.loads (baseline)", (1.5, 1.3))
        # The slow competitors run fewer times: one run of the accumulator takes many seconds.
        others = {"openai ChatCompletionStreamState": [sys.executable, str(HERE / "openai_accumulate.py"),
                                                       str(path)]}
        jq = shutil.which("jq")
        if jq:
            others["jq (content only)"] = [jq, "-j", JQ_CONTENT, str(path)]
        else:
            print("\njq is not installed: skipping the jq comparison")
        slow = compare(others, max(1, args.runs // 3))
    ours = medians["llmtrace reassemble"].wall
    print()
    for name, sample in slow.items():
        goal = "goal >= 20x" if name.startswith("openai") else "goal > 1x"
        print(f"{name:<36} {sample.wall:>8.2f} s   llmtrace is {sample.wall / ours:>5.1f}x faster ({goal})")


if __name__ == "__main__":
    main()
