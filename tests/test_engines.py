"""The README's Spark and Ray examples around ``llmtrace.rows``, run as written on a folder of
recordings (skipped, with the reason, where pyspark or ray does not install)."""

from __future__ import annotations

import importlib.util
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import CORPUS

README = Path(__file__).resolve().parent.parent / "README.md"


def example(name: str) -> str:
    match = re.search(rf"<!-- example: {name} -->\n```python\n(.*?)```", README.read_text(), re.S)
    assert match, f"README has no {name} example"
    return match.group(1)


@pytest.fixture
def recordings(tmp_path) -> Path:
    folder = tmp_path / "recordings"
    shutil.copytree(CORPUS / "llama-stack" / "openai-chat", folder)
    (folder / "zz-cut.json").write_bytes(b'{"request": ')  # an error row among them
    return folder


def run_example(name: str, folder: Path) -> str:
    code = example(name).replace('"recordings/', f'"{folder}/')
    env = {**os.environ, "PYSPARK_PYTHON": sys.executable, "PYSPARK_DRIVER_PYTHON": sys.executable,
           "RAY_ENABLE_UV_RUN_RUNTIME_ENV": "0"}
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, cwd=folder.parent,
                          timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc.stdout


def expected_totals(folder: Path) -> dict[str, int]:
    import llmtrace

    totals: dict[str, int] = {}
    for path in sorted(folder.iterdir()):
        for row in llmtrace.rows(path.read_bytes(), str(path)):
            if row["error"] is None:
                totals[row["model"]] = totals.get(row["model"], 0) + (row["output_tokens"] or 0)
    return totals


@pytest.mark.skipif(importlib.util.find_spec("pyspark") is None, reason="pyspark is not installed")
@pytest.mark.skipif(shutil.which("java") is None, reason="Spark needs a Java runtime")
def test_spark_example(recordings):
    out = run_example("spark", recordings)
    for model, tokens in expected_totals(recordings).items():
        assert re.search(rf"\|{re.escape(model)}\s*\|{tokens}\s*\|", out), out


@pytest.mark.skipif(importlib.util.find_spec("ray") is None, reason="ray is not installed")
def test_ray_example(recordings):
    out = run_example("ray", recordings)
    totals = expected_totals(recordings)
    assert totals and out.strip().splitlines()[-1] == repr(
        [{"model": m, "sum(output_tokens)": t} for m, t in sorted(totals.items())])
