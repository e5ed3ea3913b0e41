"""llmtrace's pytest plugin (the ``pytest11`` entry point ``llmtrace``): the recordings of a test
suite checked as tests of their own. Installed with llmtrace and inactive unless asked for.

- ``--llmtrace-check`` (ini ``llmtrace_check = true``): every recording under the configured
  paths becomes one test item, ``PATH::llmtrace`` (PATH relative to the rootdir, so ``-k`` and
  node ids select as usual), which fails with the findings at or above
  ``--llmtrace-fail-on`` (ini ``llmtrace_fail_on``; ``error`` by default, like
  ``llmtrace check``) — each line naming the file, the exchange, the choice, the chunks and the
  character span. A recording that cannot be read fails with the reason. ``llmtrace_ignore``
  (ini, codes) silences codes.
- ``--llmtrace-warn``: the same items, reporting the findings as warnings and never failing.
- Which files: those under ``llmtrace_paths`` (ini, space-separated, relative to the rootdir);
  by default every recording in a ``cassettes/`` or ``vcr_cassettes/`` folder (where
  pytest-recording and VCR.py keep them) and in ``recordings/`` folders under a ``tests``
  folder. Only files pytest collects from are seen: the usual arguments and ``testpaths``.
- ``--llmtrace-unused``: a test that used pytest-recording's ``vcr`` fixture (a VCR.py
  cassette) and left interactions of the cassette it loaded unplayed fails, naming them.
- Fixtures: ``llmtrace_load`` — a function ``path -> Recording`` (relative paths from the
  test's own folder); ``llmtrace_server`` — ``llmtrace serve`` on a free port for the test
  (scope from the ini ``llmtrace_server_scope``, ``function`` by default), yielding its URLs
  (``.base``, ``.openai``, ``.anthropic``, ``.ollama``, ``.gemini``) and its journal
  (``.requests``: what the test's code sent and what answered it; ``.reset()``), stopped afterwards. It serves
  the recordings a ``@pytest.mark.llmtrace_recordings(PATH, …)`` marker names, else the cassette
  of the test's ``vcr`` marker (pytest-recording's folder and naming), else every recording under
  ``llmtrace_paths``. ``llmtrace_recordings(PATH, upstream=URL)`` records on miss (``serve
  --upstream``) into ``record_to=DIR``, by default PATH when it is a folder. Assertion helpers
  are in ``llmtrace.testing``.

Nothing here imports rich, pydantic or pytest-recording until a recording is checked, so a
suite that does not ask pays nothing; xdist workers each check the items they are given.
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path
from typing import Any, NamedTuple

import pytest

SEVERITIES = ("error", "warning", "info")
DEFAULT_FOLDERS = frozenset(("cassettes", "vcr_cassettes"))


class LLMTraceWarning(UserWarning):
    """A finding in a recording, reported by ``--llmtrace-warn``."""


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("llmtrace", "checking recorded LLM traffic (llmtrace)")
    group.addoption("--llmtrace-check", action="store_true", default=None,
                    help="check every recording as a test item PATH::llmtrace")
    group.addoption("--llmtrace-fail-on", choices=SEVERITIES, default=None,
                    help="fail a recording on findings at or above this severity (default: error)")
    group.addoption("--llmtrace-warn", action="store_true", default=False,
                    help="report findings as warnings, never failing")
    group.addoption("--llmtrace-unused", action="store_true", default=False,
                    help="fail a test that left interactions of its VCR cassette unplayed")
    parser.addini("llmtrace_check", "check recordings as test items", type="bool", default=False)
    parser.addini("llmtrace_fail_on", "severity that fails a recording (error, warning, info)", default="error")
    parser.addini("llmtrace_paths", "where recordings are, relative to the rootdir", type="args", default=[])
    parser.addini("llmtrace_ignore", "anomaly codes to ignore", type="args", default=[])
    parser.addini("llmtrace_server_scope", "scope of the llmtrace_server fixture (function, module, session)",
                  default="function")


class _Settings:
    def __init__(self, config: pytest.Config) -> None:
        warn = bool(config.getoption("llmtrace_warn"))
        flag = config.getoption("llmtrace_check")
        self.active = bool(flag) or warn or (flag is None and bool(config.getini("llmtrace_check")))
        self.warn = warn
        self.fail_on = config.getoption("llmtrace_fail_on") or config.getini("llmtrace_fail_on") or "error"
        if self.fail_on not in SEVERITIES:
            raise pytest.UsageError(f"llmtrace_fail_on should be one of {', '.join(SEVERITIES)}, not {self.fail_on!r}")
        self.ignore = list(config.getini("llmtrace_ignore"))
        self.root = Path(str(config.rootpath))
        self.paths = [(self.root / p).resolve() for p in config.getini("llmtrace_paths")]

    def wants(self, path: Path) -> bool:
        from llmtrace.walk import RECORDING_SUFFIXES, is_skipped

        name = path.name
        if is_skipped(name) or os.path.splitext(name.lower())[1] not in RECORDING_SUFFIXES:
            return False
        if _through_linked_folder(path, self.root):
            return False
        resolved = path.resolve()
        if self.paths:
            return any((resolved == p or p in resolved.parents) and not self._left_out(p, resolved) for p in self.paths)
        if self._left_out(self.root, resolved):
            return False
        try:
            parts = resolved.relative_to(self.root).parts[:-1]
        except ValueError:
            parts = resolved.parts[:-1]
        if DEFAULT_FOLDERS.intersection(parts):
            return True
        return "recordings" in parts and any(p in ("tests", "test") for p in parts[:parts.index("recordings")])

    @staticmethod
    def _left_out(top: Path, path: Path) -> bool:
        """Whether a ``.llmtraceignore`` between ``top`` and ``path`` leaves the recording out."""
        from llmtrace.walk import ignored_below

        return path != top and ignored_below(str(top), str(path))


def _through_linked_folder(path: Path, root: Path) -> bool:
    """Whether ``path`` was reached through a symbolic link to a folder below ``root``: the
    plugin walks like the CLI (``llmtrace.walk``), which does not follow those (pytest does:
    a recording would be collected twice, or a link to a parent would go round)."""
    parent = path.parent
    while parent != root and parent != parent.parent:
        if parent.is_symlink():
            return True
        parent = parent.parent
    return False


_SETTINGS = pytest.StashKey[_Settings]()


def pytest_configure(config: pytest.Config) -> None:
    settings = _Settings(config)
    config.stash[_SETTINGS] = settings
    if settings.active and settings.ignore:
        from llmtrace.anomalies import CHECKS

        unknown = sorted(set(settings.ignore) - CHECKS.keys())
        if unknown:
            raise pytest.UsageError(f"llmtrace_ignore: unknown anomaly code(s) {', '.join(unknown)}")
    config.addinivalue_line("markers", "llmtrace: a recording checked by llmtrace")
    config.addinivalue_line("markers", "llmtrace_recordings(*paths, upstream=None, record_to=None, save_as='har'): what the llmtrace_server fixture serves (upstream: record on miss)")


def pytest_collect_file(file_path: Path, parent: pytest.Collector):
    settings = parent.config.stash.get(_SETTINGS, None)
    if settings is None or not settings.active or not settings.wants(file_path):
        return None
    return RecordingFile.from_parent(parent, path=file_path)


class RecordingFile(pytest.File):
    def collect(self):
        yield RecordingItem.from_parent(self, name="llmtrace")


class Findings(Exception):
    """A recording's findings at or above the failing severity (or why it is unreadable)."""


