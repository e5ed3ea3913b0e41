"""What the reading limits cost, and what they save (issue #11 items 2, 3, 6).

1. In process, CPU time: the bounded inflater (``bodies.gunzip``: pieces, a cap, memory checks)
   vs ``gzip.decompress`` on a realistic 4 MiB SSE body, and on a small one (goal: ≈ 1.0x);
   ``vcr.load_yaml`` (alias prefilter, and the sizing walk when it fires) vs a bare
   ``yaml.load`` with the same loader on a cassette whose text has ``&`` and ``*`` in it
   (goal: ≈ 1.0x without the walk, the walk linear in nodes).
2. Whole processes: how long a hostile file takes to be refused — a gzip bomb (4 GiB of zeros
   in 4 MB) at ``--max-size 200M``, a billion-laughs YAML, and an alias fan-out — next to
   ``reassemble`` of a small recording (the floor: start-up).

Usage: python bench/bench_limits.py [--runs 3]
"""

from __future__ import annotations

import argparse
import gzip
import json
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from measure import compare, llmtrace_command  # noqa: E402

SEED = Path(__file__).resolve().parent.parent / "tests" / "data" / "corpus" / "seed" / "000_a2136f253c2c20b7.json"
CHAT = "https://api.openai.com/v1/chat/completions"


def cpu_best(fn, runs: int = 7) -> float:
    times = []
    for _ in range(runs):
        start = time.process_time()
        fn()
        times.append(time.process_time() - start)
    return min(times)


def sse_body(events: int) -> bytes:
    return "".join("data: " + json.dumps({"id": "c", "choices": [{"index": 0, "delta": {"content": f"tok{i} "}}]})
                   + "\n\n" for i in range(events)).encode()


def cassette(interactions: int) -> bytes:
    """A YAML cassette whose bodies hold markdown (`` **bold**``) and HTML (`` &amp;``): the
    alias prefilter fires, so the sizing walk runs over every node."""
    text = "Use **bold** & more: a &amp; b, *emphasis* " * 20
    one = (f"- request:\n    method: POST\n    uri: {CHAT}\n    body: '{{\"model\": \"gpt-4o\"}}'\n"
           "    headers:\n      content-type: [application/json]\n"
           "  response:\n    status: {code: 200, message: OK}\n    headers:\n      content-type: [application/json]\n"
           f"    body:\n      string: {json.dumps(json.dumps({'choices': [{'message': {'content': text}}]}))}\n")
    return ("interactions:\n" + one * interactions).encode()


def in_process() -> None:
    import yaml

    from llmtrace.containers import bodies, vcr

    big = gzip.compress(sse_body(60_000))
    small = gzip.compress(b'{"id": "c", "object": "chat.completion"}')
    plain = cpu_best(lambda: gzip.decompress(big))
    bounded = cpu_best(lambda: bodies.gunzip(big, "body"))
    print(f"inflate 4 MiB body:    gzip.decompress {plain * 1e3:.1f} ms, bounded {bounded * 1e3:.1f} ms "
          f"({bounded / plain:.2f}x)")
    plain = cpu_best(lambda: [gzip.decompress(small) for _ in range(10_000)]) / 10_000
    bounded = cpu_best(lambda: [bodies.gunzip(small, "body") for _ in range(10_000)]) / 10_000
    print(f"inflate small body:    gzip.decompress {plain * 1e6:.1f} µs, bounded {bounded * 1e6:.1f} µs "
          f"({bounded / plain:.2f}x)")
    data = cassette(300)
    loader = vcr._loader()
    assert vcr._may_alias(data)
    bare = cpu_best(lambda: yaml.load(data, Loader=loader), 5)
    guarded = cpu_best(lambda: vcr.load_yaml(data), 5)
    print(f"YAML {len(data) / 2**20:.1f} MiB, sized:  yaml.load {bare * 1e3:.0f} ms, load_yaml {guarded * 1e3:.0f} ms "
          f"({guarded / bare:.2f}x)")
    clean = data.replace(b"&", b"+").replace(b"*", b"_")
    assert not vcr._may_alias(clean)
    bare = cpu_best(lambda: yaml.load(clean, Loader=loader), 5)
    guarded = cpu_best(lambda: vcr.load_yaml(clean), 5)
    print(f"YAML {len(clean) / 2**20:.1f} MiB, no alias: yaml.load {bare * 1e3:.0f} ms, load_yaml {guarded * 1e3:.0f} ms "
          f"({guarded / bare:.2f}x)")


def hostile(root: Path) -> dict[str, Path]:
    member = gzip.compress(b"\0" * (16 << 20), 9, mtime=0)
    (root / "bomb.json.gz").write_bytes(member * 256)
    laughs = ['a0: &a0 ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    laughs += [f"a{i}: &a{i} [" + ",".join([f"*a{i - 1}"] * 9) + "]" for i in range(1, 10)]
    (root / "laughs.yaml").write_text("\n".join(laughs) + "\ninteractions: [{response: {parsed_body: *a9}}]\n")
    levels = [f"      x0: &x0 [{', '.join(['aaaaaaaaaa'] * 10)}]"]
    levels += [f"      x{i}: &x{i} [{', '.join([f'*x{i - 1}'] * 10)}]" for i in range(1, 9)]
    (root / "fanout.yaml").write_text("interactions:\n- request: {uri: '" + CHAT + "', method: POST}\n"
                                      "  response:\n    status: {code: 200}\n    parsed_body:\n"
                                      + "\n".join(levels) + "\n")
    return {name: root / name for name in ("bomb.json.gz", "laughs.yaml", "fanout.yaml")}


def refused(cmd: list[str]) -> list[str]:
    """``cmd`` through ``sh``, succeeding only when llmtrace refuses the input (exit 2), as
    measure.py takes any other exit as a failed run; ``sh``'s own cost is a few ms."""
    return ["sh", "-c", '"$@" 2>/dev/null; [ $? -eq 2 ]', "sh", *cmd]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    in_process()
    cli = llmtrace_command()
    with tempfile.TemporaryDirectory(prefix="llmtrace-bench-limits-") as tmp:
        files = hostile(Path(tmp))
        commands = {
            "reassemble seed (start-up floor)": [*cli, "reassemble", str(SEED)],
            "gzip bomb, --max-size 200M": refused([*cli, "reassemble", "--max-size", "200M", str(files["bomb.json.gz"])]),
            "billion laughs (461 bytes)": refused([*cli, "reassemble", str(files["laughs.yaml"])]),
            "alias fan-out (10^9 strings)": refused([*cli, "reassemble", str(files["fanout.yaml"])]),
        }
        medians = compare(commands, args.runs)
    for name, (wall, rss, cpu) in medians.items():
        print(f"{name:<34} {wall:>6.2f} s wall  {cpu:>6.2f} s CPU  peak RSS {rss / 1024:.0f} MiB")


if __name__ == "__main__":
    main()
