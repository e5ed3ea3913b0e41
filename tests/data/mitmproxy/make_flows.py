"""How the flow files here were made (run once by hand; the tests only read the files).

A local upstream streams a recorded OpenAI chat SSE body (examples/containers/sse/openai-chat.sse)
chunk by chunk and answers an Anthropic Messages request with JSON; ``mitmdump`` (mitmproxy 11,
``pip install mitmproxy`` in a separate venv) sits in front of it as a reverse proxy writing
flows (``-w``), and curl is the client. ``openai-chat-streamed-body.mitm`` is the same with
``stream_large_bodies=1``: mitmproxy streams the response through and keeps no body.

    /path/to/mitm-venv/bin/python tests/data/mitmproxy/make_flows.py /path/to/mitm-venv/bin/mitmdump
"""

import http.server
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
SSE = (HERE.parents[2] / "examples/containers/sse/openai-chat.sse").read_bytes()
MESSAGE = (b'{"id":"msg_01XFDUDYJgAACzvnptvVoYEL","type":"message","role":"assistant","model":"claude-sonnet-4-20250514",'
           b'"content":[{"type":"text","text":"Hello! How can I help you today?"}],"stop_reason":"end_turn",'
           b'"stop_sequence":null,"usage":{"input_tokens":12,"output_tokens":12}}')


class Upstream(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_POST(self):
        self.rfile.read(int(self.headers.get("content-length", 0)))
        if self.path.endswith("/messages"):
            self.send_response(200)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(MESSAGE)))
            self.end_headers()
            self.wfile.write(MESSAGE)
            return
        self.send_response(200)
        self.send_header("content-type", "text/event-stream")
        self.send_header("transfer-encoding", "chunked")
        self.end_headers()
        for event in SSE.split(b"\n\n"):
            if event.strip():
                data = event + b"\n\n"
                self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
                self.wfile.flush()
                time.sleep(0.02)
        self.wfile.write(b"0\r\n\r\n")

    def log_message(self, *args):
        pass


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def capture(mitmdump: str, out: Path, requests: list[tuple[str, str]], *extra: str) -> None:
    port = free_port()
    proc = subprocess.Popen([mitmdump, "-q", "--mode", f"reverse:http://127.0.0.1:{upstream_port}",
                             "--listen-host", "127.0.0.1", "-p", str(port), "-w", str(out), *extra])
    time.sleep(3)
    for path, body in requests:
        subprocess.run(["curl", "-sN", "--max-time", "10", f"http://127.0.0.1:{port}{path}", "-H",
                        "content-type: application/json", "-H", "authorization: Bearer sk-placeholder", "-d", body],
                       check=True, stdout=subprocess.DEVNULL)
    time.sleep(1)
    proc.terminate()
    proc.wait(10)


if __name__ == "__main__":
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Upstream)
    upstream_port = server.server_address[1]
    threading.Thread(target=server.serve_forever, daemon=True).start()
    chat = '{"model":"gpt-4o-mini","messages":[{"role":"user","content":"Say hi"}],"stream":true}'
    messages = '{"model":"claude-sonnet-4-20250514","max_tokens":64,"messages":[{"role":"user","content":"Hello"}]}'
    capture(sys.argv[1], HERE / "openai-chat-and-anthropic.mitm", [("/v1/chat/completions", chat), ("/v1/messages", messages)])
    capture(sys.argv[1], HERE / "openai-chat-streamed-body.mitm", [("/v1/chat/completions", chat)],
            "--set", "stream_large_bodies=1")
    server.shutdown()