class RecordingItem(pytest.Item):
    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.add_marker("llmtrace")

    def runtest(self) -> None:
        from llmtrace.testing import finding_line
        import llmtrace

        settings = self.config.stash[_SETTINGS]
        rel = self.rel_path()
        try:
            recording = llmtrace.load(self.path)
        except llmtrace.UnreadableInput as exc:
            exc.path = rel
            lines = [f"{exc.line()} (unreadable)"]
            if settings.warn:
                warnings.warn(LLMTraceWarning(lines[0]), stacklevel=1)
                return
            raise Findings(lines) from None
        found = llmtrace.check(recording, fail_on=settings.fail_on, ignore=settings.ignore)
        lines = [finding_line(rel, a, several=len(recording.exchanges) > 1) for a in found]
        if settings.warn:
            for line in lines:
                warnings.warn(LLMTraceWarning(line), stacklevel=1)
            return
        if lines:
            raise Findings(lines)

    def rel_path(self) -> str:
        try:
            return self.path.relative_to(self.config.rootpath).as_posix()
        except ValueError:
            return str(self.path)

    def repr_failure(self, excinfo, style=None):
        if isinstance(excinfo.value, Findings):
            lines = excinfo.value.args[0]
            head = f"llmtrace: {len(lines)} finding{'s' if len(lines) != 1 else ''} at or above " \
                   f"{self.config.stash[_SETTINGS].fail_on}"
            return "\n".join([head, *lines])
        return super().repr_failure(excinfo, style=style)

    def reportinfo(self):
        # The FAILURES title; not the node id itself, which pytest would rewrite ("a.yaml" → "a::yaml").
        return self.path, None, f"llmtrace check of {self.rel_path()}"


