"""`scan` over object storage on a Dask cluster, Parquet out, and ``llmtrace.rows`` underneath.

Real parts only: an S3-compatible server (moto's server mode on 127.0.0.1, a free port, started
and stopped here) holding the recordings of tests/data, read through s3fs by the CLI in a
subprocess; Dask clusters of worker processes (one ``LocalCluster`` shared by the module, and
the CLI's own ``--scheduler local`` once); Parquet read back with pyarrow, pandas and DuckDB.
"""

from __future__ import annotations

import io
import json
import logging
import os
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import DATA, SEED

# Never skipped: the dev extra installs them all (the distributed extra, moto's server, boto3).
import boto3  # noqa: E402
import dask.distributed  # noqa: E402,F401
import pyarrow.parquet as pq  # noqa: E402
import s3fs  # noqa: E402,F401
from moto.server import ThreadedMotoServer  # noqa: E402

import llmtrace  # noqa: E402
from llmtrace.sweep import COLUMNS  # noqa: E402

BUCKET = "recordings"
NAMES = [name for name, _ in COLUMNS]
BASE_ENV = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
BASE_ENV.update(NO_COLOR="1", AWS_CONFIG_FILE=os.devnull, AWS_SHARED_CREDENTIALS_FILE=os.devnull)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    """A moto S3 server holding tests/data under s3://recordings/data/ (and a local copy, the
    same files at the same relative paths): ``(env, endpoint, client, local_root)``."""
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    port = _free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    endpoint = f"http://127.0.0.1:{port}"
    env = {**BASE_ENV, "AWS_ENDPOINT_URL": endpoint, "AWS_ACCESS_KEY_ID": "testing",
           "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": "us-east-1"}
    client = boto3.client("s3", endpoint_url=endpoint, aws_access_key_id="testing",
                          aws_secret_access_key="testing", region_name="us-east-1")
    client.create_bucket(Bucket=BUCKET)
    local = tmp_path_factory.mktemp("store") / "data"
    shutil.copytree(DATA, local)
    (local / "zz-broken").mkdir()
    (local / "zz-broken" / "cut.json").write_bytes(b'{"request": {"url": ')  # a failing file: an error row
    count = 0
    for path in sorted(local.rglob("*")):
        if path.is_file():
            client.put_object(Bucket=BUCKET, Key=f"data/{path.relative_to(local).as_posix()}", Body=path.read_bytes())
            count += 1
    assert count > 300
    try:
        yield env, endpoint, client, local
    finally:
        server.stop()


@pytest.fixture(scope="module")
def cluster():
    """One Dask cluster of two worker processes for the module (its start-up is the slow part)."""
    from dask.distributed import LocalCluster

    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
                      dashboard_address="127.0.0.1:0", silence_logs=logging.ERROR) as local:
        yield local.scheduler_address


def llmtrace_cli(*args: str, env: dict, cwd: Path | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "llmtrace", *args], capture_output=True, text=True, env=env,
                          cwd=cwd, timeout=600)


def jsonl(proc: subprocess.CompletedProcess) -> list[dict]:
    return [json.loads(line) for line in proc.stdout.splitlines()]


def same_names(rows: list[dict], prefix: str) -> list[dict]:
    """Rows with ``prefix`` cut from their file names and errors, every column present."""
    out = []
    for row in rows:
        row = {name: row.get(name) for name in NAMES}
        assert row["file"].startswith(prefix), row["file"]
        row["file"] = row["file"][len(prefix):]
        if row["error"]:
            row["error"] = row["error"].replace(prefix, "")
        out.append(row)
    return out


@pytest.fixture(scope="module")
def local_rows(store):
    """The rows of ``scan --jsonl`` over the local copy: what every other way must give."""
    env, _, _, local = store
    proc = llmtrace_cli("scan", "--jsonl", str(local), env=env)
    assert proc.returncode == 2  # the broken file
    rows = jsonl(proc)
    assert len(rows) > 300 and sum(1 for r in rows if r["error"]) == 1
    return same_names(rows, str(local) + "/")


