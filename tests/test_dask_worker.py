"""The preload of the Dask workers ``scan --scheduler local`` starts: their cycle collector set
for a sweep, as ``scan``'s own worker processes have it."""

from __future__ import annotations

import gc

import pytest

from llmtrace import distributed
from llmtrace.dask_worker import dask_setup


@pytest.fixture
def collector():
    threshold = gc.get_threshold()
    yield
    gc.unfreeze()
    gc.set_threshold(*threshold)


def test_the_setup_freezes_what_the_worker_made_and_raises_the_threshold(collector):
    made = [object() for _ in range(3)]  # noqa: F841 - objects alive at the worker's start
    before = gc.get_freeze_count()
    dask_setup(None)
    assert gc.get_threshold()[0] == 20_000
    assert gc.get_freeze_count() > before


def test_only_the_local_clusters_preload_it():
    assert distributed.LOCAL_CLUSTER_CONFIG["distributed.worker.preload"] == ["llmtrace.dask_worker"]


def test_a_local_clusters_workers_run_it():
    """A real ``--scheduler local`` cluster (127.0.0.1, one worker process): its worker has the
    threshold the preload sets (a preload that failed to import would leave Python's 700)."""
    client, cluster = distributed.client_for("local", 1)
    try:
        thresholds = client.run(gc.get_threshold)
        assert [t[0] for t in thresholds.values()] == [20_000]
    finally:
        client.close()
        cluster.close()
