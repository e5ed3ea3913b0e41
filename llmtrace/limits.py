"""How much reading one recording may cost: the ``--max-size`` limit, the memory there is, and
the budget for YAML aliases.

A recording is untrusted input: a 3 MB gzip body can inflate to 15 GB, a 461-byte YAML file
can expand to a billion values through aliases. Each cost is bounded before it is paid:

- ``--max-size`` (default 1 GiB): no raw file and no decoded body (after base64 and gzip or
  deflate) may be larger. Sizes are written ``200M``, ``1G``, ``512K`` or plain bytes; the
  units are binary (``1K`` = 1024 bytes).
- Memory: a file larger than the memory available to this process (``MemAvailable``, the
  cgroup's limit, ``RLIMIT_AS``) is refused before it is read, and running out of memory
  while parsing or folding is reported as such, with the size, never as a parse error.
- YAML aliases: a document whose aliases, expanded, would hold more than
  ``alias_budget(size)`` values and characters is refused (see ``llmtrace.containers.vcr``).

The current limit is one process-wide value, set once by the command line (``set_max_size``)
and handed explicitly to ``scan``'s worker processes.
"""

from __future__ import annotations

import re

from llmtrace.errors import UsageError

KIB = 1 << 10
MIB = 1 << 20
GIB = 1 << 30
DEFAULT_MAX_SIZE = GIB

# Expanded YAML (values + characters of scalars) allowed per byte of file. A document without
# aliases expands to at most about 1.5 of these per byte (every value takes at least one byte
# and a separator, every character at least one byte), so 10 leaves room for the sharing
# recorders really write (vcrpy's ``&id001`` for a headers list repeated in every interaction)
# while bounding what any file can cost downstream to ten times what a file of that size costs
# without aliases.
ALIAS_EXPANSION_PER_BYTE = 10
ALIAS_BUDGET_FLOOR = 1_000_000

# Below this size a file or body is not worth a look at the memory figures (reading them costs
# more than it could save): such sizes fit wherever llmtrace can run at all.
_MEMORY_CHECK_FROM = 32 * MIB

_max_size = DEFAULT_MAX_SIZE

_SIZE = re.compile(r"\s*(\d+(?:\.\d+)?)\s*(?:([kmgt])(?:i?b)?|b)?\s*", re.IGNORECASE)
_UNITS = {None: 1, "k": KIB, "m": MIB, "g": GIB, "t": 1 << 40}


def parse_size(text: str, option: str = "--max-size") -> int:
    """``200M`` → 209715200. Plain bytes, or a number with K, M, G or T (binary units; ``KB``,
    ``MiB`` spelled out are read the same). A bad value is a UsageError."""
    match = _SIZE.fullmatch(text or "")
    if not match:
        raise UsageError(f"{option}: {text!r} is not a size (write it like 200M, 1G, 512K or 1000000)")
    number, unit = match.groups()
    size = int(float(number) * _UNITS[unit.lower() if unit else None])
    if size < 1:
        raise UsageError(f"{option}: the size must be at least 1 byte, got {text!r}")
    return size


def max_size() -> int:
    """The largest raw file or decoded body a command reads, in bytes."""
    return _max_size


def set_max_size(size: int | None) -> None:
    """Set the limit (None: the default) for this process."""
    global _max_size
    _max_size = DEFAULT_MAX_SIZE if size is None else size


def describe(size: int) -> str:
    """A size for people: ``200 MiB``, ``1 GiB``, ``1.5 KiB``, ``512 bytes``."""
    for unit, name in ((GIB, "GiB"), (MIB, "MiB"), (KIB, "KiB")):
        if size >= unit:
            value = size / unit
            text = f"{value:.0f}" if value >= 100 else f"{value:.1f}".removesuffix(".0")
            return f"{text} {name}"
    return f"{size} bytes"


def beyond_limit(what: str, limit: int | None = None) -> str:
    """The reason for something over ``--max-size``: ``body inflates beyond the 200 MiB limit
    (--max-size)``."""
    return f"{what} beyond the {describe(max_size() if limit is None else limit)} limit (--max-size)"


