"""``llmtrace record``: a reverse proxy in front of a provider that records every exchange with
each chunk's arrival time (HTTP: ``server.proxy``; websocket sessions: ``server.ws_record``;
gRPC: ``server.grpc_record``). Checks the upstream URL and the listen address, binds (a port in
use: one line, exit 2), prints the proxy's base URL and the variables that point the SDKs at
it on stdout, logs one line per exchange on stderr, and runs until SIGTERM (exit 0) or Ctrl-C
(exit 130), saving the exchanges in flight before it exits."""

from __future__ import annotations

import asyncio
from urllib.parse import urlsplit

from llmtrace.errors import UsageError
from llmtrace.output import warn


def parse_listen(value: str) -> tuple[str, int]:
    """``HOST:PORT`` (``[::1]:PORT`` for IPv6; a bare port listens on 127.0.0.1)."""
    text = value.strip()
    host, sep, port = text.rpartition(":")
    if not sep:
        host, port = "127.0.0.1", text
    host = host[1:-1] if host.startswith("[") and host.endswith("]") else host
    try:
        number = int(port)
    except ValueError:
        raise UsageError(f"--listen should be HOST:PORT, not {value!r}") from None
    if not 0 <= number <= 65535 or not host:
        raise UsageError(f"--listen should be HOST:PORT with a port from 0 to 65535, not {value!r}")
    return host, number


def check_upstream(url: str) -> str:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise UsageError(f"--upstream should be an http:// or https:// URL, not {url!r}")
    if parts.query or parts.fragment:
        raise UsageError("--upstream should have no query or fragment (the client's path and query are appended)")
    return url


def run(upstream: str, listen: str = "127.0.0.1:8001", out: str = "recordings", save_as: str = "har",
        mask: bool = True) -> int:
    upstream = check_upstream(upstream)
    host, port = parse_listen(listen)
    if save_as not in ("har", "vcr"):
        raise UsageError(f"--save-as should be har or vcr, not {save_as!r}")
    from llmtrace.server.proxy import RecordServer
    from llmtrace.server.saving import Saver

    server = RecordServer(upstream, Saver(out, save_as, mask), host=host, port=port)
    return asyncio.run(_record(server, out))


async def _record(server, out: str) -> int:
    try:
        await server.start()
    except OSError as exc:
        bound = server.runner is not None  # listening worked: the folder did not
        await server.stop()
        if bound:
            warn(f"{out}: cannot write recordings there: {exc.strerror or exc}")
        else:
            warn(f"cannot listen on {server.host}:{server.port}: {exc.strerror or exc}")
        return 2
    base = server.base_url
    from llmtrace.server.app import announce, until_signalled

    announce(base)
    recorder = server.recorder
    saver = recorder.saver
    where = saver.cassette if saver.save_as == "vcr" else f"{out}/ (one HAR file per exchange)"
    warn(f"recording {recorder.upstream} into {where}{'' if saver.mask else ', secrets NOT masked'}; "
         f"SIGTERM or Ctrl-C stops")
    code = await until_signalled()
    await server.stop()
    warn(f"recorded {recorder.count} exchange{'s' if recorder.count != 1 else ''}")
    return code