def parts_in_s3(client, prefix: str) -> list[dict]:
    listed = client.list_objects_v2(Bucket=BUCKET, Prefix=prefix)["Contents"]
    keys = sorted(item["Key"] for item in listed)
    assert keys and all(key.rsplit("/", 1)[-1].startswith("part-") for key in keys)
    rows = []
    for key in keys:
        body = client.get_object(Bucket=BUCKET, Key=key)["Body"].read()
        rows.extend(pq.read_table(io.BytesIO(body)).to_pylist())
    return rows


def test_rows_are_the_jsonl_rows_of_scan(store, local_rows):
    """``llmtrace.rows`` over each file's bytes gives ``scan --jsonl``'s rows, in order."""
    _, _, _, local = store
    from llmtrace.walk import iter_inputs

    rows = [row for item in iter_inputs([str(local)]) for row in llmtrace.rows(Path(item.path).read_bytes(), item.path)]
    assert same_names(rows, str(local) + "/") == local_rows


def test_s3_on_a_local_cluster_to_s3_parquet_equals_the_local_scan(store, local_rows):
    """The issue's 'Done when': ``scan s3://… --scheduler local --workers 2 --parquet s3://…/out/``."""
    env, _, client, _ = store
    proc = llmtrace_cli("scan", f"s3://{BUCKET}/data", "--scheduler", "local", "--workers", "2",
                        "--parquet", f"s3://{BUCKET}/out/", "--jsonl", env=env)
    assert proc.returncode == 2, proc.stderr  # the broken file, as locally
    assert len(proc.stderr.splitlines()) == 1, proc.stderr
    [line] = proc.stderr.splitlines()  # the broken file's line, and nothing from Dask
    assert line.startswith(f"llmtrace: s3://{BUCKET}/data/zz-broken/cut.json: cut off mid-JSON")
    prefix = f"s3://{BUCKET}/data/"
    assert same_names(jsonl(proc), prefix) == local_rows
    assert same_names(parts_in_s3(client, "out/"), prefix) == local_rows


def test_s3_on_a_running_cluster_with_storage_options_to_a_local_parquet_folder(store, local_rows, cluster,
                                                                                tmp_path):
    """``--scheduler tcp://…``; the endpoint and keys as ``--storage-option`` (none in the
    environment); the parts in a local folder, read by pandas and DuckDB as they are."""
    _, endpoint, _, _ = store
    env = {**BASE_ENV, "AWS_DEFAULT_REGION": "us-east-1"}
    out = tmp_path / "out.parquet"
    proc = llmtrace_cli("scan", f"s3://{BUCKET}/data", "--scheduler", cluster, "--parquet", str(out), "--json",
                        "--storage-option", f"endpoint_url={endpoint}", "--storage-option", "key=testing",
                        "--storage-option", "secret=testing", env=env)
    assert proc.returncode == 2, proc.stderr
    summary = json.loads(proc.stdout)
    assert summary["files"] == len({r["file"] for r in local_rows})
    parts = sorted(out.glob("part-*.parquet"))
    assert len(parts) > 1  # partitioned: one file per task
    rows = [row for part in parts for row in pq.read_table(part).to_pylist()]
    assert same_names(rows, f"s3://{BUCKET}/data/") == local_rows
    import pandas
    frame = pandas.read_parquet(out)
    assert len(frame) == len(local_rows)
    assert frame["output_tokens"].sum() == sum(r["output_tokens"] or 0 for r in local_rows)
    import duckdb
    [(count, tokens)] = duckdb.sql(f"SELECT count(*), sum(output_tokens) FROM read_parquet('{out}/*.parquet')").fetchall()
    assert count == len(local_rows) and tokens == sum(r["output_tokens"] or 0 for r in local_rows)
    # A second run does not mix its parts with the old ones.
    again = llmtrace_cli("scan", f"s3://{BUCKET}/data", "--scheduler", cluster, "--parquet", str(out), "--json",
                         "--storage-option", f"endpoint_url={endpoint}", env=env)
    assert again.returncode == 2 and again.stderr == f"llmtrace: {out}: holds Parquet files already; name a new folder for the parts\n"
    # No credentials anywhere: the listing fails, in one line.
    denied = llmtrace_cli("scan", f"s3://{BUCKET}/data", "--scheduler", cluster, "--json",
                          "--storage-option", f"endpoint_url={endpoint}", env=env)
    assert denied.returncode == 2
    assert denied.stderr.startswith(f"llmtrace: s3://{BUCKET}/data: cannot list (NoCredentialsError")
    assert len(denied.stderr.strip().splitlines()) == 1