@pytest.fixture
def llmtrace_load(request: pytest.FixtureRequest):
    """A function reading a recording: ``llmtrace_load("cassettes/x.yaml") -> Recording``;
    relative paths are taken from the folder of the test's file."""
    import llmtrace

    base = Path(str(request.path)).parent

    def load(path: str | os.PathLike | bytes, format: str | None = None):
        if isinstance(path, (bytes, bytearray)):
            return llmtrace.load(path, format=format)
        target = Path(path)
        return llmtrace.load(target if target.is_absolute() else base / target, format=format)

    return load


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo):
    outcome = yield
    if call.when != "call" or not item.config.getoption("llmtrace_unused", False):
        return
    report = outcome.get_result()
    if not report.passed:
        return
    cassette = getattr(item, "funcargs", {}).get("vcr")
    unplayed = unplayed_interactions(cassette)
    if unplayed:
        report.outcome = "failed"
        report.longrepr = (f"llmtrace: the cassette {unplayed[0]} has interactions this test never played:\n"
                           + "\n".join(unplayed[1:]))


def unplayed_interactions(cassette: Any) -> list[str]:
    """The cassette's path, then one line per interaction loaded from it and never played; an
    empty list when every one was played, or for anything that is no loaded VCR.py cassette."""
    data = getattr(cassette, "data", None)
    counts = getattr(cassette, "play_counts", None)
    if not isinstance(data, list) or counts is None or not getattr(cassette, "rewound", False):
        return []
    loaded = getattr(cassette, "_loaded_count", len(data))
    from llmtrace.secrets import mask_url

    lines = []
    for index in range(min(loaded, len(data))):
        if counts[index] == 0:
            request = data[index][0]
            lines.append(f"  interaction {index}: {getattr(request, 'method', '?')} "
                         f"{mask_url(str(getattr(request, 'uri', '?')))}")
    if not lines:
        return []
    return [str(getattr(cassette, "_path", "?")), *lines]


class ServerURLs(NamedTuple):
    """Where a test's ``llmtrace_server`` listens, as each SDK wants it."""

    base: str
    openai: str  # OPENAI_BASE_URL: base + /v1
    anthropic: str
    ollama: str
    gemini: str


class Served(ServerURLs):
    """``llmtrace_server``'s value: its URLs, and the server's journal — ``requests`` (one
    ``{method, path, matched, status, frames, faults, differences}`` per request, in arrival
    order) and ``reset()`` (journal emptied, sequence positions rewound)."""

    def __new__(cls, urls: ServerURLs, background):
        self = super().__new__(cls, *urls)
        self._background = background
        return self

    @property
    def requests(self) -> list[dict]:
        return self._background.requests

    def reset(self) -> None:
        self._background.reset()


