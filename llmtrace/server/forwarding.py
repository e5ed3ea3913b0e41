"""How a request crosses a proxy: which headers go on (hop-by-hop ones do not), the upstream URL,
and a failure in one line. Shared by ``proxy`` (HTTP) and ``ws_record`` (websockets)."""

from __future__ import annotations

# Headers that belong to one connection, not to the message (RFC 9110 7.6.1), and those the
# proxy sets itself.
HOP_BY_HOP = frozenset(("connection", "keep-alive", "proxy-authenticate", "proxy-authorization", "proxy-connection",
                        "te", "trailer", "trailers", "transfer-encoding", "upgrade"))
NOT_FORWARDED = HOP_BY_HOP | {"host", "content-length"}


def forwarded(raw_headers) -> list[tuple[str, str]]:
    """The client's headers as sent (names in their case), less the connection's own."""
    drop = set(NOT_FORWARDED)
    for name, value in raw_headers:
        if name.lower() == b"connection":  # headers the Connection header names are hop-by-hop too
            drop.update(token.strip().lower() for token in value.decode("latin-1").split(","))
    out = []
    for name, value in raw_headers:
        text = name.decode("latin-1")
        if text.lower() not in drop:
            out.append((text, value.decode("latin-1")))
    return out


def upstream_url(upstream: str, path_qs: str) -> str:
    """The client's path and query appended to the upstream URL as given."""
    return upstream.rstrip("/") + (path_qs if path_qs.startswith("/") else "/" + path_qs)


def reason(exc: BaseException) -> str:
    text = str(exc) or type(exc).__name__
    return text.splitlines()[0] if text else type(exc).__name__
