"""Masking secrets in what a recording sent: header values and URL query parameters whose
names say they hold a credential (``Authorization``, ``api-key``, ``x-api-key``,
``x-goog-api-key``, ``Cookie``, ``key=``, ``X-Amz-Signature=``, ...) and URL passwords.

Containers mask when they build a ``Request``, so nothing llmtrace prints can show a secret.
A name is secret when one of its words (split on ``-``, ``_``, ``.``) is a credential word:
``x-ratelimit-remaining-tokens`` is not (``tokens``), ``x-amz-security-token`` is.
"""

from __future__ import annotations

import re
from typing import Any

MASK = "***"

SECRET_WORDS = frozenset((
    "authorization", "auth", "key", "apikey", "token", "secret", "password", "passwd", "pwd", "cookie",
    "credential", "credentials", "signature", "sig", "session", "jwt", "bearer",
))
_WORDS = re.compile(r"[-_.\s]+")
# "Bearer <token>", "Basic <credentials>", ...: the scheme is kept, the credential masked.
_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9_-]*)\s+\S")


def is_secret_name(name: str) -> bool:
    """Whether a header or query parameter of this name carries a credential."""
    return any(word in SECRET_WORDS for word in _WORDS.split(name.lower()))


def mask_value(value: str) -> str:
    """``Bearer sk-…`` → ``Bearer ***``; anything else → ``***``."""
    match = _SCHEME.match(value)
    return f"{match.group(1)} {MASK}" if match else MASK


def mask_headers(headers: dict[str, Any]) -> dict[str, Any]:
    """A copy of ``headers`` with the values of secret headers masked (a list of values stays
    a list)."""
    out: dict[str, Any] = {}
    for name, value in headers.items():
        if isinstance(name, str) and is_secret_name(name):
            if isinstance(value, list):
                value = [mask_value(v) if isinstance(v, str) else MASK for v in value]
            else:
                value = mask_value(value) if isinstance(value, str) else MASK
        out[name] = value
    return out


def mask_url(url: str) -> str:
    """``url`` with the password of its user info and the values of secret query parameters
    masked; everything else is kept byte for byte (nothing is re-encoded)."""
    head, hash_sep, fragment = url.partition("#")
    base, query_sep, query = head.partition("?")
    scheme_sep = base.find("://")
    if scheme_sep >= 0:
        start = scheme_sep + 3
        end = base.find("/", start)
        if end < 0:
            end = len(base)
        authority = base[start:end]
        user, at, host = authority.rpartition("@")
        if at and ":" in user:
            name = user.split(":", 1)[0]
            base = f"{base[:start]}{name}:{MASK}@{host}{base[end:]}"
    if query_sep:
        query = "&".join(_mask_param(p) for p in query.split("&"))
    return f"{base}{query_sep}{query}{hash_sep}{fragment}"


def _mask_param(param: str) -> str:
    name, eq, value = param.partition("=")
    if eq and value and is_secret_name(_unquote(name)):
        return f"{name}={MASK}"
    return param


def _unquote(text: str) -> str:
    if "%" not in text and "+" not in text:
        return text
    from urllib.parse import unquote_plus

    return unquote_plus(text)