def _server_scope(fixture_name: str, config: pytest.Config) -> str:
    scope = config.getini("llmtrace_server_scope") or "function"
    if scope not in ("function", "class", "module", "package", "session"):
        raise pytest.UsageError(f"llmtrace_server_scope should be a pytest scope, not {scope!r}")
    return scope


def _served_paths(request: pytest.FixtureRequest) -> list[Path]:
    node = request.node
    base = Path(str(request.path)).parent
    marker = node.get_closest_marker("llmtrace_recordings")
    if marker is not None and marker.args:
        return [p if p.is_absolute() else base / p for p in map(Path, marker.args)]
    vcr = node.get_closest_marker("vcr")
    if vcr is not None:
        folder = base / "cassettes" / Path(str(request.path)).stem
        try:
            folder = Path(request.getfixturevalue("vcr_cassette_dir"))
        except pytest.FixtureLookupError:
            pass
        try:
            default = str(request.getfixturevalue("default_cassette_name"))
        except pytest.FixtureLookupError:
            default = node.name
        names = [str(a) for a in vcr.args] or [default]
        return [Path(n) if Path(n).is_absolute() else folder / (n if n.endswith((".yaml", ".yml", ".json")) else n + ".yaml")
                for n in names]
    settings = request.config.stash[_SETTINGS]
    return list(settings.paths) or [settings.root]


def _on_miss(request: pytest.FixtureRequest) -> dict:
    """``llmtrace_recordings(PATH, upstream=URL, record_to=DIR, save_as="har")``: record on miss,
    into DIR or else the first PATH when it is a folder (``serve --upstream``'s rule)."""
    marker = request.node.get_closest_marker("llmtrace_recordings")
    options = dict(marker.kwargs) if marker is not None else {}
    unknown = set(options) - {"upstream", "record_to", "save_as"}
    if unknown:
        raise pytest.UsageError(f"llmtrace_recordings: unknown option {sorted(unknown)[0]!r} "
                                "(known: upstream, record_to, save_as)")
    if options.get("upstream") is None:
        return {}
    if options.get("record_to") is None:
        first = _served_paths(request)[:1]
        if not first or not first[0].is_dir():
            raise pytest.UsageError("llmtrace_recordings: upstream needs record_to=DIR (the first path is not a folder)")
        options["record_to"] = first[0]
    return options


@pytest.fixture(scope=_server_scope)
def llmtrace_server(request: pytest.FixtureRequest):
    """``llmtrace serve`` for the test: the recordings it names, on a free port of 127.0.0.1."""
    import llmtrace
    from llmtrace.server.app import Background
    from llmtrace.walk import iter_inputs

    from llmtrace.containers import bodies

    from llmtrace.server.match import read_input

    items = list(iter_inputs([str(p) for p in _served_paths(request)]))
    recordings = []
    bodies.keep_raw(True)  # served as their recorded bytes
    try:
        for item in items:  # a folder's files indexed, folded when first matched (as ``serve``)
            try:
                recordings.append(read_input(item))
            except llmtrace.UnreadableInput as exc:
                if request.node.get_closest_marker("llmtrace_recordings") is not None:
                    raise pytest.UsageError(exc.line()) from None
    finally:
        bodies.keep_raw(False)
    grow = _on_miss(request)
    if not recordings and not grow:
        pytest.fail("llmtrace_server: no recording to serve (mark the test with llmtrace_recordings(PATH))")
    roots = [str(p) for p in _served_paths(request)] + [str(Path(str(request.path)).parent)]  # named as the test names them
    background = Background(llmtrace.serve(recordings, roots=roots, **grow))
    with background as base:
        yield Served(ServerURLs(base, f"{base}/v1", base, base, base), background)
