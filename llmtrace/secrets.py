"""Credentials in recordings: finding them, and masking them in everything llmtrace prints.

Two ways a credential shows up:

- by *name*: a header or URL parameter whose name says it holds one (``Authorization``,
  ``api-key``, ``x-goog-api-key``, ``Cookie``, ``key=``, ``accessToken=``, ``X-Amz-Signature=``,
  ``code=`` ...) and the password of a URL's user info (``user:pass@host``). A name is secret
  when one of its words (split on ``-``, ``_``, ``.`` and camelCase) is a credential word:
  ``x-ratelimit-remaining-tokens`` is not (``tokens``), ``x-amz-security-token`` is.
- by *shape*, in any text (bodies, error messages): provider keys with their own prefix
  (OpenAI ``sk-…``/``sk-proj-…``, Anthropic ``sk-ant-…``, Google ``AIza…``, AWS ``AKIA…``/
  ``ASIA…``, GitHub ``ghp_…``/``github_pat_…``, Slack ``xoxb-…``), ``Bearer <token>``, URL
  parameters of secret names and ``user:pass@host`` (``find_secrets``).

Placeholders are not credentials: ``<API_KEY>``, ``sk-test``, ``sk-xxx…``, ``DUMMY``,
``REDACTED``, ``***``, ``your-api-key``, values of one repeated character, and values already
masked. A live-looking value mixes character classes the way generated keys do.

Containers mask headers and URLs when they build a ``Request``; ``mask_text`` masks free text
(a cheap pre-check makes text without any candidate cost almost nothing). Every pattern is
bounded or anchored on a literal, so scanning is linear in the text. A mask never shows the
secret: at most the kind's prefix stays (``sk-proj-***``, ``Bearer ***``, ``key=***``).
"""

from __future__ import annotations

import re
from typing import Any, NamedTuple

MASK = "***"


class _lazy:
    """A regular expression compiled on first use: the big patterns here cost milliseconds to
    compile, and most runs (text without a candidate) never need them."""

    __slots__ = ("_args", "_compiled")

    def __init__(self, *args):
        self._args = args
        self._compiled = None

    def __getattr__(self, name):
        if self._compiled is None:
            self._compiled = re.compile(*self._args)
        return getattr(self._compiled, name)

SECRET_WORDS = frozenset((
    "authorization", "auth", "key", "apikey", "token", "secret", "password", "passwd", "pwd", "cookie",
    "credential", "credentials", "signature", "sig", "session", "jwt", "bearer", "accesstoken",
))
# Names that are secret only as URL parameters (OAuth's ``code=``), not as headers.
_SECRET_PARAMS = frozenset(("code", "client_secret"))
_WORDS = re.compile(r"[-_.\s]+")
_CAMEL = re.compile(r"(?<=[a-z0-9])(?=[A-Z])")
# "Bearer <token>", "Basic <credentials>", ...: the scheme is kept, the credential masked.
_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9_-]*)\s+\S")

# kind → the placeholder ``llmtrace redact`` writes in its place.
PLACEHOLDERS = {
    "openai-api-key": "<OPENAI_API_KEY>",
    "anthropic-api-key": "<ANTHROPIC_API_KEY>",
    "google-api-key": "<GOOGLE_API_KEY>",
    "aws-access-key-id": "<AWS_ACCESS_KEY_ID>",
    "github-token": "<GITHUB_TOKEN>",
    "slack-token": "<SLACK_TOKEN>",
    "bearer-token": "<REDACTED>",
    "password": "<REDACTED>",
    "credential": "<REDACTED>",
}


class Found(NamedTuple):
    """A credential in a text: ``text[start:end]`` is the secret itself (a scheme, a parameter
    name or a user name around it is not part of it)."""

    start: int
    end: int
    kind: str
    placeholder: str


