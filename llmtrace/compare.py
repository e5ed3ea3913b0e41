"""Comparing two recordings by meaning: normalized documents in, a list of differences out.

A *document* is one exchange in provider-neutral terms (built by ``llmtrace.commands.diff``)::

    {"request": {"model", "endpoint", "messages": [{"role", "content"}], "tools": {name: definition},
                 "params": {…}},
     "choices": [normalized message], "usage": {…}, "anomalies": [anomaly],
     "response": {"model", "status", "error", "body", "chunks", "timing", …, and the volatile
                  fields of the provider response (VOLATILE) when present}}

A difference is ``(path, change, a, b)`` with ``change`` one of added | removed | changed and
whole values (``None`` on the side that lacks the value). Paths follow contracts.md:
``request.messages[2].content``, ``choices[0].tool_calls[1].parsed_arguments.city``; keys that
are not plain names are written ``["like this"]`` (a JSON string, every character that is not
printable escaped as ``\\uXXXX``), so that any key round-trips through ``--ignore`` and shows
nothing invisible on a terminal. Recorded values may nest as deep as the parsers go, so values
are walked and compared without recursion.

What counts (contracts.md): the request, the choices, usage, and anomalies at warning or above.
The ``response`` section (response model, status, recorded error, opaque body, chunk count,
timing) and info anomalies are differences that are shown but count only when ``strict``.
Compared by meaning unless ``strict``: volatile fields (ids, ``created``, fingerprints) are
skipped; an empty text equals a missing one; finish reasons compare by their normalized ``stop``
when both have one (``STOP`` equals ``stop``); tool arguments compare parsed (whitespace and key
order do not matter) unless one side is not valid JSON, then as raw strings.
"""

from __future__ import annotations

import difflib
import json
import re
from collections import Counter
from typing import Any, Iterator, NamedTuple

import orjson

ADDED, REMOVED, CHANGED = "added", "removed", "changed"
SECTIONS = ("request", "choices", "usage", "anomalies")
# Top-level fields of a provider response that change on every recording of the same call.
VOLATILE = ("id", "created", "created_at", "system_fingerprint", "response_id", "responseId",
            "create_time", "createTime")

Token = str | int | None  # a key, an index, or None for ``[*]`` (patterns only)


class Difference(NamedTuple):
    path: str
    change: str
    a: Any
    b: Any
    # False: shown, but counted only with --strict (chunk counts, timing, info anomalies, ...).
    counts: bool = True

    def json(self) -> dict[str, Any]:
        return {"path": self.path, "change": self.change, "a": self.a, "b": self.b}


class Pair(NamedTuple):
    """Two exchanges compared (``a``/``b`` their indices; None on the side that lacks one)."""

    a: int | None
    b: int | None
    differences: list[Difference]


# --- paths -------------------------------------------------------------------------------------

# A plain name: written after a dot. Any other key is written quoted in brackets.
_NAME = re.compile(r"[A-Za-z_][\w-]*")
_BRACKET = re.compile(r'\[(?:(\d+)|(\*)|("(?:[^"\\]|\\.)*"))\]')
_SHORT_ESCAPES = {'"': '\\"', "\\": "\\\\", "\n": "\\n", "\r": "\\r", "\t": "\\t", "\b": "\\b", "\f": "\\f"}


def format_path(tokens: list[Token]) -> str:
    """``["choices", 0, "tool_calls", None, "two words"]`` → ``choices[0].tool_calls[*]["two words"]``.
    ``parse_path`` gives the tokens back, whatever the keys hold."""
    parts: list[str] = []
    for token in tokens:
        if token is None or isinstance(token, int):
            parts.append("[*]" if token is None else f"[{token}]")
        elif _NAME.fullmatch(token) and token.isprintable():
            parts.append(f".{token}" if parts else token)
        else:
            parts.append(f"[{quote_key(token)}]")
    return "".join(parts)


def quote_key(key: str) -> str:
    """``key`` as a JSON string in which every character that is not printable (controls, C1,
    bidi overrides, zero-width and other format characters, separators, lone surrogates) is a
    ``\\uXXXX`` escape: a path shows no invisible or terminal-controlling character, and what
    it shows is what ``--ignore`` takes back."""
    if key.isprintable() and '"' not in key and "\\" not in key:
        return f'"{key}"'
    return '"' + "".join(_escaped(ch) for ch in key) + '"'


