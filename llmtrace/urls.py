"""Taking a recorded URL apart without ever failing on it.

A URL in a recording is data, and data may be malformed: ``urllib.parse.urlsplit`` raises
``ValueError`` on some of them (``http://[::1/v1``: "Invalid IPv6 URL"; a port that is not a
number when asked for). ``split_url`` keeps urlsplit's answer when it has one and otherwise
splits with the generic regular expression of RFC 3986 (appendix B), which matches any string.
"""

from __future__ import annotations

import re
from urllib.parse import SplitResult, urlparse, urlsplit

# RFC 3986, appendix B: scheme, authority, path, query, fragment; every string matches.
_RFC3986 = re.compile(r"(?:([^:/?#]+):)?(?://([^/?#]*))?([^?#]*)(?:\?([^#]*))?(?:#(.*))?", re.DOTALL)


def split_url(url: str) -> SplitResult:
    """``url``'s parts, as ``urlsplit`` gives them when it can."""
    try:
        return urlsplit(url)
    except ValueError:
        scheme, netloc, path, query, fragment = _RFC3986.match(url).groups()
        return SplitResult(scheme or "", netloc or "", path, query or "", fragment or "")


def url_path(url: str | None) -> str:
    """The path of ``url`` as ``urlparse`` gives it (``;params`` of the last segment cut off),
    "" when there is none."""
    if not url:
        return ""
    try:
        return urlparse(url).path
    except ValueError:
        return split_url(url).path