class Leak(NamedTuple):
    """A live-looking credential a recording holds, as ``unmasked-secret`` reports it: where
    (``request header Authorization``, ``request URL``, ``response chunks``, ...), its kind and
    its mask — never the secret itself."""

    place: str
    kind: str
    masked: str


# --- names -------------------------------------------------------------------------------------


def is_secret_name(name: str) -> bool:
    """Whether a header or query parameter of this name carries a credential."""
    words = _WORDS.split(_CAMEL.sub("-", name).lower())
    return any(word in SECRET_WORDS for word in words)


def is_secret_param(name: str) -> bool:
    """Whether a URL parameter (query, fragment or ``;name=``) of this name carries one."""
    return is_secret_name(name) or name.lower() in _SECRET_PARAMS


# --- values ------------------------------------------------------------------------------------

_PLACEHOLDER_WORDS = _lazy(
    r"redact|dummy|fake|placeholder|your|example|test|mock|sample|changeme|change-me|xxx|filtered|masked|"
    r"hidden|removed|replace|insert|notset|not-set|no-key|nokey|not-needed|notneeded|unused|empty|invalid|"
    r"anything|foobar|\.\.\.|…|\*\*|•",
    re.IGNORECASE)
_ENCLOSED = re.compile(r"^(?:<.*>|\{.*\}|\[.*\]|\$\{?.*|%.*%|\(.*\))$", re.DOTALL)
_PLAIN_WORDS = frozenset(("pass", "password", "passwd", "pwd", "secret", "token", "key", "apikey", "api_key",
                          "api-key", "none", "null", "nil", "undefined", "false", "true", "ollama", "local",
                          "lm-studio", "default", "admin", "user", "guest", "bearer", "string"))


def is_placeholder(value: str) -> bool:
    """A value that stands in for a credential instead of being one: ``<API_KEY>``, ``DUMMY``,
    ``sk-test``, ``***``, ``your-api-key``, ``xxxxxxxx``, one repeated character, a mask."""
    core = value.strip().strip("\"'")
    if not core or _ENCLOSED.match(core) or core.lower() in _PLAIN_WORDS:
        return True
    if any(_stands_alone(core, match) for match in _PLACEHOLDER_WORDS.finditer(core)):
        return True
    body = core.split("-", 1)[1] if core.startswith("sk-") else core
    return len(set(body.replace("-", "").replace("_", ""))) <= 3


def _stands_alone(value: str, match: re.Match) -> bool:
    """Whether a placeholder word in ``value`` is written as a word (``sk-test-…``,
    ``…7EXAMPLE``, ``SyDUMMYKEYFOR…``) rather than a chance run of letters inside a random key:
    no letter on either side, or part of a run of six or more letters of one case."""
    start, end = match.span()
    word = value[start:end]
    if not word.isalpha():
        return True  # "...", "***", "•"
    if (start == 0 or not value[start - 1].isalpha()) and (end == len(value) or not value[end].isalpha()):
        return True
    if not (word.islower() or word.isupper()):
        return False
    same = str.islower if word.islower() else str.isupper
    while start > 0 and value[start - 1].isalpha() and same(value[start - 1]):
        start -= 1
    while end < len(value) and value[end].isalpha() and same(value[end]):
        end += 1
    return end - start >= 6


def _classes(value: str) -> int:
    """How many of lower case, upper case and digits ``value`` mixes."""
    return (any(c.islower() for c in value) + any(c.isupper() for c in value)
            + any(c.isdigit() for c in value))


def is_live_token(value: str, min_length: int = 8) -> bool:
    """A value without a provider prefix that looks generated (a bearer token, a header's key):
    long enough, not a placeholder, letters mixed with digits (or both cases when long)."""
    if len(value) < min_length or is_placeholder(value):
        return False
    has_digit = any(c.isdigit() for c in value)
    has_alpha = any(c.isalpha() for c in value)
    if has_digit and has_alpha:
        return True
    return len(value) >= 20 and _classes(value) >= 2