def _escaped(ch: str) -> str:
    short = _SHORT_ESCAPES.get(ch)
    if short:
        return short
    if ch.isprintable():
        return ch
    code = ord(ch)
    if code > 0xFFFF:  # a surrogate pair, as JSON writes characters beyond the BMP
        code -= 0x10000
        return f"\\u{0xD800 + (code >> 10):04x}\\u{0xDC00 + (code & 0x3FF):04x}"
    return f"\\u{code:04x}"


def parse_path(path: str) -> list[Token]:
    """``choices[*].tool_calls[0].name`` → ``["choices", None, "tool_calls", 0, "name"]``;
    ``request.params["a.b"]`` → ``["request", "params", "a.b"]`` (the key a JSON string).
    Raises ValueError for anything that is not such a path."""
    tokens: list[Token] = []
    pos = 0
    while pos < len(path):
        if path[pos] == "[":
            m = _BRACKET.match(path, pos)
            if m:
                index, star, quoted = m.groups()
                tokens.append(int(index) if index else None if star else _unquote(quoted, pos, path))
        else:
            dotted = path[pos] == "."
            # A name follows a dot, except the first one, which has none.
            m = _NAME.match(path, pos + dotted) if dotted == bool(tokens) else None
            if m:
                tokens.append(m.group())
        if not m:
            raise ValueError(f"not a path (at character {pos + 1}): {path}")
        pos = m.end()
    if not tokens:
        raise ValueError("empty path")
    return tokens


def _unquote(quoted: str, pos: int, path: str) -> str:
    try:
        return json.loads(quoted, strict=False)  # the standard library: lone surrogates too
    except ValueError:
        raise ValueError(f"not a path (bad quoted key at character {pos + 2}): {path}") from None


def matches(pattern: list[Token], path: list[Token]) -> bool:
    """Whether ``pattern`` is ``path`` or a prefix of it (``None`` matching any index)."""
    if len(pattern) > len(path):
        return False
    for want, got in zip(pattern, path):
        if want is None:
            if not isinstance(got, int):
                return False
        elif want != got or isinstance(want, int) != isinstance(got, int):
            return False
    return True


def ignored(path: str, patterns: list[list[Token]]) -> bool:
    if not patterns:
        return False
    tokens = parse_path(path)
    return any(matches(p, tokens) for p in patterns)


# --- words -------------------------------------------------------------------------------------

# A word, or a punctuation mark, with the whitespace after it; or leading whitespace.
_WORDS = re.compile(r"\w+\s*|[^\w\s]\s*|\s+")
# Beyond this many differing tokens on a side, a text is shown as replaced whole (word diffs of
# texts that long take seconds and are unreadable anyway).
WORD_DIFF_LIMIT = 20_000


def words(text: str) -> list[str]:
    """Words and punctuation marks, each with the whitespace after it; joined they give
    ``text`` back."""
    return _WORDS.findall(text)


