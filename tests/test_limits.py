"""Reading costs are bounded (issue #11 items 2, 3, 4 and 6): gzip and deflate bodies inflate
only up to ``--max-size``, YAML aliases cannot multiply the work, deep nesting is reported with
its place, and running out of memory is said as such.

Hostile inputs are built at test time and run as separate processes under a 1 GiB address-space
cap (``RLIMIT_AS``): each must exit 0, 1 or 2 with one ``llmtrace:`` line per problem on stderr,
no traceback, within the time limit. The rest runs in process with a small ``--max-size``."""

from __future__ import annotations

import base64
import gzip
import json
import os
import resource
import subprocess
import sys
import time
import zlib
from pathlib import Path

import pytest
from typer.testing import CliRunner

from llmtrace import limits
from llmtrace.cli import app
from llmtrace.containers import bodies
from llmtrace.errors import ShapeError, UnreadableInput, UsageError
from llmtrace.loader import load

MEMORY_CAP = 1 << 30
TIME_LIMIT = 10.0  # CPU seconds per run (wall time: at most 60)
CHAT = "https://api.openai.com/v1/chat/completions"
SSE = (
    'data: {"id":"c","object":"chat.completion.chunk","model":"gpt-4o","choices":[{"index":0,'
    '"delta":{"role":"assistant","content":"Hi"},"finish_reason":null}]}\n\n'
    'data: {"id":"c","object":"chat.completion.chunk","model":"gpt-4o","choices":[{"index":0,'
    '"delta":{},"finish_reason":"stop"}]}\n\ndata: [DONE]\n\n'
)


@pytest.fixture(autouse=True)
def _default_limit():
    limits.set_max_size(None)
    yield
    limits.set_max_size(None)


def run_capped(*args: str, env: dict | None = None, cap: int = MEMORY_CAP) -> tuple[int, str, str]:
    """``python -m llmtrace ARGS`` under a memory cap; checks what every run must hold and
    returns the exit code, stdout and stderr."""

    def capped() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (cap, cap))

    before = _children_cpu()
    proc = subprocess.run([sys.executable, "-m", "llmtrace", *args], capture_output=True, text=True,
                          preexec_fn=capped, timeout=60, env={**os.environ, **(env or {})})
    took = _children_cpu() - before
    shown = f"llmtrace {' '.join(args)} → exit {proc.returncode} in {took:.1f} s CPU\nstderr: {proc.stderr[-2000:]}"
    assert proc.returncode in (0, 1, 2), shown
    assert "Traceback" not in proc.stderr and "internal error" not in proc.stderr, shown
    assert all(line.startswith("llmtrace: ") for line in proc.stderr.splitlines()), shown
    assert took < TIME_LIMIT, shown
    return proc.returncode, proc.stdout, proc.stderr