def mask_value(value: str) -> str:
    """``Bearer sk-…`` → ``Bearer ***``; anything else → ``***``."""
    match = _SCHEME.match(value)
    return f"{match.group(1)} {MASK}" if match else MASK


def mask_headers(headers: dict[str, Any]) -> dict[str, Any]:
    """A copy of ``headers`` with the values of secret headers masked (a list of values stays
    a list) and credentials in the other values masked by shape."""
    out: dict[str, Any] = {}
    for name, value in headers.items():
        if isinstance(name, str) and is_secret_name(name):
            if isinstance(value, list):
                value = [mask_value(v) if isinstance(v, str) else MASK for v in value]
            else:
                value = mask_value(value) if isinstance(value, str) else MASK
        elif isinstance(value, str):
            value = mask_text(value)
        elif isinstance(value, list):
            value = [mask_text(v) if isinstance(v, str) else v for v in value]
        out[name] = value
    return out


# Cookies that identify no one and grant nothing (Cloudflare's bot management and load
# balancing): recorders keep them, and they are no credential.
_HARMLESS_COOKIES = frozenset(("__cf_bm", "_cfuvid", "__cflb", "__cfruid", "cf_ob_info", "cf_use_ob"))
_AUTH_PART = re.compile(r"(?:^|[\s,])(Credential|Signature)=([^\s,]+)")


def header_secrets(name: str, value: str) -> list[Found]:
    """The live-looking credentials in the value of header ``name``, as spans of ``value``.

    A secret header's value is the credential (``x-api-key: …``); after a scheme, what follows
    it (``Bearer …``; AWS SigV4: the ``Credential`` and ``Signature`` values); in a cookie, each
    cookie's value. Placeholders and masks are not credentials. Any other header is searched by
    shape (``find_secrets``)."""
    if not is_secret_name(name):
        return find_secrets(value)
    lower = name.lower()
    if "cookie" in lower:
        return _cookie_secrets(value)
    scheme = _SCHEME.match(value)
    start = scheme.end(1) if scheme else 0
    while start < len(value) and value[start].isspace():
        start += 1
    rest = value[start:].rstrip()
    if scheme and scheme.group(1).upper().startswith("AWS4-"):
        found = []
        for part in _AUTH_PART.finditer(value):
            secret = part.group(2)
            kind = kind_of(secret.split("/", 1)[0])
            if kind == "aws-access-key-id":
                found.append(Found(part.start(2), part.start(2) + 20, kind, PLACEHOLDERS[kind]))
            elif part.group(1) == "Signature" and is_live_token(secret):
                found.append(Found(part.start(2), part.end(2), "credential", PLACEHOLDERS["credential"]))
        return found
    if not rest or any(c.isspace() for c in rest):
        return find_secrets(value)
    if scheme and scheme.group(1).lower() == "basic" and not _live_basic(rest):
        return []
    generic = "bearer-token" if scheme and scheme.group(1).lower() == "bearer" else "credential"
    kind = kind_of(rest) or (generic if is_live_token(rest) else None)
    if kind is None:
        return []
    return [Found(start, start + len(rest), kind, PLACEHOLDERS[kind])]


def _cookie_secrets(value: str) -> list[Found]:
    found = []
    for match in re.finditer(r"([^=;,\s]+)=([^;,\s]*)", value):
        name, secret = match.group(1), match.group(2)
        if name in _HARMLESS_COOKIES or not is_live_token(secret):
            continue
        found.append(Found(match.start(2), match.end(2), "credential", PLACEHOLDERS["credential"]))
    return found


def _live_basic(credentials: str) -> bool:
    """HTTP Basic: base64 of ``user:password``; a placeholder password is no credential."""
    import base64
    import binascii

    try:
        decoded = base64.b64decode(credentials, validate=True).decode("utf-8")
    except (binascii.Error, ValueError):
        return is_live_token(credentials)
    user, colon, password = decoded.partition(":")
    return bool(colon) and not is_placeholder(password) and password.lower() != user.lower()


