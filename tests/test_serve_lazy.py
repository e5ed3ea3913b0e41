"""``serve`` indexes a folder's files at start and folds a recording when a request first
matches it: the index files every exchange as reading it whole does (the same recording answers
each request, in every match mode, and a miss names the same closest exchange and
differences); starting on a folder folds nothing, a request folds one recording; a file that no
longer reads when it is first matched is a ``no_match`` saying why, with one log line."""

from __future__ import annotations

import shutil

import httpx
import pytest

from conftest import DATA
from llmtrace import loader
from llmtrace.commands.per_file import load_all
from llmtrace.containers import bodies
from llmtrace.server import match
from llmtrace.server.app import Background, Options, Server
from llmtrace.view import request_doc

FOLDERS = [DATA / "corpus" / "llama-stack", DATA / "cassettes" / "crewAI", DATA / "corpus" / "seed"]


@pytest.fixture(autouse=True)
def _raw_bodies():
    bodies.keep_raw(True)  # as serve reads them
    yield
    bodies.keep_raw(False)


def _both(folder) -> tuple[list, list]:
    eager, failed = load_all([str(folder)])
    lazy, failed_lazy = load_all([str(folder)], read=match.read_input)
    assert not failed and not failed_lazy
    assert all(isinstance(r, match.Indexed) for r in lazy)
    return eager, lazy


@pytest.mark.parametrize("folder", FOLDERS, ids=lambda p: p.name)
def test_the_index_files_every_exchange_as_the_whole_read_does(folder):
    eager, lazy = _both(folder)
    assert [r.source for r in eager] == [r.source for r in lazy]
    for whole, indexed in zip(eager, lazy):
        assert indexed.container == whole.container
        assert list(indexed.exchanges) == list(match.indexed(whole).exchanges), whole.source


def _asks(recordings: list) -> list[tuple[str, dict, str]]:
    """Requests to send: each recorded one as it was, and changed (a parameter off its default,
    the last message's text) so that loose, closest and the misses have work."""
    asks = []
    for recording in recordings:
        for exchange in recording.exchanges:
            path = exchange.request.endpoint
            if not path:
                continue
            asks.append((path, request_doc(exchange), exchange.dialect))
            changed = request_doc(exchange)
            changed["params"] = {**changed["params"], "temperature": 0.123}
            asks.append((path, changed, exchange.dialect))
            if changed["messages"]:
                changed = {**changed, "messages": [*changed["messages"][:-1], {"role": "user", "content": "other"}]}
                asks.append((path, changed, exchange.dialect))
    return asks


def _answer(found) -> tuple:
    closest = found.entry if isinstance(found, match.Hit) else found.closest
    where = (closest.file, closest.index) if closest is not None else None
    return type(found).__name__, where, found.differences, getattr(found, "reason", None)


@pytest.mark.parametrize("mode", match.MODES)
@pytest.mark.parametrize("folder", FOLDERS[:2], ids=lambda p: p.name)
def test_the_same_recording_answers_in_every_mode(folder, mode):
    eager, lazy = _both(folder)
    roots = [str(folder)]
    whole, indexed = match.Catalog(eager, mode, roots), match.Catalog(lazy, mode, roots)
    asks = _asks(eager)
    assert len(asks) >= 10
    for path, doc, dialect in asks:
        assert _answer(whole.match(path, doc, dialect)) == _answer(indexed.match(path, doc, dialect)), (path, mode)
    assert indexed.folds.count == 0  # matching alone folds nothing


def _folder_of(tmp_path, count: int):
    """``count`` copies of real Llama Stack recordings (OpenAI chat streams and others)."""
    sources = sorted((DATA / "corpus" / "llama-stack").glob("*/*.json"), key=lambda p: (p.parent.name != "openai-chat-stream",
                                                                                      p.parent.name, p.name))
    folder = tmp_path / "recordings"
    folder.mkdir()
    for i in range(count):
        shutil.copyfile(sources[i % len(sources)], folder / f"{i:04d}_{sources[i % len(sources)].name}")
    return folder