def word_diff(a: str, b: str) -> list[tuple[str, str]]:
    """``a`` → ``b`` as segments ``(op, text)``, op ``=`` (both), ``-`` (only a), ``+`` (only b).
    The ``=`` and ``-`` texts join to ``a``, the ``=`` and ``+`` texts to ``b``. A short common
    stretch between two changes (``to`` in a rewritten sentence) is folded into them, so that a
    rewrite reads as one removal and one addition rather than confetti."""
    ta, tb = words(a), words(b)
    head = 0
    while head < len(ta) and head < len(tb) and ta[head] == tb[head]:
        head += 1
    tail = 0
    while tail < len(ta) - head and tail < len(tb) - head and ta[-1 - tail] == tb[-1 - tail]:
        tail += 1
    mid_a, mid_b = ta[head:len(ta) - tail], tb[head:len(tb) - tail]
    if max(len(mid_a), len(mid_b)) > WORD_DIFF_LIMIT:
        opcodes = [("replace", 0, len(mid_a), 0, len(mid_b))]
    else:
        # difflib's heuristic (frequent tokens never anchor a match) keeps this near-linear
        # where a repeated word would make the exact search quadratic.
        opcodes = difflib.SequenceMatcher(None, mid_a, mid_b, autojunk=True).get_opcodes()
    runs: list[_Run] = []
    for op, i1, i2, j1, j2 in opcodes:
        if op == "equal":
            runs.append(_Run(True, mid_a[i1:i2], []))
        else:
            _add_change(runs, _Run(False, mid_a[i1:i2], mid_b[j1:j2]))
    out: list[tuple[str, str]] = []
    _emit(out, "=", "".join(ta[:head]))
    for run in runs:
        removed = "".join(run.a)
        if run.equal:
            _emit(out, "=", removed)
            continue
        added = "".join(run.b)
        lead = _shared_words(removed, added)
        _emit(out, "=", removed[:lead])
        removed, added = removed[lead:], added[lead:]
        space = _shared_trailing_space(removed, added)
        _emit(out, "-", removed[:len(removed) - space])
        _emit(out, "+", added[:len(added) - space])
        _emit(out, "=", removed[len(removed) - space:])
    _emit(out, "=", "".join(ta[len(ta) - tail:]))
    return out


def _shared_words(a: str, b: str) -> int:
    """How many leading characters ``a`` and ``b`` share, up to a word end in both (``cat\t``
    and ``cat `` share ``cat``; ``cat`` and ``car`` share nothing)."""
    n = 0
    while n < len(a) and n < len(b) and a[n] == b[n]:
        n += 1
    while n and not ((n == len(a) or a[n].isspace()) and (n == len(b) or b[n].isspace())):
        n -= 1
    return n


def _shared_trailing_space(a: str, b: str) -> int:
    """How many trailing whitespace characters ``a`` and ``b`` share (both must keep a word)."""
    n = 0
    while n < len(a) - 1 and n < len(b) - 1 and a[-1 - n] == b[-1 - n] and a[-1 - n].isspace():
        n += 1
    return n


class _Run:
    """Tokens both sides share (``equal``), or tokens removed (``a``) and added (``b``); ``na``
    and ``nb`` count their characters."""

    __slots__ = ("equal", "a", "b", "na", "nb")

    def __init__(self, equal: bool, a: list[str], b: list[str]):
        self.equal = equal
        self.a = a
        self.b = b
        self.na = sum(map(len, a))
        self.nb = sum(map(len, b))


def _add_change(runs: list[_Run], change: _Run) -> None:
    """Append a change, first folding into it every short equality before it: change, equality,
    change become one change when the equality has at most half the characters of either."""
    while len(runs) >= 2 and runs[-1].equal \
            and 2 * runs[-1].na <= min(max(runs[-2].na, runs[-2].nb), max(change.na, change.nb)):
        same = runs.pop()
        before = runs.pop()
        before.a.extend(same.a)
        before.a.extend(change.a)
        before.b.extend(same.a)
        before.b.extend(change.b)
        before.na += same.na + change.na
        before.nb += same.na + change.nb
        change = before
    runs.append(change)


def _emit(out: list[tuple[str, str]], op: str, text: str) -> None:
    if not text:
        return
    if out and out[-1][0] == op:
        out[-1] = (op, out[-1][1] + text)
    else:
        out.append((op, text))


# --- documents ---------------------------------------------------------------------------------


def compare(a: dict, b: dict, strict: bool = False) -> list[Difference]:
    """The differences between two exchange documents, in document order."""
    out: list[Difference] = []
    _request(a["request"], b["request"], out)
    _list(["choices"], a["choices"], b["choices"], out, lambda p, x, y: _message(p, x, y, out, strict))
    _value(["usage"], a["usage"], b["usage"], out)
    _anomalies(a["anomalies"], b["anomalies"], out)
    ra, rb = a["response"], b["response"]
    for key in _keys(ra, rb):
        if key in VOLATILE and not strict:
            continue
        whole = key in ("body", "error")  # opaque bodies and recorded errors: one value each
        (_whole if whole else _value)(["response", key], ra.get(key), rb.get(key), out, counts=False)
    if strict:
        out = [d._replace(counts=True) for d in out]
    return out


