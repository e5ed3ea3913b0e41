"""The dialect index (``llmtrace.dialects._MODULES``): the keys each module's ``sniff`` needs and
the names it folds, written down so that a recording imports only the dialect modules that could
read it. Sniffing through the index must say exactly what asking every module in order says."""

from __future__ import annotations

import importlib
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from llmtrace import dialects, load
from llmtrace.errors import UnreadableInput

ROOT = Path(__file__).parent.parent
SEED = ROOT / "tests" / "data" / "corpus" / "seed" / "000_a2136f253c2c20b7.json"


def _payloads() -> list[dict]:
    """The first chunks and the bodies of every readable recording under tests/data and
    examples, and the objects nested one level inside them (shapes a sniffer did not claim)."""
    found = []
    for root in (ROOT / "tests" / "data", ROOT / "examples"):
        for path in sorted(root.rglob("*")):
            if not path.is_file() or path.stat().st_size > 2_000_000:
                continue
            try:
                recording = load(str(path))
            except (UnreadableInput, UnicodeDecodeError, OSError):
                continue
            for exchange in recording.exchanges:
                response = exchange.response
                for payload in [*response.chunks[:8], response.body, exchange.request.body]:
                    if isinstance(payload, dict):
                        found.append(payload)
                        found.extend(v for v in payload.values() if isinstance(v, dict))
    return found


PAYLOADS = _payloads()


def _every_module_in_order(payload: dict) -> str | None:
    """What sniffing said before the index: every module asked, in order."""
    for mod in dialects.modules():
        found = mod.sniff(payload)
        if found:
            return found
    return None


def _outcome(sniff, payload):
    try:
        return sniff(payload)
    except Exception as exc:  # noqa: BLE001 - an error is an outcome too (the loader reports it)
        return type(exc)


def test_the_index_lists_every_module_in_order_with_its_names():
    package = Path(dialects.__file__).parent
    modules = {p.stem for p in package.glob("*.py")
               if p.stem != "__init__" and "\ndef sniff(" in p.read_text(encoding="utf-8")}
    assert {name for name, _, _ in dialects._MODULES} == modules
    for name, keys, names in dialects._MODULES:
        mod = importlib.import_module(f"llmtrace.dialects.{name}")
        assert tuple(mod.NAMES) == names, name
        assert keys and all(isinstance(key, str) for key in keys), name
        for dialect in names:
            assert dialects.module_for(dialect) is mod
    assert dialects.module_for("opaque") is None and dialects.module_for("nonsense") is None


def test_the_corpus_has_payloads_of_most_dialects():
    claimed = {_every_module_in_order(p) for p in PAYLOADS}
    assert len(PAYLOADS) > 1000 and len(claimed) > 20


@pytest.mark.parametrize("name, keys, names", dialects._MODULES, ids=[m[0] for m in dialects._MODULES])
def test_a_payload_without_the_keys_is_never_claimed(name, keys, names):
    """The index's claim for each module: without any of its keys a payload is not its, and
    asking would not raise either. Checked on every payload with those keys taken out."""
    mod = importlib.import_module(f"llmtrace.dialects.{name}")
    for payload in PAYLOADS:
        stripped = {k: v for k, v in payload.items() if k not in keys}
        assert _outcome(mod.sniff, stripped) is None, (name, payload)
        if _outcome(mod.sniff, payload) not in (None, TypeError, AttributeError, KeyError, ValueError):
            assert any(key in payload for key in keys)


def test_sniffing_through_the_index_says_what_every_module_says():
    for payload in PAYLOADS:
        assert _outcome(dialects.sniff, payload) == _outcome(_every_module_in_order, payload), payload


_INDEX_KEYS = sorted({key for _, keys, _ in dialects._MODULES for key in keys})


@settings(max_examples=300, deadline=None)
@given(payload=st.sampled_from(PAYLOADS), dropped=st.lists(st.sampled_from(_INDEX_KEYS), max_size=3),
       added=st.lists(st.tuples(st.sampled_from([*_INDEX_KEYS, "x", "data"]), st.sampled_from(PAYLOADS)), max_size=3))
def test_payloads_of_other_shapes_are_sniffed_as_every_module_says(payload, dropped, added):
    """Real payloads with index keys taken out and put in (the module candidates of a set of keys
    are remembered: a new set of keys must not get another set's)."""
    payload = {k: v for k, v in payload.items() if k not in dropped}
    for key, other in added:
        payload[key] = other.get(key, other)
    assert _outcome(dialects.sniff, payload) == _outcome(_every_module_in_order, payload), payload


def test_reading_openai_chat_chunks_imports_only_the_dialects_they_could_be():
    code = ("import sys; from llmtrace.commands import reassemble; "
            f"reassemble.run({str(SEED)!r}); "
            "print(sorted(m.rpartition('.')[2] for m in sys.modules if m.startswith('llmtrace.dialects.')), "
            "file=sys.stderr)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    # Chunks with "object" and "choices": the modules whose sniff needs one of them, no other.
    assert out.stderr.strip() == str(sorted(["gemini_interactions", "openai_assistants", "openai_chat",
                                             "openai_completions", "openai_responses", "writer"]))