def leaks_in_headers(headers: dict[str, Any], where: str) -> list[Leak]:
    """What ``header_secrets`` finds in recorded headers (``where``: ``request``)."""
    leaks = []
    for name, value in headers.items():
        values = value if isinstance(value, list) else [value]
        for item in values:
            if isinstance(item, str):
                leaks.extend(Leak(f"{where} header {name}", f.kind, _shown(item, f)) for f in header_secrets(str(name), item))
    return leaks


def leaks_in_text(text: str, place: str) -> list[Leak]:
    """What ``find_secrets`` finds in ``text``, as leaks at ``place``."""
    return [Leak(place, f.kind, mask_of(text[f.start:f.end])) for f in find_secrets(text)]


def _shown(value: str, found: Found) -> str:
    """How a leak is shown: the header value with the secret masked, at most 80 characters."""
    shown = f"{value[:found.start]}{mask_of(value[found.start:found.end])}{value[found.end:]}"
    return shown if len(shown) <= 80 else mask_of(value[found.start:found.end])


# --- URLs --------------------------------------------------------------------------------------

_MATRIX_PARAM = re.compile(r";([^;/?#=]+)=([^;/?#]*)")
_NOT_USER_SCHEMES = frozenset(("mailto", "tel", "sip", "sips", "xmpp", "urn", "data", "news", "javascript"))


def mask_url(url: str) -> str:
    """``url`` with the password of its user info (with or without a scheme), the values of
    secret query, fragment and ``;name=`` parameters masked, and any other credential in it
    masked by shape; everything else is kept byte for byte (nothing is re-encoded)."""
    head, hash_sep, fragment = url.partition("#")
    base, query_sep, query = head.partition("?")
    scheme_sep = base.find("://")
    start = scheme_sep + 3 if scheme_sep >= 0 else 0
    end = base.find("/", start)
    if end < 0:
        end = len(base)
    authority = base[start:end]
    user, at, host = authority.rpartition("@")
    if at and ":" in user:
        name = user.split(":", 1)[0]
        if scheme_sep >= 0 or name.lower() not in _NOT_USER_SCHEMES:
            base = f"{base[:start]}{name}:{MASK}@{host}{base[end:]}"
    if ";" in base:
        base = _MATRIX_PARAM.sub(_mask_matrix, base)
    if query_sep:
        query = _mask_params(query)
    if hash_sep:
        fragment = _mask_params(fragment)
    return mask_text(f"{base}{query_sep}{query}{hash_sep}{fragment}")


def _mask_params(query: str) -> str:
    return "&".join(";".join(_mask_param(p) for p in part.split(";")) for part in query.split("&"))


def _mask_matrix(match: re.Match) -> str:
    if match.group(2) and is_secret_param(_unquote(match.group(1))):
        return f";{match.group(1)}={MASK}"
    return match.group(0)


def _mask_param(param: str) -> str:
    name, eq, value = param.partition("=")
    if eq and value and is_secret_param(_unquote(name)):
        return f"{name}={MASK}"
    return param


def _unquote(text: str) -> str:
    if "%" not in text and "+" not in text:
        return text
    from urllib.parse import unquote_plus

    return unquote_plus(text)


# --- free text ---------------------------------------------------------------------------------

# What could start a credential. Text without any of these is returned as it is. Each test is
# a regex that starts with a plain character or a substring test: both skip through text at
# memory speed (a regex that starts with a character class would not).
_KEY_HINTS = ("sk-", "A(?:Iza|KIA|SIA)", "g(?:h[pousr]_|ithub_pat_)", "xox[abprs]-")
_KEY_SEARCHES = (tuple(re.compile(h).search for h in _KEY_HINTS),
                 tuple(re.compile(h.encode()).search for h in _KEY_HINTS))