def _server(folder, lines: list) -> Server:
    recordings, failed = load_all([str(folder)], read=match.read_input)
    assert not failed
    return Server(recordings, options=Options(log=lines.append, roots=(str(folder),)))


def _chat_request(server: Server) -> tuple[match.Entry, dict]:
    """A recorded OpenAI chat request and its entry, with its body as recorded."""
    for entry in server.replay.catalog.by_endpoint["/v1/chat/completions"]:
        source = entry.source
        whole = loader.load(source)
        body = whole.exchanges[entry.index].request.body
        if isinstance(body, dict) and body.get("stream") is True and not whole.exchanges[entry.index].failed:
            return entry, body
    raise AssertionError("no streamed chat recording")


def test_starting_on_a_folder_folds_nothing_and_a_request_folds_one(tmp_path, monkeypatch):
    folder = _folder_of(tmp_path, 200)
    folds = []
    real = loader.fold_exchange
    monkeypatch.setattr(loader, "fold_exchange", lambda exchange: folds.append(exchange) or real(exchange))
    lines: list[str] = []
    server = _server(folder, lines)
    with Background(server) as base:
        with httpx.Client(timeout=30) as client:
            health = client.get(base + "/llmtrace/health").json()
            assert len(health["recordings"]) == 200 and folds == []
            monkeypatch.setattr(loader, "fold_exchange", real)
            entry, body = _chat_request(server)  # reads the file to send its request: not counted
            monkeypatch.setattr(loader, "fold_exchange", lambda exchange: folds.append(exchange) or real(exchange))
            answer = client.post(base + "/v1/chat/completions", json=body)
            again = client.post(base + "/v1/chat/completions", json=body)
    assert answer.status_code == 200 and again.status_code == 200, answer.text
    assert answer.content == again.content and b"data: " in answer.content
    assert len(folds) == 1 and server.replay.catalog.folds.count == 1
    assert server.requests[0]["matched"] == {"file": entry.file, "exchange": entry.index}


@pytest.mark.parametrize("damage", ["cut", "removed", "changed"])
def test_a_file_that_no_longer_reads_when_first_matched_is_a_no_match_saying_why(tmp_path, damage):
    folder = _folder_of(tmp_path, 20)
    lines: list[str] = []
    server = _server(folder, lines)
    entry, body = _chat_request(server)
    path = folder / entry.file
    if damage == "cut":
        path.write_bytes(path.read_bytes()[:-40])
    elif damage == "removed":
        path.unlink()
    else:
        path.write_bytes(path.read_bytes().replace(b'"content": "', b'"content": "edited ', 1))
    with Background(server) as base, httpx.Client(timeout=30) as client:
        first = client.post(base + "/v1/chat/completions", json=body)
        second = client.post(base + "/v1/chat/completions", json=body)
    reason = {"cut": "cut off mid-JSON", "removed": "no such file", "changed": "changed since serve started"}[damage]
    for answer in (first, second):
        assert answer.status_code == 404
        error = answer.json()["error"]
        assert error["code"] == "no_match" and error["llmtrace"]["closest"] is None
        assert error["llmtrace"]["reason"].startswith(f"{entry.file} exchange {entry.index} matched, but {reason}")
    said = [line for line in lines if line.startswith(f"{entry.file}: {reason}")]
    assert len(said) == 1 and "Traceback" not in "".join(lines)
    assert sum("404 no_match" in line and reason in line for line in lines) == 2


def test_the_first_chunks_tell_the_dialect_as_in_a_whole_read(tmp_path):
    """A chat stream recorded under Anthropic's path: its chunks say OpenAI chat (they win over
    the request), and the index, which parses only the first chunks, says so too."""
    folder = _folder_of(tmp_path, 3)
    for path in folder.iterdir():
        data = path.read_bytes()
        assert b"/chat/completions" in data
        path.write_bytes(data.replace(b"/chat/completions", b"/messages", 1))
    eager, lazy = _both(folder)
    assert [s.dialect for r in lazy for s in r.exchanges] == ["openai-chat"] * 3
    assert [list(r.exchanges) for r in lazy] == [list(match.indexed(r).exchanges) for r in eager]