def _request(a: dict, b: dict, out: list[Difference]) -> None:
    for key in _keys(a, b):
        if key == "tools":
            _tools(a.get("tools") or {}, b.get("tools") or {}, out)
        else:
            _value(["request", key], a.get(key), b.get(key), out)


def _tools(a: dict, b: dict, out: list[Difference]) -> None:
    """Declared tools by name; a change is the tool's whole definition."""
    path = "request.tools"
    for name in _keys(a, b):
        if name not in b:
            out.append(Difference(path, REMOVED, a[name], None))
        elif name not in a:
            out.append(Difference(path, ADDED, None, b[name]))
        elif not _equal(a[name], b[name]):
            out.append(Difference(path, CHANGED, a[name], b[name]))


def _message(path: list[Token], a: dict, b: dict, out: list[Difference], strict: bool) -> None:
    for key in _keys(a, b):
        va, vb = a.get(key), b.get(key)
        if key == "stop":
            continue  # derived from finish_reason, compared there
        if key == "finish_reason" and not strict and a.get("stop") and b.get("stop"):
            if a["stop"] != b["stop"]:
                out.append(Difference(format_path(path + [key]), CHANGED, va, vb))
        elif key == "tool_calls":
            _list(path + [key], va or [], vb or [], out, lambda p, x, y: _tool_call(p, x, y, out, strict))
        elif key in ("content", "reasoning", "refusal") and not strict:
            _value(path + [key], va or None, vb or None, out)
        else:
            _value(path + [key], va, vb, out)


def _tool_call(path: list[Token], a: dict, b: dict, out: list[Difference], strict: bool) -> None:
    parsed = a.get("parsed_arguments") is not None and b.get("parsed_arguments") is not None
    for key in _keys(a, b):
        if key == "id" and not strict:
            continue
        if key == "arguments" and parsed and not strict:
            continue  # same meaning whatever the spacing and key order
        if key == "parsed_arguments" and not parsed:
            continue  # one side is not JSON: the raw strings tell the difference
        _value(path + [key], a.get(key), b.get(key), out)


def _anomalies(a: list[dict], b: list[dict], out: list[Difference]) -> None:
    """Anomalies that appeared or disappeared, matched by code, severity and choice (chunk
    indices and wording may change with the chunking)."""
    def key(anomaly: dict) -> tuple:
        return anomaly.get("code"), anomaly.get("severity"), anomaly.get("choice")

    def unmatched(these: list[dict], those: list[dict]) -> Iterator[dict]:
        """The anomalies of ``these`` left over once each is paired with one of ``those``."""
        left = Counter(key(x) for x in those)
        for anomaly in these:
            k = key(anomaly)
            if left[k]:
                left[k] -= 1
            else:
                yield anomaly

    for anomaly in unmatched(a, b):
        out.append(Difference("anomalies", REMOVED, anomaly, None, anomaly.get("severity") != "info"))
    for anomaly in unmatched(b, a):
        out.append(Difference("anomalies", ADDED, None, anomaly, anomaly.get("severity") != "info"))


def value_diff(a: Any, b: Any) -> list[Difference]:
    """The differences between two JSON values, with paths relative to them (``""`` for the
    values themselves)."""
    out: list[Difference] = []
    _value([], a, b, out)
    return out


def _value(path: list[Token], a: Any, b: Any, out: list[Difference], counts: bool = True) -> None:
    """Objects key by key, arrays position by position; None (or a missing key) on one side makes
    the value added or removed, and an array item beyond the other side's end is added or
    removed whole. Depth first in document order, without recursion: recorded values may nest
    as deep as the parsers go (orjson: 1,024 levels). One iterator per open level and one path
    list grown and cut back: the work is linear in the values' size."""
    path = list(path)
    base = len(path)
    stack = [iter(((_SELF, a, b),))]
    while stack:
        level = base + len(stack) - 1  # the path length of the items of the innermost level
        for token, x, y in stack[-1]:
            if token is _SELF:  # the values themselves, at ``base``
                del path[level:]
            else:
                del path[level - 1:]
                path.append(token)
            if x is _MISSING:
                out.append(Difference(format_path(path), ADDED, None, y, counts))
            elif y is _MISSING:
                out.append(Difference(format_path(path), REMOVED, x, None, counts))
            elif isinstance(x, dict) and isinstance(y, dict):
                stack.append(_object_steps(x, y))
                break
            elif isinstance(x, list) and isinstance(y, list):
                stack.append(_array_steps(x, y))
                break
            else:
                _whole(path, x, y, out, counts)
        else:
            stack.pop()


