"""``llmtrace record`` proxies gRPC: the xAI SDK pointed at the recording proxy, whose upstream is
``serve`` replaying an xAI cassette from tests/data, gets the recorded answer; the cassette
``record`` writes reads back as the same exchange (``diff`` exit 0) and is served as gRPC again
with the same message bytes on the wire. Errors (a gRPC status) and unary calls pass through and
are recorded. Real servers on 127.0.0.1, every call with a deadline."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import threading
from pathlib import Path

import pytest
import yaml

grpc = pytest.importorskip("grpc")
xai_sdk = pytest.importorskip("xai_sdk")

from test_serve_grpc import CODE, REASONING, _cassette, _raw_stream, _recorded_question, _serve  # noqa: E402

from llmtrace import reassemble  # noqa: E402
from llmtrace.loader import load  # noqa: E402
from llmtrace.server import faults  # noqa: E402
from llmtrace.server.proxy import Options as ProxyOptions  # noqa: E402
from llmtrace.server.proxy import RecordServer  # noqa: E402
from llmtrace.server.saving import Saver  # noqa: E402


class _Recording:
    """``record`` in a background thread, in front of ``upstream``."""

    def __init__(self, upstream: str, folder: Path, save_as: str = "har"):
        self.lines: list[str] = []
        self.server = RecordServer(upstream, Saver(folder, save_as), options=ProxyOptions(log=self.lines.append))
        self.loop = asyncio.new_event_loop()

    def __enter__(self) -> str:
        started = threading.Event()

        def run():
            asyncio.set_event_loop(self.loop)
            self.loop.run_until_complete(self.server.start())
            started.set()
            self.loop.run_forever()

        self.thread = threading.Thread(target=run, daemon=True)
        self.thread.start()
        assert started.wait(10)
        return self.server.base_url

    def __exit__(self, *exc):
        asyncio.run_coroutine_threadsafe(self.server.stop(), self.loop).result(10)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)
        self.loop.close()


def test_the_xai_sdk_through_record_gets_the_answer_and_the_cassette_reads_back_equal(tmp_path):
    expected = reassemble(load(str(REASONING)).exchanges[0])["outputs"][0]["message"]["content"]
    served, _ = _serve(REASONING)
    with served as upstream, _Recording(upstream, tmp_path) as proxy:
        pieces = [chunk.content for _response, chunk in _recorded_question(proxy).stream()]
    assert "".join(pieces) == expected
    [written] = sorted(tmp_path.glob("*.xai.yaml"))
    assert written.name == "0001-GRPC-xai-api-chat-getcompletionchunk.xai.yaml"
    # The SDK sends ``n: 1``, which the recording's older SDK left out (serve's matching counts it as unset).
    result = subprocess.run([sys.executable, "-m", "llmtrace", "diff", "--ignore", "request.params.n",
                             str(REASONING), str(written)],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr
    item = yaml.safe_load(written.read_text())["interactions"][0]
    assert item["response_stream"]["chunks_raw"] == _cassette(REASONING)["response_stream"]["chunks_raw"]
    assert item["_status"] == 0 and "test-key" not in written.read_text()  # the authorization metadata, masked

    # Served again from what record wrote: the same bytes on the wire.
    again, _ = _serve(written)
    with again as base:
        got, ended = _raw_stream(base, _cassette(REASONING)["request_stream"]["raw"])
    assert ended.code() == grpc.StatusCode.OK
    assert got == _cassette(REASONING)["response_stream"]["chunks_raw"]


def test_a_raw_grpc_client_through_record_gets_the_recorded_bytes(tmp_path):
    interaction = _cassette(CODE)
    served, _ = _serve(CODE)
    with served as upstream, _Recording(upstream, tmp_path) as proxy:
        got, ended = _raw_stream(proxy, interaction["request_stream"]["raw"])
    assert ended.code() == grpc.StatusCode.OK
    assert got == interaction["response_stream"]["chunks_raw"]


def test_a_unary_call_and_an_error_status_pass_through_and_are_recorded(tmp_path):
    served, _ = _serve(REASONING, faults=(faults.parse("error:status=429,request=1"),))
    with served as upstream, _Recording(upstream, tmp_path) as proxy:
        response = _recorded_question(proxy).sample()
        with pytest.raises(grpc.RpcError) as failed:
            _recorded_question(proxy).sample()
    assert response.content == reassemble(load(str(REASONING)).exchanges[0])["outputs"][0]["message"]["content"]
    assert failed.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    first, second = sorted(tmp_path.glob("*.xai.yaml"))
    assert "-getcompletion.xai.yaml" in first.name
    assert load(str(first)).exchanges[0].result.choices[0].content == response.content
    ex = load(str(second)).exchanges[0]
    assert ex.failed and ex.response.error["code"] == 8


def test_save_as_vcr_appends_the_call_to_the_runs_cassette(tmp_path):
    served, _ = _serve(REASONING)
    with served as upstream, _Recording(upstream, tmp_path, "vcr") as proxy:
        list(_recorded_question(proxy).stream())
    [cassette] = sorted(tmp_path.glob("session-*.yaml"))
    recording = load(str(cassette))
    assert recording.exchanges[0].dialect == "xai-grpc"
    assert recording.exchanges[0].result.choices[0].content == \
        reassemble(load(str(REASONING)).exchanges[0])["outputs"][0]["message"]["content"]