def test_local_scan_to_one_parquet_file(store, local_rows, tmp_path):
    """Without a scheduler, ``--parquet FILE`` is one file, with the schema of COLUMNS."""
    env, _, _, local = store
    out = tmp_path / "rows.parquet"
    proc = llmtrace_cli("scan", str(local), "--parquet", str(out), "--json", env=env)
    assert proc.returncode == 2, proc.stderr
    table = pq.read_table(out)
    assert [(f.name, str(f.type)) for f in table.schema] == [
        (name, "bool" if kind == "bool" else "list<element: string>" if kind.startswith("list") else kind)
        for name, kind in COLUMNS]
    assert same_names(table.to_pylist(), str(local) + "/") == local_rows


def test_a_glob_on_the_cluster_and_rows_returned(store, cluster):
    """The workers of a running cluster have their own environment (here: no AWS variables), so
    the store's options go with the tasks."""
    env, endpoint, _, local = store
    proc = llmtrace_cli("scan", f"s3://{BUCKET}/data/corpus/llama-stack/openai-chat/*.json", "--scheduler", cluster,
                        "--jsonl", "--storage-option", f"endpoint_url={endpoint}", "--storage-option", "key=testing",
                        "--storage-option", "secret=testing", env=env)
    assert proc.returncode == 0, proc.stderr
    expected = sorted(p.name for p in (local / "corpus" / "llama-stack" / "openai-chat").glob("*.json"))
    assert [r["file"].rsplit("/", 1)[-1] for r in jsonl(proc)] == expected


def test_check_and_report_read_urls(store, tmp_path):
    env, _, _, local = store
    url = f"s3://{BUCKET}/data/corpus/seed/{SEED.name}"
    checked = llmtrace_cli("check", "--json", "--fail-on", "error", url, env=env)
    local_checked = llmtrace_cli("check", "--json", "--fail-on", "error", str(local / "corpus" / "seed" / SEED.name),
                                 env=env)
    assert checked.returncode == local_checked.returncode == 0, checked.stderr
    assert [{**d, "source": None} for d in jsonl(checked)] == [{**d, "source": None} for d in jsonl(local_checked)]
    assert jsonl(checked)[0]["source"] == url
    page = tmp_path / "report.html"
    reported = llmtrace_cli("report", f"s3://{BUCKET}/data/corpus/seed", "-o", str(page), env=env)
    assert reported.returncode == 0, reported.stderr
    assert "a2136f253c2c20b7" in page.read_text()
    missing = llmtrace_cli("check", f"s3://{BUCKET}/data/no-such.json", env=env)
    assert missing.returncode == 2
    assert missing.stderr.strip() == f"llmtrace: s3://{BUCKET}/data/no-such.json: no such file"


def test_usage_errors_are_one_line(store, tmp_path):
    env, _, _, local = store
    # Dask's own connect timeout, honoured: the refused connection is given up after 1 s, not 10.
    env = {**env, "DASK_DISTRIBUTED__COMM__TIMEOUTS__CONNECT": "1s"}
    for args, says in [
        (["scan", f"s3://{BUCKET}/data", "--storage-option", "no-equals-sign"], "expected KEY=VALUE"),
        (["scan", str(local), "--workers", "2"], "--workers goes with --scheduler local"),
        (["scan", str(local), "--scheduler", "tcp://127.0.0.1:1"], "cannot connect"),
    ]:
        proc = llmtrace_cli(*args, env=env)
        assert proc.returncode == 2 and says in proc.stderr, (args, proc.stderr)
        assert len(proc.stderr.strip().splitlines()) == 1, proc.stderr