_NAME_HINTS = ("=", "@", "earer", "EARER")
# Every text that may hold a credential holds one of these (regular expressions): a writer may
# look for them itself to skip ``mask_text`` on text that has none (``output.dumps`` does).
HINTS = _KEY_HINTS + _NAME_HINTS


def might_hold_secrets(text: str | bytes) -> bool:
    """Whether ``text`` holds anything a credential could start with (cheap: a few searches
    at memory speed); False means ``find_secrets`` finds nothing in it."""
    if isinstance(text, str):
        return any(search(text) for search in _KEY_SEARCHES[0]) or any(h in text for h in _NAME_HINTS)
    return (any(search(text) for search in _KEY_SEARCHES[1])
            or any(h.encode() in text for h in _NAME_HINTS))


def _edge(prefix: str) -> str:
    """After ``prefix`` (a regex of fixed width, ending at the character the match starts
    with): the prefix starts a token, not inside a longer word (a JSON escape such as ``\n``
    before it counts as a boundary)."""
    return f"(?<={prefix})(?:(?<![A-Za-z0-9_-]{prefix})|(?<=\\\\[nrt]{prefix}))"


# Both finders start with one character class and put every alternative after it, so that
# the regex engine skips text without any of these characters at C speed; the match starts
# at that character. A key's characters run to a boundary (``_END``): a longer run is
# something else (a hash, base64). Every repetition is bounded: scanning is linear.
_END = r"(?![A-Za-z0-9_-])"
# Provider keys, found by a rarer character inside their prefix (the ``-`` of ``sk-``, the
# ``_`` of ``ghp_``) rather than its first letter.
_KEYS = _lazy(
    r"[-A_](?:" + _edge("sk-") + r"(?:(?P<anthropic>ant-[A-Za-z0-9_-]{20,300})|(?P<openai>(?:proj-|svcacct-|admin-)?"
    r"[A-Za-z0-9_-]{20,300}))" + _END
    + "|" + _edge("xox[abprs]-") + r"(?P<slack>[A-Za-z0-9-]{10,300})" + _END
    + "|" + _edge("A") + r"(?:Iza(?P<google>[0-9A-Za-z_-]{35})" + _END + r"|(?P<aws>[KS]IA[0-9A-Z]{16})(?![0-9A-Za-z]))"
    + "|" + _edge("gh[pousr]_") + r"(?P<github>[A-Za-z0-9]{30,300})" + _END
    + "|" + _edge("github_") + r"(?P<github_pat>pat_[A-Za-z0-9_]{30,300})" + _END
    + r")"
)
# How far before the match a key of each kind starts.
_BACK = {"anthropic": 2, "openai": 2, "slack": 4, "google": 0, "aws": 0, "github": 3, "github_pat": 6}
_PARAM_VALUE = r"[^&;#?\s\"'<>\\,)}\]]{1,1024}"
_USER_PASSWORD = r"(?P<user>[A-Za-z0-9._~%!$'*+-]{1,64}):(?P<password>[^\s@/:?#\"'<>\\]{1,256})@(?=[A-Za-z0-9\[])"
# Credentials after a name: ``Bearer <token>``, ``name=value`` after a URL's ``?``, ``&``,
# ``;``, ``#`` or in running text, and ``user:pass@host``; found by the separator before them.
_NAMED = _lazy(
    r"[?&;#/ \t\r\n\"'(<=,\[{>](?:"
    r"(?<=[Bb][Ee][Aa][Rr][Ee][Rr][ \t\r\n])(?<![A-Za-z0-9_][Bb][Ee][Aa][Rr][Ee][Rr][ \t\r\n])"
    r"[ \t]*(?:\r?\n[ \t]*)?(?P<bearer>[A-Za-z0-9._~+/-]{8,4096}=*)"
    + "|" + r"(?<=[?&;#])(?P<uname>[A-Za-z][A-Za-z0-9_.-]{0,40})=(?P<uvalue>" + _PARAM_VALUE + ")"
    + "|" + r"(?<=[ \t\r\n\"'(,{\[])(?P<pname>[A-Za-z][A-Za-z0-9_.-]{0,40})=(?P<pvalue>" + _PARAM_VALUE + ")"
    + "|" + r"(?<=[/ \t\r\n\"'(<=,\[{;>])" + _USER_PASSWORD
    + r")"
)
# The same at the very start of a text (no separator before it).
_START = _lazy(r"(?P<pname>[A-Za-z][A-Za-z0-9_.-]{0,40})=(?P<pvalue>" + _PARAM_VALUE + ")|" + _USER_PASSWORD)

