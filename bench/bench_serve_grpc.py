"""``llmtrace serve`` answering gRPC (xAI's ``GetCompletionChunk``), ``--speed max``: frames per
second to concurrent clients, against grpcio's own server (C core, the same recorded messages
from a generic handler) on the same machine — the ceiling a gRPC server reaches here.

The stream: the reasoning cassette's chunk repeated to 2,000 chunks (recorded bytes kept). The
clients: one process of grpcio channels, N concurrent calls, each reading every message.
No goal was set for gRPC; the ratio says what serving it from Python (h2) costs.

    .venv/bin/python bench/bench_serve_grpc.py
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
SOURCE = ROOT / "tests/data/newformats/F-pydantic-ai/tests__models__cassettes__test_xai__test_xai_stream_events_with_reasoning.xai.yaml"
CHUNKS, CLIENTS = 2000, 10

CLIENT = r"""
import sys, time, threading, grpc
host, n, request = sys.argv[1], int(sys.argv[2]), open(sys.argv[3], "rb").read()
counts = [0] * n
def one(i):
    with grpc.insecure_channel(host, options=[("grpc.enable_http_proxy", 0)]) as channel:
        counts[i] = sum(1 for _ in channel.unary_stream("/xai_api.Chat/GetCompletionChunk")(request, timeout=120))
start = time.perf_counter()
threads = [threading.Thread(target=one, args=(i,)) for i in range(n)]
for t in threads: t.start()
for t in threads: t.join()
print(sum(counts), time.perf_counter() - start)
"""

CEILING = r"""
import asyncio, sys, grpc, yaml
messages = yaml.safe_load(open(sys.argv[1]))["interactions"][0]["response_stream"]["chunks_raw"]
async def chunks(request, context):
    for m in messages:
        yield m
class Generic(grpc.GenericRpcHandler):
    def service(self, details):
        return grpc.unary_stream_rpc_method_handler(chunks)
async def main():
    server = grpc.aio.server()
    server.add_generic_rpc_handlers([Generic()])
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    print(port, flush=True)
    await server.wait_for_termination()
asyncio.run(main())
"""


def cassette(folder: Path) -> tuple[Path, Path]:
    interaction = yaml.safe_load(SOURCE.read_text())["interactions"][0]
    stream = interaction["response_stream"]
    stream["chunks_json"] = [stream["chunks_json"][2]] * CHUNKS
    stream["chunks_raw"] = [stream["chunks_raw"][2]] * CHUNKS
    path = folder / "bench.xai.yaml"
    path.write_text(yaml.safe_dump({"interactions": [interaction]}))
    request = folder / "request.bin"
    request.write_bytes(interaction["request_stream"]["raw"])
    return path, request


def rate(host: str, request: Path) -> float:
    best = 0.0
    for _ in range(3):
        out = subprocess.run([sys.executable, "-c", CLIENT, host, str(CLIENTS), str(request)],
                             capture_output=True, text=True, timeout=300, check=True).stdout.split()
        frames, seconds = int(out[0]), float(out[1])
        assert frames == CHUNKS * CLIENTS, out
        best = max(best, frames / seconds)
    return best


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path, request = cassette(Path(tmp))
        serve = subprocess.Popen([sys.executable, "-m", "llmtrace", "serve", "--port", "0", "--speed", "max", str(path)],
                                 stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        ceiling = subprocess.Popen([sys.executable, "-c", CEILING, str(path)], stdout=subprocess.PIPE, text=True)
        try:
            host = serve.stdout.readline().strip().removeprefix("http://")
            port = ceiling.stdout.readline().strip()
            time.sleep(0.2)
            served = rate(host, request)
            bare = rate(f"127.0.0.1:{port}", request)
        finally:
            serve.terminate()
            ceiling.terminate()
            serve.wait(10)
            ceiling.wait(10)
    print(f"--speed max, {CLIENTS} gRPC clients x {CHUNKS:,} messages: llmtrace serve {served:,.0f} frames/s, "
          f"grpcio's own server {bare:,.0f} frames/s ({served / bare:.2f}x)")


if __name__ == "__main__":
    main()