_SELF = object()  # the value itself (no path step)
_MISSING = object()  # an array item beyond the end of one side


def _object_steps(a: dict, b: dict) -> Iterator[tuple[str, Any, Any]]:
    """(key, a's value, b's value) for every key of either side but those whose values are
    equal scalars, in ``_keys`` order; a missing key gives None."""
    for key, x in a.items():
        y = b.get(key)
        if not _same_scalars(x, y):
            yield key, x, y
    for key, y in b.items():
        if key not in a and y is not None:
            yield key, None, y


def _array_steps(a: list, b: list) -> Iterator[tuple[int, Any, Any]]:
    """(index, a's item, b's item) for every position but those holding equal scalars; past the
    shorter side's end, ``_MISSING`` on that side."""
    shared = min(len(a), len(b))
    for i in range(shared):
        x, y = a[i], b[i]
        if not _same_scalars(x, y):
            yield i, x, y
    for i in range(shared, len(a)):
        yield i, a[i], _MISSING
    for i in range(shared, len(b)):
        yield i, _MISSING, b[i]


def _whole(path: list[Token], a: Any, b: Any, out: list[Difference], counts: bool = True) -> None:
    if _equal(a, b):
        return
    change = ADDED if a is None else REMOVED if b is None else CHANGED
    out.append(Difference(format_path(path), change, a, b, counts))


def _list(path: list[Token], a: list, b: list, out: list[Difference], pair, counts: bool = True) -> None:
    for i in range(max(len(a), len(b))):
        if i >= len(b):
            out.append(Difference(format_path(path + [i]), REMOVED, a[i], None, counts))
        elif i >= len(a):
            out.append(Difference(format_path(path + [i]), ADDED, None, b[i], counts))
        else:
            pair(path + [i], a[i], b[i])


def _keys(a: dict, b: dict) -> list:
    return list(a) + [k for k in b if k not in a]


def _equal(a: Any, b: Any) -> bool:
    """JSON equality: 1 equals 1.0, but true is not 1. In document order, stopping at the first
    difference, without recursion (see ``_value``)."""
    stack = [iter(((a, b),))]
    while stack:
        for x, y in stack[-1]:
            kind = type(x)
            if kind is type(y) and kind in _SCALARS:  # the common case, settled here
                if x != y:
                    return False
            elif isinstance(x, dict):
                if not isinstance(y, dict) or x.keys() != y.keys():
                    return False
                stack.append(zip(x.values(), map(y.__getitem__, x)))
                break
            elif isinstance(x, list):
                if not isinstance(y, list) or len(x) != len(y):
                    return False
                stack.append(zip(x, y))
                break
            elif not _same_scalar(x, y):
                return False
        else:
            stack.pop()
    return True


_SCALARS = frozenset((str, int, float, bool, type(None)))


def _same_scalars(a: Any, b: Any) -> bool:
    """Whether ``a`` and ``b`` are equal scalars of one type (the common case, settled at once)."""
    kind = type(a)
    return kind is type(b) and kind in _SCALARS and a == b


def _same_scalar(a: Any, b: Any) -> bool:
    if type(a) is type(b):
        return a == b
    numbers = (int, float)
    return isinstance(a, numbers) and isinstance(b, numbers) and not isinstance(a, bool) \
        and not isinstance(b, bool) and a == b


# --- recordings --------------------------------------------------------------------------------


def request_key(doc: dict) -> bytes:
    """What ``--by-request`` pairs on: the normalized request's model, messages and tools."""
    request = doc["request"]
    return orjson.dumps([request.get("model"), request.get("messages"), list(request.get("tools") or {})],
                        option=orjson.OPT_SORT_KEYS)


