"""A client that leaves in the middle of a stream (``curl … | head``) costs ``serve`` one log
line, never a traceback."""

from __future__ import annotations

import socket
import time

from llmtrace.loader import load
from llmtrace.server.app import Options, Server
from llmtrace.server.faults import parse
from test_record import CHAT, _body, _in_thread

import orjson


def test_a_client_leaving_mid_stream_is_one_log_line(capfd):
    lines: list[str] = []
    body = orjson.dumps(_body(CHAT))
    stall = (parse("stall:after=0,seconds=3"),)  # the client is gone when the next frame is written
    with _in_thread(Server([load(str(CHAT))], options=Options(faults=stall, log=lines.append))) as server:
        host, port = server.base_url.removeprefix("http://").split(":")
        with socket.create_connection((host, int(port)), timeout=10) as sock:
            sock.sendall(b"POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                         b"Content-Length: " + str(len(body)).encode() + b"\r\n\r\n" + body)
            assert sock.recv(4096).startswith(b"HTTP/1.1 200")
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")  # RST
        deadline = time.monotonic() + 60  # a guard against a hang: the loop ends as soon as the line is there
        while not lines and time.monotonic() < deadline:
            time.sleep(0.05)
    assert len(lines) == 1 and ("the client left" in lines[0] or "closed the connection" in lines[0]), lines
    assert "Traceback" not in capfd.readouterr().err