@pytest.mark.parametrize("setting, timeout", [(None, "10s"), ("2500ms", "2500ms"), ("1m", "1m"), ("30s", "10s")])
def test_connect_timeout_is_dasks_where_set(monkeypatch, setting, timeout):
    """``--scheduler tcp://`` waits as long as Dask's ``distributed.comm.timeouts.connect`` says
    where a user set it; Dask's shipped 30 s is shortened to 10 s."""
    import dask

    from llmtrace.distributed import connect_timeout

    with dask.config.set({} if setting is None else {"distributed.comm.timeouts.connect": setting}):
        assert connect_timeout() == timeout


def test_local_clusters_run_without_the_profiler(cluster, monkeypatch):
    """``--scheduler local`` starts its workers with Dask's statistical profiler off (it samples
    the task thread every 10 ms for a dashboard nobody sees), without the nanny's
    ``MALLOC_TRIM_THRESHOLD_`` (1.5x slower scans) and with the loop's health tick every 500 ms;
    a user's cluster is left as it is."""
    import dask
    from dask.distributed import Client

    from llmtrace import distributed

    monkeypatch.delenv("MALLOC_TRIM_THRESHOLD_", raising=False)  # a nanny of this process set it: as a CLI starts
    client, local = distributed.client_for("local", 1)
    try:
        profiled = client.run(lambda dask_worker: "profile" in dask_worker.periodic_callbacks)
        assert list(profiled.values()) == [False]
        trim = client.run(lambda: os.environ.get("MALLOC_TRIM_THRESHOLD_"))
        assert list(trim.values()) == [None]  # Dask's 65536 not set
        ticks = client.run(lambda dask_worker: dask_worker.periodic_callbacks["tick"].callback_time)
        assert list(ticks.values()) == [500]  # ms; Dask's 20 ms woke the loop thread 50 times a second
    finally:
        client.close()
        local.close()
    assert dask.config.get("distributed.worker.profile.enabled") is True  # this process: untouched
    with Client(cluster) as theirs:
        assert all(theirs.run(lambda dask_worker: "profile" in dask_worker.periodic_callbacks).values())
        assert None not in theirs.run(lambda: os.environ.get("MALLOC_TRIM_THRESHOLD_")).values()
        assert set(theirs.run(lambda dask_worker: dask_worker.periodic_callbacks["tick"].callback_time).values()) == {20}


@pytest.mark.parametrize("blocked, args, says", [
    ("fsspec", ["scan", "s3://bucket/prefix"], "s3://bucket/prefix: reading a URL needs fsspec"),
    ("fsspec", ["check", "gs://bucket/a.json"], "gs://bucket/a.json: reading a URL needs fsspec"),
    ("pyarrow", ["scan", str(SEED), "--parquet", "out.parquet"], "--parquet: writing Parquet needs pyarrow"),
    ("dask", ["scan", str(SEED), "--scheduler", "local"], "--scheduler needs dask.distributed"),
])
def test_without_the_extra_one_line_names_it(blocked, args, says, tmp_path):
    """The extra not installed (its package made unimportable): one line naming it, exit 2."""
    code = (f"import sys; sys.modules[{blocked!r}] = None; sys.argv = ['llmtrace', *{args!r}]; "
            "from llmtrace.cli import main; main()")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=BASE_ENV, cwd=tmp_path,
                          timeout=120)
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.strip().splitlines() == [f"llmtrace: {says}: pip install 'llmtrace[distributed]'"]
    assert not (tmp_path / "out.parquet").exists()


def test_plain_paths_import_none_of_the_extra():
    code = ("import sys; sys.argv = ['llmtrace', 'scan', '--json', sys.argv[1]]\n"
            "from llmtrace.cli import app\n"
            "try:\n    app()\nexcept SystemExit:\n    pass\n"
            "print(sorted(m for m in ('fsspec', 'dask', 'pyarrow', 'llmtrace.distributed') if m in sys.modules),"
            " file=sys.stderr)")
    proc = subprocess.run([sys.executable, "-c", code, str(SEED)], capture_output=True, text=True, env=BASE_ENV,
                          timeout=120)
    assert proc.stderr.strip().splitlines()[-1] == "[]", proc.stderr