def _children_cpu() -> float:
    """CPU seconds of finished child processes (and the ones they waited for): on a busy
    machine much steadier than wall time."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def bomb(total: int, member: int = 16 << 20) -> bytes:
    """Gzip members of zeros, concatenated: ``total`` bytes inflated from about total/1000."""
    one = gzip.compress(b"\0" * member, compresslevel=9, mtime=0)
    return one * (total // member)


def cassette(body_yaml: str, encoding: str = "gzip") -> str:
    return ("interactions:\n"
            f"- request:\n    method: POST\n    uri: {CHAT}\n    body: '{{}}'\n    headers: {{}}\n"
            "  response:\n    status: {code: 200, message: OK}\n"
            f"    headers:\n      content-encoding: [{encoding}]\n      content-type: [text/event-stream]\n"
            f"    body:\n{body_yaml}")


def binary_cassette(raw: bytes, encoding: str = "gzip") -> str:
    lines = base64.encodebytes(raw).decode().splitlines()
    return cassette("      string: !!binary |\n" + "".join(f"        {line}\n" for line in lines), encoding)


def write(path: Path, data: str | bytes) -> str:
    path.write_bytes(data.encode() if isinstance(data, str) else data)
    return str(path)


# --- sizes ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("text, size", [
    ("200M", 200 << 20), ("1G", 1 << 30), ("512K", 512 << 10), ("1000000", 1_000_000), ("1.5G", 3 << 29),
    ("2GiB", 2 << 30), ("10mb", 10 << 20), (" 64 k ", 64 << 10), ("100b", 100), ("1T", 1 << 40),
])
def test_parse_size(text, size):
    assert limits.parse_size(text) == size


@pytest.mark.parametrize("text", ["", "abc", "-1", "0", "1x", "M", "1.2.3G", "10 MB MB"])
def test_parse_size_rejects(text):
    with pytest.raises(UsageError, match="--max-size"):
        limits.parse_size(text)


@pytest.mark.parametrize("size, text", [(200 << 20, "200 MiB"), (1 << 30, "1 GiB"), (1536, "1.5 KiB"),
                                        (512, "512 bytes"), (3 << 29, "1.5 GiB")])
def test_describe(size, text):
    assert limits.describe(size) == text


@pytest.mark.parametrize("command", [["reassemble"], ["show"], ["check"], ["diff", "x"], ["scan"]])
def test_bad_max_size_is_a_usage_error(command, tmp_path):
    path = write(tmp_path / "r.sse", SSE)
    result = CliRunner().invoke(app, [command[0], "--max-size", "lots", *command[1:], path])
    assert result.exit_code == 2
    assert result.output.count("\n") == 1 and "--max-size: 'lots' is not a size" in result.output


# --- bounded decompression ------------------------------------------------------------------------


def test_inflate_stops_at_the_limit():
    limits.set_max_size(1 << 20)
    data = gzip.compress(b"a" * (3 << 20))
    with pytest.raises(ShapeError) as info:
        bodies.decode(data, "interaction 3, response body")
    assert str(info.value) == ("body inflates beyond the 1 MiB limit (--max-size), interaction 3, response body")


def test_inflate_under_the_limit_is_unchanged():
    limits.set_max_size(4 << 20)
    text = "data: x\n" * 200_000  # 1.6 MB
    assert bodies.decode(gzip.compress(text.encode()), "here") == text
    assert bodies.decode(gzip.compress(b"ab") + gzip.compress(b"cd") + b"\0\0", "here") == "abcd"
    assert bodies.decode(zlib.compress(text.encode()), "here", encoding="deflate") == text
    raw = zlib.compressobj(wbits=-15)
    assert bodies.decode(raw.compress(text.encode()) + raw.flush(), "here", encoding="deflate") == text


@pytest.mark.parametrize("data, what", [
    (gzip.compress(b"x" * 100, mtime=0)[:-12], "broken gzip data"),
    (gzip.compress(b"x", mtime=0) + b"garbage", "broken gzip data (trailing bytes"),
], ids=["cut-off", "trailing-garbage"])
def test_broken_gzip_still_says_so(data, what):
    with pytest.raises(ShapeError, match=what.replace("(", r"\(")):
        bodies.decode(data, "here")


def test_deflate_bomb_names_the_limit():
    limits.set_max_size(1 << 20)
    deflated = zlib.compress(b"\0" * (8 << 20), 9)
    with pytest.raises(ShapeError, match=r"body inflates beyond the 1 MiB limit \(--max-size\), entry 0"):
        bodies.decode(deflated, "entry 0", encoding="deflate")


def _har(text: str, encoding: str | None = None) -> dict:
    content = {"mimeType": "text/event-stream", "text": text, **({"encoding": encoding} if encoding else {})}
    entry = {"request": {"method": "POST", "url": CHAT, "headers": []},
             "response": {"status": 200, "headers": [{"name": "content-encoding", "value": "gzip"}],
                          "content": content}}
    return {"log": {"version": "1.2", "entries": [entry, entry]}}


def _ruby(raw: bytes) -> str:
    b64 = base64.b64encode(raw).decode()
    return ("---\nhttp_interactions:\n"
            f"- request:\n    method: post\n    uri: {CHAT}\n    body: {{encoding: UTF-8, string: ''}}\n"
            "  response:\n    status: {code: 200, message: OK}\n"
            "    headers:\n      Content-Encoding: [gzip]\n"
            f"    body:\n      encoding: ASCII-8BIT\n      base64_string: {b64}\n")


@pytest.mark.parametrize("name, build, where", [
    ("vcr.yaml", lambda raw: binary_cassette(raw), "interaction 0, response body"),
    ("ruby.yml", _ruby, "interaction 0, response body"),
    ("x.har", lambda raw: json.dumps(_har(base64.b64encode(raw).decode(), "base64")), "entry 0, response body"),
    ("x.json.gz", lambda raw: raw, "gzipped file"),
    ("x.yaml.gz", lambda raw: gzip.compress(binary_cassette(raw).encode()), "interaction 0, response body"),
])
def test_every_compressed_place_is_bounded(tmp_path, name, build, where):
    raw = bomb(4 << 20, member=1 << 20)
    path = write(tmp_path / name, build(raw))
    limits.set_max_size(1 << 20)
    with pytest.raises(UnreadableInput) as info:
        load(path)
    assert "inflates beyond the 1 MiB limit (--max-size)" in info.value.line()
    assert info.value.line().endswith(where)
    limits.set_max_size(None)
    try:
        load(path)  # the same file under the default limit: read, or refused for another reason
    except UnreadableInput as exc:
        assert "inflates" not in exc.what


def test_a_file_over_the_limit_is_not_read(tmp_path):
    path = write(tmp_path / "r.sse", SSE * 100)
    limits.set_max_size(1024)
    with pytest.raises(UnreadableInput) as info:
        load(path)
    assert info.value.line() == f"{path}: file is {limits.describe(len(SSE) * 100)}, beyond the 1 KiB limit (--max-size)"
    with pytest.raises(UnreadableInput, match="beyond the 1 KiB limit"):
        load(path, data=(SSE * 100).encode())


def test_gzip_bomb_at_the_default_limit_under_a_memory_cap(tmp_path):
    """4 GiB of zeros in a VCR body, in a process capped at 1 GiB (it cannot reach the 1 GiB
    default limit): refused from its compression ratio after its first 16 MiB, long before
    memory runs out (zlib inflates zeros at only about 65 MB/s on the CI machine)."""
    path = write(tmp_path / "bomb.yaml", binary_cassette(bomb(4 << 30)))
    code, out, err = run_capped("reassemble", path)
    assert code == 2 and out == ""
    assert err.startswith(f"llmtrace: {path}: too large for available memory (body would inflate to about 4 GiB; ")
    assert err.endswith("available), interaction 0, response body\n")


@pytest.mark.parametrize("command", [["reassemble"], ["show"], ["check"], ["scan"], ["diff", "A"]])
def test_max_size_option_names_the_limit(tmp_path, command):
    path = write(tmp_path / "bomb.json.gz", bomb(16 << 20, member=1 << 20))
    args = [command[0], "--max-size", "4M", *[path if a == "A" else a for a in command[1:]], path]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 2
    assert f"llmtrace: {path}: file inflates beyond the 4 MiB limit (--max-size), gzipped file\n" in result.stderr


def test_max_size_option_under_the_memory_cap(tmp_path):
    path = write(tmp_path / "bomb.json.gz", bomb(64 << 20))
    code, _out, err = run_capped("reassemble", "--max-size", "20M", path)
    assert (code, err) == (2, f"llmtrace: {path}: file inflates beyond the 20 MiB limit (--max-size), gzipped file\n")


# --- YAML aliases ---------------------------------------------------------------------------------


def billion_laughs() -> str:
    lines = ['a0: &a0 ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    lines += [f"a{i}: &a{i} [" + ",".join([f"*a{i - 1}"] * 9) + "]" for i in range(1, 10)]
    return "\n".join(lines) + "\ninteractions: [{request: {uri: 'http://x/v1/models'}, response: {parsed_body: *a9}}]\n"


def alias_fanout() -> str:
    levels = [f"      x0: &x0 [{', '.join(['aaaaaaaaaa'] * 10)}]"]
    levels += [f"      x{i}: &x{i} [{', '.join([f'*x{i - 1}'] * 10)}]" for i in range(1, 8)]
    return ("interactions:\n- request:\n    uri: " + CHAT + "\n    method: POST\n    parsed_body: {model: gpt}\n"
            "  response:\n    status: {code: 200}\n    parsed_body:\n" + "\n".join(levels) + "\n")


@pytest.mark.parametrize("build, line", [(billion_laughs, "line 6, column 5"), (alias_fanout, "line 13, column 11")])
def test_alias_bombs_are_refused(tmp_path, build, line):
    path = write(tmp_path / "bomb.yaml", build())
    code, out, err = run_capped("reassemble", path)
    assert code == 2 and out == ""
    assert "YAML aliases expand the document too far" in err and line in err
    with pytest.raises(UnreadableInput, match=line):
        load(path)


def test_one_big_interaction_referenced_many_times_is_sized_once(tmp_path):
    """1 MB interaction, 10,000 references: refused by the budget, without reading the 1 MB
    10,000 times (the sizing remembers each node's size)."""
    big = ("base: &big\n  request: {uri: '" + CHAT + "', method: POST}\n"
           "  response:\n    status: {code: 200}\n    body: {string: '" + "x" * 1_000_000 + "'}\n"
           "interactions: [" + ", ".join(["*big"] * 10_000) + "]\n")
    path = write(tmp_path / "big.yaml", big)
    with pytest.raises(UnreadableInput, match=r"YAML aliases expand the document too far.*line 6, column 15"):
        load(path)
    # Sized once: eight times the references cost far less than eight times as much (reading the
    # 1 MB again for each would); two sizes compared in one run, not a fixed time.
    fewer = write(tmp_path / "fewer.yaml", big.replace(", ".join(["*big"] * 10_000), ", ".join(["*big"] * 1_250)))

    def cost(target: str) -> float:
        best = float("inf")
        for _ in range(2):
            started = time.process_time()
            with pytest.raises(UnreadableInput):
                load(target)
            best = min(best, time.process_time() - started)
        return max(best, 1e-3)

    assert cost(path) < 4 * cost(fewer)


def test_shared_nodes_a_recorder_writes_still_read(tmp_path):
    """vcrpy (PyYAML's dumper) writes ``&id001`` when one headers object is used twice."""
    doc = ("interactions:\n"
           f"- request: {{uri: '{CHAT}', method: POST, body: '{{}}', headers: &id001 {{Content-Type: [application/json]}}}}\n"
           f"  response: {{status: {{code: 200}}, headers: {{}}, body: {{string: {json.dumps(SSE)}}}}}\n"
           f"- request: {{uri: '{CHAT}', method: POST, body: '{{}}', headers: *id001}}\n"
           f"  response: {{status: {{code: 200}}, headers: {{}}, body: {{string: {json.dumps(SSE)}}}}}\n")
    recording = load(write(tmp_path / "c.yaml", doc))
    assert [e.result.choices[0].content for e in recording.exchanges] == ["Hi", "Hi"]


def test_an_alias_inside_its_own_anchor_is_refused(tmp_path):
    path = write(tmp_path / "loop.yaml", "interactions: &loop [*loop]\n")
    with pytest.raises(UnreadableInput, match=r"refers to a node that contains it .*line 1"):
        load(path)


def test_sizing_counts_every_reference():
    import yaml

    from llmtrace.containers.vcr import expanded_size

    node = yaml.compose("a: &x [ab, cd]\nb: [*x, *x]\n", Loader=yaml.SafeLoader)
    # map(1) + a(2) + seq(1 + 3 + 3) + b(2) + seq(1 + 7 + 7)
    assert expanded_size(node, 10**6, 0) == 1 + 2 + 7 + 2 + 15
    with pytest.raises(ShapeError, match="line 2, column 4"):
        expanded_size(node, 14, 0)


# --- deep nesting ---------------------------------------------------------------------------------


def _deep(levels: int) -> str:
    return "[" * levels + "]" * levels


@pytest.mark.parametrize("levels", [255, 600, 1000, 1100])
@pytest.mark.parametrize("place", ["request", "response", "sse"])
def test_deep_json_reads_or_says_where(tmp_path, levels, place):
    deep = _deep(levels)
    if place == "sse":
        text = SSE.replace('"finish_reason":null}]}', '"finish_reason":null}],"x":' + deep + "}", 1)
        path = write(tmp_path / "d.sse", text)
    else:
        body = '{"choices":[{"message":{"content":"hi"}}],"x":DEEP}' if place == "response" else '{"choices":[]}'
        req = '{"model":"m","messages":[{"role":"user","content":DEEP}]}' if place == "request" else '{"model":"m"}'
        text = ('{"request":{"url":"' + CHAT + '","body":' + req + '},"response":{"body":' + body + "}}")
        path = write(tmp_path / "d.json", text.replace("DEEP", deep))
    try:
        load(path)
    except UnreadableInput as exc:
        assert exc.what.startswith("nested too deeply") or "nested too deeply" in exc.what, exc.line()
        assert exc.where, exc.line()


@pytest.mark.parametrize("levels", [500, 999, 1001, 5000])
def test_deep_yaml_reads_or_says_where(tmp_path, levels):
    doc = ("interactions:\n- request: {uri: 'http://x/v1/models', method: GET}\n"
           "  response:\n    status: {code: 200}\n    parsed_body: " + _deep(levels) + "\n")
    path = write(tmp_path / "d.yaml", doc)
    try:
        load(path)
    except UnreadableInput as exc:
        assert exc.what == "nested too deeply (YAML: more than 1000 levels)" and exc.where.startswith("line 5")


@pytest.mark.parametrize("container, where", [("vcr", "interaction 0"), ("har", "entry 0")])
def test_deep_header_value_says_which_exchange(tmp_path, container, where):
    """A header value nested 1000 levels deep cannot be made into text: the exchange is named."""
    if container == "vcr":
        text = ('{"interactions":[{"request":{"uri":"' + CHAT + '","method":"POST","headers":{"accept":DEEP}},'
                '"response":{"status":{"code":200},"body":{"string":"{}"}}}]}')
    else:
        text = ('{"log":{"entries":[{"request":{"method":"POST","url":"' + CHAT + '","headers":'
                '[{"name":"accept","value":DEEP}]},"response":{"status":200,"content":{"text":"{}"}}}]}}')
    path = write(tmp_path / "h.json", text.replace("DEEP", _deep(1000)))
    with pytest.raises(UnreadableInput) as info:
        load(path)
    assert info.value.line() == f"{path}: nested too deeply, {where}"


def test_a_chunk_field_of_an_unforeseen_type_is_unreadable_not_an_internal_error(tmp_path):
    path = write(tmp_path / "c.json", '[{"type":[["message_start"]]},{"type":"message_stop"}]')
    with pytest.raises(UnreadableInput, match=r"unexpected value \(TypeError: unhashable type: 'list'\), response$"):
        load(path)


@pytest.mark.parametrize("open_, close", [("!ruby/object {a: ", "}"), ("!!python/tuple [", "]")])
def test_deeply_nested_tags_read_like_untagged_nesting(tmp_path, open_, close):
    doc = ("interactions:\n- request: {uri: 'http://x/v1/models', method: GET}\n"
           "  response:\n    status: {code: 200}\n    parsed_body: " + open_ * 900 + "1" + close * 900 + "\n")
    body = load(write(tmp_path / "t.yaml", doc)).exchanges[0].response.body
    for _ in range(900):
        body = body["a"] if isinstance(body, dict) else body[0]
    assert body == 1


def test_deep_inputs_under_the_memory_cap(tmp_path):
    json_path = write(tmp_path / "d.json", '{"request":{"url":"' + CHAT + '","body":{"model":"m","messages":'
                      '[{"role":"user","content":' + _deep(1000) + '}]}},"response":{"body":{}}}')
    code, _out, err = run_capped("check", json_path)
    assert code == 2 and err == f"llmtrace: {json_path}: nested too deeply, request body\n"


# --- memory ---------------------------------------------------------------------------------------


def test_a_file_beyond_memory_is_refused_before_reading(tmp_path):
    path = tmp_path / "huge.json"
    with open(path, "wb") as fh:
        fh.truncate(3 << 30)  # sparse: nothing is written
    code, _out, err = run_capped("check", "--max-size", "4G", str(path))
    assert code == 2
    assert err.startswith(f"llmtrace: {path}: too large for available memory (the file is 3 GiB; ")
    with pytest.raises(UnreadableInput) as info:
        load(str(path))
    assert info.value.line() == f"{path}: file is 3 GiB, beyond the 1 GiB limit (--max-size)"


def test_running_out_of_memory_while_parsing_is_not_bad_json(tmp_path):
    path = tmp_path / "ints.json"
    with open(path, "wb") as fh:
        fh.write(b'{"request":{},"response":{"body":[')
        fh.write(b"0," * (20 << 20))
        fh.write(b"0]}}")
    code, _out, err = run_capped("check", str(path), cap=512 << 20)  # 20 million values do not fit
    assert code == 2
    assert err == (f"llmtrace: {path}: too large for available memory (the file is 40 MiB; "
                   "memory ran out while reading it)\n")


def test_orjson_allocation_failure_on_small_input_is_not_memory():
    assert not limits.is_memory_error(_json_error("[" * 700), 700)
    assert limits.json_too_deep(_json_error("[" * 700))
    assert limits.is_memory_error(MemoryError(), 1)


def _json_error(text: str):
    import orjson

    try:
        orjson.loads(text)
    except orjson.JSONDecodeError as exc:
        return exc
    raise AssertionError("parsed")


# --- scan: workers ----------------------------------------------------------------------------------


def _folder(tmp_path: Path, count: int = 30) -> Path:
    folder = tmp_path / "many"
    folder.mkdir()
    for i in range(count):
        write(folder / f"r{i:02d}.sse", SSE.replace('"id":"c"', f'"id":"c{i}"'))
    return folder


def _rows(out: str) -> dict[str, dict]:
    rows = [json.loads(line) for line in out.splitlines()]
    return {os.path.basename(row["file"]): row for row in rows}


def test_scan_survives_a_worker_that_dies(tmp_path):
    folder = _folder(tmp_path)
    result = CliRunner().invoke(app, ["scan", "--jsonl", "-j", "1", str(folder)])
    assert result.exit_code == 0
    clean = _rows(result.stdout)
    assert len(clean) == 30
    crash_env = {"LLMTRACE_TEST_CRASH_ON": "r07.sse"}
    code, out, err = run_capped("scan", "--jsonl", "-j", "2", str(folder), env=crash_env)
    assert code == 2
    rows = _rows(out)
    died = f"{folder / 'r07.sse'}: worker died (signal 11, SIGSEGV) while reading this file"
    assert rows.pop("r07.sse") == {"file": str(folder / "r07.sse"), "exchange": None, "error": died}
    clean.pop("r07.sse")
    assert rows == clean  # every other file's result kept
    assert err == f"llmtrace: {died}\n"


def test_scan_hands_the_limit_to_workers_explicitly(tmp_path):
    """Workers started by spawn inherit nothing from the parent's modules: the limit must
    travel with them."""
    folder = _folder(tmp_path)
    write(folder / "bomb.json.gz", bomb(8 << 20, member=1 << 20))
    script = ("import multiprocessing, sys\n"
              "from llmtrace import limits\n"
              "from llmtrace.commands.scan import scan\n"
              "if __name__ == '__main__':\n"
              "    multiprocessing.set_start_method('spawn')\n"
              "    limits.set_max_size(2 << 20)\n"
              "    result = scan([sys.argv[1]], jobs=2)\n"
              "    print([r['error'] for r in result['results'] if r['error']])\n")
    proc = subprocess.run([sys.executable, "-c", script, str(folder)], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert "file inflates beyond the 2 MiB limit (--max-size), gzipped file" in proc.stdout


def test_scan_survives_a_real_crash(tmp_path):
    """A real input that kills its worker: a request nested 600 levels deep, read with the
    stack capped at 128 KiB, overflows the C stack (SIGSEGV) before Python's recursion limit
    is reached. The file gets its error row, every other file its rows."""
    folder = _folder(tmp_path)
    deep = "[" * 600 + "]" * 600
    write(folder / "zz-deep.json", '{"request":{"url":"' + CHAT + '","body":{"model":"m","messages":'
          '[{"role":"user","content":' + deep + '}]}},"response":{"body":{}}}')

    def small_stack() -> None:
        resource.setrlimit(resource.RLIMIT_STACK, (128 << 10, 128 << 10))

    proc = subprocess.run([sys.executable, "-m", "llmtrace", "scan", "--jsonl", "-j", "2", str(folder)],
                          capture_output=True, text=True, preexec_fn=small_stack, timeout=60)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    rows = _rows(proc.stdout)
    assert len(rows) == 31 and all(row["error"] is None for name, row in rows.items() if name != "zz-deep.json")
    error = rows["zz-deep.json"]["error"]
    # Where the C stack holds out (another machine, a future Python), the depth is reported instead.
    assert error.endswith(("worker died (signal 11, SIGSEGV) while reading this file",
                           "nested too deeply, request body")), error
    assert proc.stderr == f"llmtrace: {error}\n"


def test_scan_gives_a_failing_check_its_error_row(tmp_path, monkeypatch):
    """An internal error in a file's checks is that file's error row, not the end of the sweep."""
    from llmtrace import sweep
    from llmtrace.commands import scan

    def broken(exchange, recording):
        raise KeyError("boom")

    monkeypatch.setattr(sweep, "detect", broken)  # the checks as scan_file calls them
    path = write(tmp_path / "r.sse", SSE)
    result = scan.scan_file(path)
    assert result["rows"] == [] and result["error"] == f"{path}: internal error: KeyError: 'boom'"


def test_scan_reports_an_input_the_walk_could_not_read(tmp_path, monkeypatch):
    from llmtrace.commands import scan
    from llmtrace.walk import Input

    good = write(tmp_path / "r.sse", SSE)
    monkeypatch.setattr(scan, "iter_inputs", lambda paths, skipped=None: iter(
        [Input(good, True), Input(str(tmp_path / "locked"), False, "cannot list the folder (Permission denied)")]))
    results = scan.scan([str(tmp_path)], jobs=1)["results"]
    assert [r["error"] for r in results] == [None, f"{tmp_path / 'locked'}: cannot list the folder (Permission denied)"]