_KINDS = {"anthropic": "anthropic-api-key", "openai": "openai-api-key", "google": "google-api-key",
          "aws": "aws-access-key-id", "github": "github-token", "github_pat": "github-token",
          "slack": "slack-token"}
_PREFIXED = _lazy(
    r"(?P<anthropic>sk-ant-[A-Za-z0-9_-]{20,})|(?P<openai>sk-(?:proj-|svcacct-|admin-)?[A-Za-z0-9_-]{20,})"
    r"|(?P<google>AIza[0-9A-Za-z_-]{35})|(?P<aws>A[KS]IA[0-9A-Z]{16})"
    r"|(?P<github>gh[pousr]_[A-Za-z0-9]{30,})|(?P<github_pat>github_pat_[A-Za-z0-9_]{30,})"
    r"|(?P<slack>xox[abprs]-[A-Za-z0-9-]{10,})")
_MASK_PREFIX = _lazy(r"sk-ant-|sk-(?:proj-|svcacct-|admin-)?|AIza|A[KS]IA|gh[pousr]_|github_pat_|xox[abprs]-")
_HOST = _lazy(r"\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9](?:[A-Za-z0-9-]{0,62}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,62}[A-Za-z0-9])?)*")


def kind_of(value: str) -> str | None:
    """The kind of a provider key when ``value`` is exactly one and live-looking, else None."""
    match = _PREFIXED.fullmatch(value)
    if match is None:
        return None
    kind = _KINDS[match.lastgroup]
    return kind if _live_prefixed(kind, value) else None


def _live_prefixed(kind: str, value: str) -> bool:
    if is_placeholder(value):
        return False
    if kind in ("openai-api-key", "anthropic-api-key"):
        # Generated keys mix cases and digits; "sk-your-openai-api-key-here" does not.
        body = value[3:]
        return _classes(body) == 3 or (_classes(body) == 2 and any(c.isupper() for c in body))
    if kind == "aws-access-key-id":
        return any(c.isdigit() for c in value[4:]) or len(set(value[4:])) > 6
    return _classes(value[4:]) >= 2


def find_secrets(text: str) -> list[Found]:
    """Every live-looking credential in ``text``, in order, without overlaps (see the module
    docstring for the shapes and what counts as a placeholder)."""
    found: list[Found] = []
    if any(search(text) for search in _KEY_SEARCHES[0]):
        found.extend(filter(None, (_judge(m, text) for m in _KEYS.finditer(text))))
    marks = [mark for mark in _NAME_HINTS if mark in text]
    if marks:
        named = [_judge(m, text) for start, end in _windows(text, marks) for m in _NAMED.finditer(text, start, end)]
        first = _START.match(text)
        if first is not None:
            named.append(_judge(first, text))
        found.extend(filter(None, named))
    return _without_overlaps(found) if len(found) > 1 else found


# Around an ``=``, ``@`` or ``bearer``: how far a credential named by it can reach before and
# after it (a 41-character name and a 1,024-character value; a 64-character user and a
# 256-character password; a 4,096-character token).
_REACH = {"=": (48, 1040), "@": (330, 8), "earer": (8, 4200), "EARER": (8, 4200)}