def test_a_task_carries_its_files_lines_and_tally_as_bytes(tmp_path):
    """``scan_task`` takes its files pickled and gives back, pickled, its tally and (with
    ``lines``) its ``scan --jsonl`` lines: what ``scan_group``'s results give, a file name that
    is not UTF-8 and a failing file included."""
    import pickle

    from llmtrace import distributed, limits
    from llmtrace.commands.scan import summarize
    from llmtrace.output import dumps
    from llmtrace.sweep import output_rows

    odd = tmp_path / os.fsdecode(b"caf\xe9.json")  # a lone surrogate in the name
    odd.write_bytes(SEED.read_bytes())
    (tmp_path / "cut.json").write_bytes(b'{"request": ')
    items = distributed.list_all([str(tmp_path), str(SEED)], [])
    assert len(items) == 3
    results = distributed.scan_group(items, None, {}, limits.max_size(), None)
    assert sum(1 for r in results if r["error"]) == 1 and sum(len(r["rows"]) for r in results) >= 2
    packed = distributed.scan_task(pickle.dumps(items), None, {}, limits.max_size(), None, True)
    assert isinstance(packed, bytes)
    lines, tally = pickle.loads(packed)
    assert lines == b"\n".join(dumps(row) for result in results for row in output_rows(result))
    assert tally.summary() == summarize({"results": results, "skipped": []})
    assert tally.failed == [{"file": r["file"], "error": r["error"]} for r in results if r["error"]]
    quiet, same = pickle.loads(distributed.scan_task(pickle.dumps(items), None, {}, limits.max_size(), None, False))
    assert quiet is None and same.summary() == tally.summary()


def test_run_tasks_on_a_cluster_gives_each_tasks_lines_and_tally_in_listing_order(cluster):
    """The files grouped into tasks on two workers: the lines in the listing's order, and the
    tallies merged in that order give the summary of scanning them here."""
    from dask.distributed import Client

    from llmtrace import distributed, limits
    from llmtrace.commands.scan import summarize
    from llmtrace.output import dumps
    from llmtrace.sweep import output_rows
    from llmtrace.tally import Tally

    items = distributed.list_all([str(DATA / "corpus")], [])
    assert len(items) > 40
    with Client(cluster) as client:
        got = list(distributed.run_tasks(client, items, None, None, lines=True))
    assert len(got) == len(distributed.groups(items, 2)) > 8
    results = distributed.scan_group(items, None, {}, limits.max_size(), None)
    assert b"\n".join(lines for lines, _ in got if lines) == b"\n".join(
        dumps(row) for result in results for row in output_rows(result))
    total = Tally()
    for _, tally in got:
        total.merge(tally)
    assert total.summary() == summarize({"results": [r for r in results if not r["skipped"]],
                                         "skipped": [r["file"] for r in results if r["skipped"]]})


def test_the_summary_on_a_cluster_is_the_local_one(store, cluster):
    """``scan --json`` of a folder on a cluster prints byte for byte what it prints locally
    (merged tallies: counts, usage, example files per code, failed files in order); and the
    default summary for a terminal's reader as well."""
    env, _, _, local = store
    here = llmtrace_cli("scan", str(local), "--json", env=env)
    there = llmtrace_cli("scan", str(local), "--json", "--scheduler", cluster, env=env)
    assert here.returncode == there.returncode == 2
    assert there.stdout == here.stdout and there.stderr == here.stderr
    summary = json.loads(there.stdout)
    assert summary["files"] > 250 and summary["skipped"] > 0 and summary["failed"] and summary["anomalies"]
    drawn = llmtrace_cli("scan", str(local), "--scheduler", cluster, env={**env, "COLUMNS": "100"})
    assert drawn.stdout == llmtrace_cli("scan", str(local), env={**env, "COLUMNS": "100"}).stdout