def pair_exchanges(a: list[dict], b: list[dict], by_request: bool = False) -> list[tuple[int | None, int | None]]:
    """Pairs of exchange indices: by position, or by request key (first unused match, in file
    order). Unpaired exchanges come as ``(i, None)`` / ``(None, j)``, after the pairs."""
    if not by_request:
        pairs: list[tuple[int | None, int | None]] = [(i, i) for i in range(min(len(a), len(b)))]
        pairs += [(i, None) for i in range(len(b), len(a))]
        return pairs + [(None, j) for j in range(len(a), len(b))]
    waiting: dict[bytes, list[int]] = {}
    for j, doc in enumerate(b):
        waiting.setdefault(request_key(doc), []).append(j)
    pairs, removed = [], []
    for i, doc in enumerate(a):
        queue = waiting.get(request_key(doc))
        if queue:
            pairs.append((i, queue.pop(0)))
        else:
            removed.append((i, None))
    used = {j for _, j in pairs}
    return pairs + removed + [(None, j) for j in range(len(b)) if j not in used]


def compare_recordings(a: list[dict], b: list[dict], strict: bool = False, ignore: list[str] = (),
                       by_request: bool = False) -> list[Pair]:
    """Every exchange pair compared. Paths get an ``exchanges[N].`` prefix (N: the index in
    ``a``, in ``b`` for an exchange only ``b`` has) when either side holds more than one
    exchange. ``ignore`` patterns drop a path and everything under it; they match with or
    without that prefix. Raises ValueError for a pattern that is not a path."""
    patterns = [parse_path(p) for p in ignore]
    several = len(a) > 1 or len(b) > 1
    out: list[Pair] = []
    for i, j in pair_exchanges(a, b, by_request):
        if i is None or j is None:
            n = i if j is None else j
            diffs = [Difference(f"exchanges[{n}]", REMOVED if j is None else ADDED,
                                a[i] if j is None else None, b[j] if i is None else None)]
        else:
            prefix = f"exchanges[{i}]." if several else ""
            diffs = [d._replace(path=prefix + d.path) for d in compare(a[i], b[j], strict)
                     if not ignored(d.path, patterns)]  # patterns without the prefix
        out.append(Pair(i, j, [d for d in diffs if not ignored(d.path, patterns)]))  # and with it
    return out


_EXCHANGE_PREFIX = re.compile(r"exchanges\[\d+\]\.")


def stat_line(counted: list[Difference]) -> str:
    """``3 differences: request 1 (model), choices 2 (content, tool_calls), usage 0, anomalies 0``:
    the counted differences by section, with the fields they touch; ``response`` and
    ``exchanges`` appear only when they have some."""
    groups: dict[str, list[Difference]] = {name: [] for name in SECTIONS}
    for d in counted:
        groups.setdefault(section(d.path), []).append(d)
    parts = []
    for name, items in groups.items():
        fields = list(dict.fromkeys(f for f in (field(d.path) for d in items) if f))
        parts.append(f"{name} {len(items)}" + (f" ({', '.join(fields)})" if fields else ""))
    n = len(counted)
    return f"{n} difference{'' if n == 1 else 's'}: " + ", ".join(parts)


def section(path: str) -> str:
    """The section a path belongs to: request, choices, usage, anomalies, response or exchanges
    (``""`` for a path that starts with no name, such as one relative to a value)."""
    m = _NAME.match(local_path(path))
    return m.group() if m else ""


def field(path: str) -> str | None:
    """The field within its section, written as a path step: ``choices[0].tool_calls[1].name`` →
    ``tool_calls``, ``request.params["a b"].c`` → ``["a b"]``; None when there is none."""
    try:
        tokens = parse_path(local_path(path))
    except ValueError:
        return None
    names = [t for t in tokens[1:] if isinstance(t, str)]
    return format_path(names[:1]) if names else None


def local_path(path: str) -> str:
    """``path`` without its ``exchanges[N].`` prefix."""
    m = _EXCHANGE_PREFIX.match(path)
    return path[m.end():] if m else path
