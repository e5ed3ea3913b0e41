"""The one error llmtrace raises for input it cannot read."""

from __future__ import annotations


class UnreadableInput(Exception):
    """A file that cannot be parsed as a recording.

    ``what`` says what is wrong, ``where`` where (chunk index, line, byte offset);
    the CLI prints ``llmtrace: PATH: what, where`` and exits 2.
    """

    def __init__(self, what: str, where: str | None = None, path: str | None = None,
                 not_recording: bool = False):
        self.what = what
        self.where = where
        self.path = path
        # True when the content is readable but is no recording at all (a README, a config):
        # walking a directory skips such files instead of failing on them.
        self.not_recording = not_recording
        super().__init__(self.line())

    def __reduce__(self):  # crosses to and from worker processes whole, not_recording included
        return type(self), (self.what, self.where, self.path, self.not_recording)

    def line(self) -> str:
        """One line, whatever the reason held (a parser's message may run over two)."""
        text = self.what if not self.where else f"{self.what}, {self.where}"
        text = f"{self.path}: {text}" if self.path else text
        return " ".join(part.strip() for part in text.splitlines()) if "\n" in text or "\r" in text else text


class UsageError(Exception):
    """Options that do not fit the input (an --index out of range, an unknown code): the CLI
    prints the message on one line and exits 2."""


class ShapeError(Exception):
    """Raised inside a reader or a dialect when a value has the wrong type."""

    def __init__(self, what: str, where: str | None = None):
        self.what = what
        self.where = where
        super().__init__(what if not where else f"{what}, {where}")


def expect(value, kind, what: str, where: str | None = None):
    """Return ``value`` when it is an instance of ``kind``, else raise ShapeError."""
    if not isinstance(value, kind):
        names = kind.__name__ if isinstance(kind, type) else " or ".join(k.__name__ for k in kind)
        raise ShapeError(f"{what} should be {_article(names)}, got {_kind(value)}", where)
    return value


def _article(name: str) -> str:
    return {"dict": "an object", "list": "an array", "str": "a string", "int": "an integer"}.get(name, name)


def _kind(value) -> str:
    if value is None:
        return "null"
    return {dict: "an object", list: "an array", str: "a string", int: "a number", float: "a number",
            bool: "a boolean"}.get(type(value), type(value).__name__)