def test_parquet_rows_writes_row_groups_whole_or_nothing(tmp_path, monkeypatch):
    """``parquet_rows``: rows added in pieces become row groups of ``ROW_GROUP_ROWS``; a block
    that fails leaves the old file as it was and no temporary file behind."""
    from llmtrace import distributed

    monkeypatch.setattr(distributed, "ROW_GROUP_ROWS", 4)
    rows = [{"file": f"f{i}", "exchange": i, "anomalies": ["a"] * (i % 3), "streaming": bool(i % 2)} for i in range(10)]
    dest = tmp_path / "rows.parquet"
    with distributed.parquet_rows(str(dest)) as add:
        for start in range(0, 10, 3):
            add(rows[start:start + 3])
    meta = pq.ParquetFile(dest).metadata
    assert meta.num_rows == 10 and meta.num_row_groups == 2  # a group once 4 rows wait: 3 + 3, then 3 + 1
    table = pq.read_table(dest).to_pylist()
    assert [(r["file"], r["exchange"], r["anomalies"], r["streaming"]) for r in table] == [
        (r["file"], r["exchange"], r["anomalies"], r["streaming"]) for r in rows]
    assert all(r["model"] is None for r in table)
    before = dest.read_bytes()
    with pytest.raises(RuntimeError):
        with distributed.parquet_rows(str(dest)) as add:
            add(rows * 3)  # row groups written already
            raise RuntimeError("interrupted")
    assert dest.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["rows.parquet"]


def test_a_local_scan_to_parquet_in_s3(store, local_rows):
    """Without a scheduler, ``--parquet s3://…/rows.parquet``: one object, the local rows."""
    env, _, client, local = store
    proc = llmtrace_cli("scan", str(local), "--parquet", f"s3://{BUCKET}/single/rows.parquet", "--json", env=env)
    assert proc.returncode == 2, proc.stderr  # the broken file
    body = client.get_object(Bucket=BUCKET, Key="single/rows.parquet")["Body"].read()
    assert same_names(pq.read_table(io.BytesIO(body)).to_pylist(), str(local) + "/") == local_rows


def test_a_worker_lost_mid_scan_is_dasks_to_retry(tmp_path):
    """A worker process killed while it holds tasks (SIGKILL, as the kernel's out-of-memory
    killer would): Dask reschedules them, and the scan's lines and tally come out whole, in
    order, as without the loss. The worker is stopped (SIGSTOP) before the scan starts, so it
    surely holds its first tasks when it is killed."""
    import signal
    import threading
    import time

    from dask.distributed import Client, LocalCluster

    from llmtrace import distributed, limits
    from llmtrace.commands.scan import summarize
    from llmtrace.output import dumps
    from llmtrace.sweep import output_rows
    from llmtrace.tally import Tally

    sources = sorted((DATA / "corpus").rglob("*.json"))
    for i in range(400):
        src = sources[i % len(sources)]
        (tmp_path / f"{i:04d}_{src.name}").write_bytes(src.read_bytes())
    items = distributed.list_all([str(tmp_path)], [])
    expected = distributed.scan_group(items, None, {}, limits.max_size(), None)
    held: list[bool] = []
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
                      dashboard_address="127.0.0.1:0", silence_logs=logging.ERROR) as local, Client(local) as client:
        pids = client.run(os.getpid)
        victim = sorted(pids)[0]
        os.kill(pids[victim], signal.SIGSTOP)

        def kill_once_it_holds_tasks() -> None:
            deadline = time.monotonic() + 60
            while not client.processing().get(victim) and time.monotonic() < deadline:
                time.sleep(0.02)
            held.append(bool(client.processing().get(victim)))
            os.kill(pids[victim], signal.SIGKILL)

        killer = threading.Thread(target=kill_once_it_holds_tasks)
        killer.start()
        try:
            got = list(distributed.run_tasks(client, items, None, None, lines=True))
        finally:
            killer.join(timeout=70)
        assert pids[victim] not in client.run(os.getpid).values()
    assert held == [True]  # it was killed holding tasks, which the other worker (or its successor) ran
    assert len(got) == len(distributed.groups(items, 2))
    assert b"\n".join(lines for lines, _ in got if lines) == b"\n".join(
        dumps(row) for result in expected for row in output_rows(result))
    total = Tally()
    for _, tally in got:
        total.merge(tally)
    assert total.summary() == summarize({"results": expected, "skipped": []})