def _windows(text: str, marks: list[str]) -> list[tuple[int, int]]:
    """The stretches of ``text`` around its few ``marks`` where a named credential can be
    (a long text with one ``=`` is searched near it only); the whole text when marks abound."""
    size = len(text)
    if size <= 2048 or sum(text.count(mark) for mark in marks) > 64:
        return [(0, size)]
    spans = []
    for mark in marks:
        before, after = _REACH[mark]
        at = text.find(mark)
        while at >= 0:
            spans.append((max(0, at - before), min(size, at + after)))
            at = text.find(mark, at + 1)
    spans.sort()
    merged = [spans[0]]
    for start, end in spans[1:]:
        if start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], end))
        else:
            merged.append((start, end))
    return merged


def _without_overlaps(found: list[Found]) -> list[Found]:
    """In text order; a credential inside another (a key that is a parameter's value) is
    dropped, two that overlap become one."""
    out: list[Found] = []
    for item in sorted(found, key=lambda f: (f.start, -f.end)):
        if out and item.start < out[-1].end:
            if item.end > out[-1].end:
                out[-1] = out[-1]._replace(end=item.end)
            continue
        out.append(item)
    return out


def _judge(match: re.Match, text: str) -> Found | None:
    group = match.lastgroup
    if group in _KINDS:
        kind = _KINDS[group]
        start = match.start() - _BACK[group]
        if not _live_prefixed(kind, text[start:match.end(group)]):
            return None
        return Found(start, match.end(group), kind, PLACEHOLDERS[kind])
    if group == "bearer":
        value = match.group(group)
        kind = kind_of(value) or ("bearer-token" if is_live_token(value) else None)
        if kind is None:
            return None
        return Found(match.start(group), match.end(group), kind, PLACEHOLDERS[kind])
    if group == "uvalue":
        return _param(match.group("uname"), match.group(group), match.start(group), True)
    if group == "pvalue":
        return _param(match.group("pname"), match.group(group), match.start(group), False)
    if group == "password":
        return _password(match, text)
    return None


def _param(name: str, value: str, start: int, in_url: bool) -> Found | None:
    """``name=value``: in a URL (after ``?``, ``&``, ``;``, ``#``) any secret parameter with a
    value that is not a placeholder; in running text only a live-looking value, or a
    password's."""
    if not (is_secret_param(name) if in_url else is_secret_name(name)):
        return None
    kind = kind_of(value)
    if kind is None:
        if is_placeholder(value):
            return None
        strong = _WORDS.split(_CAMEL.sub("-", name).lower())[-1] in ("password", "passwd", "pwd", "secret")
        if not (len(value) >= 3 and (in_url or strong)) and not is_live_token(value):
            return None
        kind = "password" if strong else "credential"
    return Found(start, start + len(value), kind, PLACEHOLDERS[kind])


def _password(match: re.Match, text: str) -> Found | None:
    """``user:pass@host`` (with or without a scheme before it): the host must look like one."""
    user = match.group("user")
    if user.lower() in _NOT_USER_SCHEMES:
        return None
    host = _HOST.match(text, match.end())
    if host is None:
        return None
    value = match.group("password")
    if is_placeholder(value) or value.lower() == user.lower():
        return None
    kind = kind_of(value) or "password"
    return Found(match.start("password"), match.end("password"), kind, PLACEHOLDERS[kind])


def mask_of(secret: str) -> str:
    """The mask shown instead of ``secret``: its kind's prefix at most (``sk-proj-***``)."""
    prefix = _MASK_PREFIX.match(secret)
    return f"{prefix.group(0)}{MASK}" if prefix and prefix.end() < len(secret) else MASK


def mask_text(text: str) -> str:
    """``text`` with every credential ``find_secrets`` finds masked (``mask_of``); text
    without a candidate is returned as it is, at the cost of a few substring tests."""
    found = find_secrets(text)
    if not found:
        return text
    parts: list[str] = []
    last = 0
    for item in found:
        parts.append(text[last:item.start])
        parts.append(mask_of(text[item.start:item.end]))
        last = item.end
    parts.append(text[last:])
    return "".join(parts)