# --- a big folder indexed in forked worker processes ---------------------------------------------

def _in_workers(monkeypatch, jobs: int = 2) -> None:
    """Index in ``jobs`` worker processes whatever the folder's size and the machine's load."""
    from llmtrace.commands import per_file

    monkeypatch.setattr(per_file, "_workers", lambda found: jobs)


@pytest.mark.parametrize("folder", [DATA / "corpus", DATA / "cassettes"], ids=lambda p: p.name)
def test_workers_index_a_folder_as_this_process_does(folder, monkeypatch):
    here, failed_here = load_all([str(folder)], read=match.read_input)
    _in_workers(monkeypatch)
    called = []
    there, failed_there = load_all([str(folder)], read=match.read_input, meanwhile=lambda: called.append(1))
    assert called == [1]
    assert len(there) == len(here) >= 20
    assert there == here and failed_there == failed_here


def _read_with_a_bug(item, fmt):  # module-level: sent to the workers by reference
    if item.path.endswith("30.json"):
        raise KeyError("a bug")
    return match.read_input(item, fmt)


def _read_killing_its_worker(item, fmt):
    import os
    import signal

    if item.path.endswith("/5.json") and os.getpid() != _PARENT:
        os.kill(os.getpid(), signal.SIGKILL)
    return match.read_input(item, fmt)


_PARENT = __import__("os").getpid()


def test_a_file_a_worker_cannot_read_is_reported_as_here(tmp_path, monkeypatch, capsys):
    """Unreadable files cross back from the workers whole: a broken recording is reported (its
    line, its place), a file that is no recording is passed over, an internal error is named by
    its type, and the files around them are indexed."""
    folder = tmp_path / "recordings"
    folder.mkdir()
    seed = sorted((DATA / "corpus" / "seed").glob("*.json"))[0]
    for i in range(40):
        shutil.copyfile(seed, folder / f"{i:02d}.json")
    (folder / "20.json").write_bytes(b'{"request": {"url": ')  # cut short
    (folder / "notes.txt").write_text("shopping list\n")  # no recording: a walk passes it over

    results = []
    for jobs in (1, 3):
        _in_workers(monkeypatch, jobs)
        results.append((load_all([str(folder)], read=_read_with_a_bug), capsys.readouterr().err))
    (here, said_here), (there, said_there) = results
    assert there == here and said_there == said_here
    recordings, failed = there
    assert len(recordings) == 38
    assert [source.rsplit("/", 1)[1] for source, _ in failed] == ["20.json", "30.json"]
    assert "30.json: internal error: KeyError: 'a bug'" in said_there
    assert "20.json: " in said_there and "notes.txt" not in said_there


def test_the_files_of_a_worker_that_died_are_read_here(tmp_path, monkeypatch):
    """A worker killed (the out-of-memory killer) breaks the pool: the files it and the others
    had not sent back are read in this process, as without workers."""
    folder = tmp_path / "recordings"
    folder.mkdir()
    seed = sorted((DATA / "corpus" / "seed").glob("*.json"))[0]
    for i in range(40):
        shutil.copyfile(seed, folder / f"{i}.json")
    _in_workers(monkeypatch)
    recordings, failed = load_all([str(folder)], read=_read_killing_its_worker)
    assert not failed and len(recordings) == 40
    assert recordings == load_all([str(folder)], read=match.read_input)[0]


@pytest.mark.parametrize("files, size, cores, expected", [
    (156, 156 * 37_000, 2, 1),  # tests/data's corpus: forking costs more than it saves
    (1_000, 1_000 * 37_000, 2, 2),
    (10_000, 10_000 * 37_000, 2, 2),
    (10_000, 10_000 * 37_000, 8, 8),
    (1_500, 1_500 * 37_000, 8, 3),  # no more workers than the work keeps busy
    (10_000, 10_000 * 37_000, 1, 1),
])
def test_index_workers_follow_the_work_and_the_cores(files, size, cores, expected):
    from llmtrace.commands.per_file import index_workers

    assert index_workers(files, size, cores) == expected