# --- memory ------------------------------------------------------------------------------------


def available_memory() -> int | None:
    """Bytes this process can still allocate, as far as the system says: the least of the
    kernel's ``MemAvailable``, what the cgroup's memory limit leaves and what ``RLIMIT_AS``
    leaves of the address space. None when none of them is known."""
    figures = [_meminfo_available(), _cgroup_left(), _address_space_left()]
    known = [f for f in figures if f is not None]
    return max(0, min(known)) if known else None


def _meminfo_available() -> int | None:
    try:
        with open("/proc/meminfo", "rb") as fh:
            for line in fh:
                if line.startswith(b"MemAvailable:"):
                    return int(line.split()[1]) * KIB
    except (OSError, ValueError, IndexError):
        pass
    return None


def _cgroup_left() -> int | None:
    for limit_file, usage_file in (("/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory.current"),
                                   ("/sys/fs/cgroup/memory/memory.limit_in_bytes",
                                    "/sys/fs/cgroup/memory/memory.usage_in_bytes")):
        try:
            with open(limit_file, "rb") as fh:
                raw = fh.read().strip()
            if raw == b"max" or int(raw) >= 1 << 60:
                return None
            with open(usage_file, "rb") as fh:
                return int(raw) - int(fh.read().strip())
        except (OSError, ValueError):
            continue
    return None


def _address_space_left() -> int | None:
    try:
        import resource

        soft, _hard = resource.getrlimit(resource.RLIMIT_AS)
        if soft == resource.RLIM_INFINITY:
            return None
        import os

        with open("/proc/self/statm", "rb") as fh:
            used = int(fh.read().split()[0]) * os.sysconf("SC_PAGE_SIZE")
        return soft - used
    except (ImportError, OSError, ValueError, IndexError):
        return None


def fits_in_memory(size: int) -> bool:
    """Whether ``size`` more bytes can be held at all (small sizes are not looked at)."""
    if size < _MEMORY_CHECK_FROM:
        return True
    available = available_memory()
    return available is None or size <= available


def out_of_memory(size: int | None = None, what: str = "the file is", ran_out: bool = False) -> str:
    """The reason for a recording that does not fit in memory: ``too large for available
    memory (the file is 812 MiB; 402 MiB available)``, or with ``ran_out`` (memory ran out
    while it was read; what is free afterwards says nothing) ``(the file is 100 MiB; memory ran
    out while reading it)``."""
    parts = []
    if size is not None:
        parts.append(f"{what} {describe(size)}")
    if ran_out:
        parts.append("memory ran out while reading it")
    else:
        available = available_memory()
        if available is not None:
            parts.append(f"{describe(available)} available")
    return "too large for available memory" + (f" ({'; '.join(parts)})" if parts else "")


def is_memory_error(exc: BaseException, size: int) -> bool:
    """Whether a parser's error on ``size`` bytes means it ran out of memory. orjson says so in
    a JSONDecodeError rather than raising MemoryError: "not enough memory" for its buffer, and
    "failed to allocate memory" also for input that opens brackets it never closes (its buffer
    estimate falls short), which is a memory shortage only where memory really is short."""
    if isinstance(exc, MemoryError):
        return True
    msg = str(getattr(exc, "msg", "")).lower()
    if "not enough memory" in msg:
        return True
    return "allocate" in msg and not fits_in_memory(16 * size)


def json_too_deep(exc: BaseException) -> bool:
    """Whether orjson refused the nesting (more than 1024 levels, or brackets left open)."""
    msg = str(getattr(exc, "msg", "")).lower()
    return "depth limit" in msg or "recursion limit" in msg or "allocate" in msg


# --- YAML aliases ------------------------------------------------------------------------------


def alias_budget(size: int) -> int:
    """How many values and characters a YAML document of ``size`` bytes may expand to."""
    return max(ALIAS_BUDGET_FLOOR, ALIAS_EXPANSION_PER_BYTE * size)
