"""``llmtrace serve``: recordings as a live endpoint. Reads every recording first (an
unreadable one: the usual line and exit 2 before listening, unless ``--skip-bad``; the files of
a folder are indexed, their responses folded when first matched), binds
(a port in use: one line, exit 2), prints the base URL and the variables that point the SDKs at
it on stdout (xAI gRPC calls are answered over HTTP/2 on the same port: stderr says how to point
the xAI SDK at it), then serves until SIGTERM (exit 0) or Ctrl-C (exit 130), finishing or cutting the
streams in flight within 2 seconds."""

from __future__ import annotations

import asyncio

from llmtrace.commands.per_file import load_all
from llmtrace.errors import UsageError
from llmtrace.output import warn


def parse_speed(value: str) -> float | None:
    """``--speed``: a positive number, or ``max`` (None: no pacing)."""
    if value == "max":
        return None
    try:
        speed = float(value)
    except ValueError:
        raise UsageError(f"--speed should be a number or max, not {value!r}") from None
    if not speed > 0:
        raise UsageError("--speed should be above 0")
    return speed


def run(paths: list[str], host: str = "127.0.0.1", port: int = 8000, speed: str = "1", rate: float | None = None,
        fault: list[str] = (), seed: int | None = None, match_mode: str = "strict", cors: bool = False,
        skip_bad: bool = False, fmt: str | None = None, upstream: str | None = None, record_to: str | None = None,
        save_as: str | None = None) -> int:
    from llmtrace.server.faults import FaultError, parse

    pace = parse_speed(speed)
    if rate is not None and not rate > 0:
        raise UsageError("--rate should be above 0")
    try:
        faults = tuple(parse(spec) for spec in fault)
    except FaultError as exc:
        raise UsageError(str(exc)) from None
    from llmtrace._startup import import_aiohttp_loading_certificates_later
    grow = on_miss(paths, upstream, record_to, save_as)
    from llmtrace.containers.bodies import keep_raw

    keep_raw(True)  # serve the recorded bytes where the recording has them
    from llmtrace.server.match import read_input

    def meanwhile() -> None:  # while worker processes index a big folder (none started after this)
        import_aiohttp_loading_certificates_later()  # aiohttp without waiting for the CA certificates
        import llmtrace.server.app  # noqa: F401

    recordings, failed = load_all(paths, fmt, read=read_input, meanwhile=meanwhile)
    if failed and not skip_bad:
        return 2
    if not recordings and grow is None:
        warn("nothing to serve: no recording was read")
        return 2
    from llmtrace.server.app import Options, Server

    server = Server(recordings, host=host, port=port,
                    options=Options(speed=pace, rate=rate, faults=faults, seed=seed, mode=match_mode, cors=cors,
                                    roots=tuple(paths), upstream=grow))
    return asyncio.run(_serve(server))


def on_miss(paths: list[str], upstream: str | None, record_to: str | None, save_as: str | None):
    """``--upstream URL [--record-to DIR] [--save-as har|vcr]``: an ``onmiss.Upstream``, or None
    without ``--upstream``."""
    if upstream is None:
        if record_to is not None or save_as is not None:
            raise UsageError("--record-to and --save-as go with --upstream URL (record on miss)")
        return None
    from llmtrace.commands.record import check_upstream
    from llmtrace.server.onmiss import Upstream, default_folder

    check_upstream(upstream)
    if save_as not in (None, "har", "vcr"):
        raise UsageError(f"--save-as should be har or vcr, not {save_as!r}")
    folder = record_to or default_folder(paths)
    if folder is None:
        raise UsageError(f"--upstream needs --record-to DIR: the first PATH ({paths[0]}) is not a folder")
    return Upstream(upstream, folder, save_as or "har")


async def _serve(server) -> int:
    grower = server.replay.grower
    try:
        await server.start()
    except OSError as exc:
        if grower is not None and grower.recorder.session is None:  # the folder failed, before listening
            warn(f"{grower.upstream.record_to}: cannot write recordings there: {exc.strerror or exc}")
        else:
            warn(f"cannot listen on {server.host}:{server.port}: {exc.strerror or exc}")
        await server.stop()
        return 2
    base = server.base_url
    from llmtrace.server.app import announce, until_signalled

    announce(base)
    replay = server.replay
    n = len(replay.catalog)
    sessions = ""
    if any(r.container == "websocket" for r in replay.recordings):  # realtime recordings: server.realtime
        from llmtrace.server import realtime

        k = len(realtime.sessions(replay).connections)
        sessions = f" and {k} websocket session{'s' if k != 1 else ''}"
    warn(f"serving {n} exchange{'s' if n != 1 else ''}{sessions} from {len(replay.recordings)} recording"
         f"{'s' if len(replay.recordings) != 1 else ''} ({replay.options.mode} matching); SIGTERM or Ctrl-C stops")
    if server.grpc:  # the xAI SDK reads no variable for its host: it is an argument
        warn(f"gRPC on the same port: xai_sdk.Client(api_host=\"{base.removeprefix('http://')}\", "
             f"use_insecure_channel=True)")
    if grower is not None:
        warn(f"a miss goes to {grower.upstream.url} and is recorded into {grower.upstream.record_to}")
    code = await until_signalled()
    await server.stop()
    return code
