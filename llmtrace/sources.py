"""What a command reads: local paths as ``walk`` lists them, URLs (``s3://``, ``gs://``,
``https://``, ``file://``, globs of them) as ``distributed`` lists them with fsspec, the optional
extra. The one place that tells the two apart, so that the walk never imports the extra's module
and the extra's module may use the walk."""

from __future__ import annotations

from typing import Iterator

from llmtrace.walk import Input
from llmtrace.walk import iter_inputs as iter_local


def iter_inputs(paths: list[str], skipped: list[str] | None = None) -> Iterator[Input]:
    """Files to read, in order: each path or URL as given, folders and prefixes walked (see
    ``walk.iter_inputs``; files passed over go to ``skipped`` when it is given)."""
    for path in paths:
        if "://" in path:
            from llmtrace.distributed import inputs, is_url

            if is_url(path):  # an object store, http(s) or file:// URL, or a glob of one
                yield from inputs(path)
                continue
        yield from iter_local([path], skipped)
