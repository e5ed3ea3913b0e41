"""Credentials in recordings: finding them, and masking them in everything llmtrace prints.

Two ways a credential shows up:

- by *name*: a header or URL parameter whose name says it holds one (``Authorization``,
  ``api-key``, ``x-goog-api-key``, ``Cookie``, ``key=``, ``accessToken=``, ``X-Amz-Signature=``,
  ``code=`` ...) and the password of a URL's user info (``user:pass@host``). A name is secret
  when one of its words (split on ``-``, ``_``, ``.`` and camelCase) is a credential word or
  ends with one (``x-authkey``): ``x-ratelimit-remaining-tokens`` is not (``tokens``),
  ``x-amz-security-token`` is. A JSON field (``"api_key": "…"``, escaped inside a JSON string
  too) whose last word is a credential word holds one when its value looks generated
  (``is_secret_field``, ``high_entropy``): Mistral, Cohere and Azure keys have no prefix.
- by *shape*, in any text (bodies, error messages): provider keys with their own prefix
  (``KINDS`` lists them with the source of each shape: OpenAI, Anthropic, DeepSeek,
  OpenRouter, Groq, Hugging Face, xAI, Perplexity, Replicate, Fireworks, Google API keys and
  OAuth tokens, AWS, GitHub, Slack), bare JWTs, an AWS secret access key beside an access key
  id, ``Bearer <token>``, URL parameters of secret names and ``user:pass@host``
  (``find_secrets``).

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
from functools import lru_cache
from typing import Any, NamedTuple

MASK = "***"


class _lazy:
    """A regular expression compiled on first use: the big patterns here cost milliseconds to
    compile, and most runs (text without a candidate) never need them. A method used once is
    kept on the instance: later uses are a plain attribute lookup."""

    __slots__ = ("_args", "_compiled", "__dict__")

    def __init__(self, *args):
        self._args = args
        self._compiled = None

    def __getattr__(self, name):
        if self._compiled is None:
            self._compiled = re.compile(*self._args)
        value = getattr(self._compiled, name)
        setattr(self, name, value)  # the method itself from now on, without this call
        return value

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

class Kind(NamedTuple):
    """A kind of credential: what ``unmasked-secret`` calls it, the placeholder ``llmtrace
    redact`` writes in its place, and where its shape is documented."""

    kind: str
    title: str
    placeholder: str
    source: str


# Every kind this module reports, with the public source of its shape. Provider keys are found
# anywhere by their prefix (``_KEYS``); the last four by where they stand (a header, a URL
# parameter, a JSON field of a secret name, ``Bearer``, ``user:pass@``) or, for the AWS secret
# key, beside an access key id.
KINDS: tuple[Kind, ...] = (
    Kind("openai-api-key", "OpenAI API key", "<OPENAI_API_KEY>",
         "platform.openai.com/api-keys: sk-, sk-proj-, sk-svcacct-, sk-admin- + generated characters"),
    Kind("anthropic-api-key", "Anthropic API key", "<ANTHROPIC_API_KEY>", "console.anthropic.com: sk-ant-api03-…"),
    Kind("deepseek-api-key", "DeepSeek API key", "<DEEPSEEK_API_KEY>",
         "platform.deepseek.com: sk- + 32 lower-case hex (betterleaks rule deepseek-api-key)"),
    Kind("openrouter-api-key", "OpenRouter API key", "<OPENROUTER_API_KEY>",
         "openrouter.ai/keys: sk-or-v1- + 64 hex (betterleaks rule openrouter-api-key)"),
    Kind("groq-api-key", "Groq API key", "<GROQ_API_KEY>",
         "console.groq.com/keys: gsk_ + 52 letters and digits (betterleaks rule groq-api-key)"),
    Kind("huggingface-token", "Hugging Face token", "<HF_TOKEN>",
         "huggingface.co/settings/tokens: hf_ + 34 letters (detect-secrets HuggingFaceDetector)"),
    Kind("xai-api-key", "xAI API key", "<XAI_API_KEY>",
         "console.x.ai: xai- + 70 to 120 letters, digits, _ and - (betterleaks rule xai-api-key)"),
    Kind("perplexity-api-key", "Perplexity API key", "<PERPLEXITY_API_KEY>",
         "perplexity.ai/settings/api: pplx- + 48 letters and digits (betterleaks rule perplexity-api-key)"),
    Kind("replicate-api-token", "Replicate API token", "<REPLICATE_API_TOKEN>",
         "replicate.com/account/api-tokens: r8_ + 37 letters and digits (betterleaks rule replicate-api-token)"),
    Kind("fireworks-api-key", "Fireworks API key", "<FIREWORKS_API_KEY>",
         "fireworks.ai/account/api-keys: fw_ + 20 or more letters and digits"),
    Kind("google-api-key", "Google API key", "<GOOGLE_API_KEY>", "cloud.google.com/docs/authentication/api-keys: AIza + 35"),
    Kind("google-oauth-token", "Google OAuth access token", "<GOOGLE_OAUTH_TOKEN>",
         "developers.google.com/identity/protocols/oauth2: access tokens start ya29."),
    Kind("jwt", "JSON Web Token", "<JWT>", "RFC 7519: base64url header.payload.signature, the JSON header starts eyJ"),
    Kind("aws-access-key-id", "AWS access key id", "<AWS_ACCESS_KEY_ID>",
         "docs.aws.amazon.com IAM: AKIA (long-term) or ASIA (temporary) + 16 upper-case letters and digits"),
    Kind("aws-secret-access-key", "AWS secret access key", "<AWS_SECRET_ACCESS_KEY>",
         "docs.aws.amazon.com IAM: 40 base64 characters, found beside an access key id"),
    Kind("github-token", "GitHub token", "<GITHUB_TOKEN>", "github.blog 2021-04-05: ghp_, gho_, ghu_, ghs_, ghr_, github_pat_"),
    Kind("slack-token", "Slack token", "<SLACK_TOKEN>", "api.slack.com/authentication/token-types: xoxb-, xoxp-, …"),
    Kind("bearer-token", "bearer token", "<REDACTED>", "RFC 6750: Authorization: Bearer <token>"),
    Kind("password", "password", "<REDACTED>", "RFC 3986 user:password@host; a password= parameter"),
    Kind("credential", "credential", "<REDACTED>",
         "a header, URL parameter or JSON field of a secret name (api-key, x-api-key, Mistral and Cohere keys, "
         "Azure's 32-hex api-key) holding a live-looking value"),
)
# kind → the placeholder ``llmtrace redact`` writes in its place.
PLACEHOLDERS = {k.kind: k.placeholder for k in KINDS}
# kind → how ``unmasked-secret`` names it.
TITLES = {k.kind: k.title for k in KINDS}


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


# Words that end a run-together secret name (``x-authkey``, ``accesskey``, ``apitoken``); a
# plural (``tokens``) counts things instead.
_SECRET_ENDINGS = ("key", "token", "secret", "password", "passwd")


def _name_words(name: str) -> list[str]:
    return _WORDS.split(_CAMEL.sub("-", name).lower())


def is_secret_name(name: str) -> bool:
    """Whether a header or query parameter of this name carries a credential: one of its words
    is a credential word, or ends with one (``x-authkey``, ``secretkey``)."""
    return any(word in SECRET_WORDS or (len(word) > 5 and word.endswith(_SECRET_ENDINGS)) for word in _name_words(name))


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
                found = header_secrets(str(name), item)
                leaks.extend(Leak(f"{where} header {name}", f.kind, _shown(item, f, found)) for f in found)
    return leaks


def leaks_in_text(text: str, place: str) -> list[Leak]:
    """What ``find_secrets`` finds in ``text``, as leaks at ``place``."""
    return [Leak(place, f.kind, mask_of(text[f.start:f.end])) for f in find_secrets(text)]


# A folder's recordings share their URLs (one provider's base URL and endpoints in every file):
# what a short URL holds, and its masked form, are remembered (at most 4,096 URLs of 512
# characters each). Half of the instructions ``serve`` spends indexing a Llama Stack file went to
# searching its URL and endpoint for credentials, again and again.
_REMEMBERED_URL = 512


def leaks_in_url(url: str, place: str) -> list[Leak]:
    """``leaks_in_text`` of a URL or an endpoint."""
    return list(_url_leaks(url, place)) if len(url) <= _REMEMBERED_URL else leaks_in_text(url, place)


@lru_cache(maxsize=4096)
def _url_leaks(url: str, place: str) -> tuple[Leak, ...]:
    return tuple(leaks_in_text(url, place))


def _shown(value: str, found: Found, every: list[Found]) -> str:
    """How a leak is shown: the header value with every secret in it masked, at most 80
    characters; else the mask of this one."""
    parts, last = [], 0
    for item in every:
        parts += [value[last:item.start], mask_of(value[item.start:item.end])]
        last = item.end
    shown = "".join(parts) + value[last:]
    return shown if len(shown) <= 80 else mask_of(value[found.start:found.end])


# --- URLs --------------------------------------------------------------------------------------

_MATRIX_PARAM = re.compile(r";([^;/?#=]+)=([^;/?#]*)")
_NOT_USER_SCHEMES = frozenset(("mailto", "tel", "sip", "sips", "xmpp", "urn", "data", "news", "javascript"))


def mask_url(url: str) -> str:
    """``url`` with the password of its user info (with or without a scheme), the values of
    secret query, fragment and ``;name=`` parameters masked, and any other credential in it
    masked by shape; everything else is kept byte for byte (nothing is re-encoded)."""
    return _masked_url(url) if len(url) <= _REMEMBERED_URL else _mask_url(url)


@lru_cache(maxsize=4096)
def _masked_url(url: str) -> str:  # remembered: see leaks_in_url
    return _mask_url(url)


def _mask_url(url: str) -> str:
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

# What could start a credential. Text without any of these is returned as it is. Each is a
# plain substring (``find_secrets`` looks for them all in a few passes: ``_may_hold_keys``).
_KEY_HINTS = ("sk-", "AIza", "AKIA", "ASIA", "ghp_", "gho_", "ghu_", "ghs_", "ghr_", "github_pat_", "xoxa-", "xoxb-",
              "xoxp-", "xoxr-", "xoxs-", "gsk_", "hf_", "xai-", "pplx-", "r8_", "fw_",
              "ya29.", "eyJ")
_NAME_HINTS = ("=", "@", "earer", "EARER")
# A JSON field (``"api_key": "…"``, escaped or not) is looked at when the text has this.
_FIELD_HINT = '":'
# Every text that may hold a credential holds one of these substrings: a writer may look for
# them itself to skip ``mask_text`` on a JSON string that has none (``output.dumps`` does; a
# JSON field's name is outside its value, so ``_FIELD_HINT`` is not among them).
HINTS = _KEY_HINTS + _NAME_HINTS
# Most texts worth searching hold a JSON field or a ``=`` near their start: those hints are
# tried first, so that saying yes costs one short search rather than a scan per key prefix.
_ALL_HINTS = (_FIELD_HINT,) + _NAME_HINTS + _KEY_HINTS
_ALL_HINT_BYTES = tuple(h.encode() for h in _ALL_HINTS)


def might_hold_secrets(text: str | bytes) -> bool:
    """Whether ``text`` holds anything a credential could start with (cheap: a few searches
    at memory speed); False means ``find_secrets`` finds nothing in it."""
    if isinstance(text, str):
        return _FIELD_HINT in text or holds_hint(text)
    return any(h in text for h in _ALL_HINT_BYTES)


def holds_hint(text: str) -> bool:
    """Whether ``text`` holds one of ``HINTS`` (what every credential ``mask_text`` masks holds):
    a test per name hint and the key prefixes' anchored searches, not a test per hint."""
    return any(h in text for h in _NAME_HINTS) or _may_hold_keys(text)


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
    r"[-A_.J](?:" + _edge("sk-") + r"(?:(?P<anthropic>ant-[A-Za-z0-9_-]{20,300})" + _END
    + r"|(?P<openrouter>or-v1-[0-9a-f]{64})" + _END + r"|(?P<deepseek>[0-9a-f]{32})" + _END
    + r"|(?P<openai>(?:proj-|svcacct-|admin-)?[A-Za-z0-9_-]{20,300})" + _END + ")"
    + "|" + _edge("xox[abprs]-") + r"(?P<slack>[A-Za-z0-9-]{10,300})" + _END
    + "|" + _edge("A") + r"(?:Iza(?P<google>[0-9A-Za-z_-]{35})" + _END + r"|(?P<aws>[KS]IA[0-9A-Z]{16})(?![0-9A-Za-z]))"
    + "|" + _edge("gh[pousr]_") + r"(?P<github>[A-Za-z0-9]{30,300})" + _END
    + "|" + _edge("github_") + r"(?P<github_pat>pat_[A-Za-z0-9_]{30,300})" + _END
    + "|" + _edge("gsk_") + r"(?P<groq>[A-Za-z0-9]{48,56})" + _END
    + "|" + _edge("hf_") + r"(?P<huggingface>[A-Za-z0-9]{30,40})" + _END
    + "|" + _edge("xai-") + r"(?P<xai>[A-Za-z0-9_-]{70,120})" + _END
    + "|" + _edge("pplx-") + r"(?P<perplexity>[A-Za-z0-9]{40,64})" + _END
    + "|" + _edge("r8_") + r"(?P<replicate>[A-Za-z0-9]{37})" + _END
    + "|" + _edge("fw_") + r"(?P<fireworks>[A-Za-z0-9]{20,64})" + _END
    + "|" + _edge(r"ya29\.") + r"(?P<google_oauth>[A-Za-z0-9_-]{20,2048})" + _END
    + "|" + _edge("eyJ") + r"(?P<jwt>[A-Za-z0-9_-]{8,4096}\.eyJ[A-Za-z0-9_-]{8,8192}\.[A-Za-z0-9_-]{8,4096})" + _END
    + r")"
)
# How far before the match a key of each kind starts (the match starts at the last character
# of its prefix).
_BACK = {"anthropic": 2, "openai": 2, "deepseek": 2, "openrouter": 2, "slack": 4, "google": 0, "aws": 0, "github": 3,
         "github_pat": 6, "groq": 3, "huggingface": 2, "xai": 3, "perplexity": 4, "replicate": 2, "fireworks": 2,
         "google_oauth": 4, "jwt": 2}
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

_KINDS = {"anthropic": "anthropic-api-key", "openai": "openai-api-key", "deepseek": "deepseek-api-key",
          "openrouter": "openrouter-api-key", "google": "google-api-key", "aws": "aws-access-key-id",
          "github": "github-token", "github_pat": "github-token", "slack": "slack-token", "groq": "groq-api-key",
          "huggingface": "huggingface-token", "xai": "xai-api-key", "perplexity": "perplexity-api-key",
          "replicate": "replicate-api-token", "fireworks": "fireworks-api-key", "google_oauth": "google-oauth-token",
          "jwt": "jwt"}
_PREFIXED = _lazy(
    r"(?P<anthropic>sk-ant-[A-Za-z0-9_-]{20,})|(?P<openrouter>sk-or-v1-[0-9a-f]{64})|(?P<deepseek>sk-[0-9a-f]{32})"
    r"|(?P<openai>sk-(?:proj-|svcacct-|admin-)?[A-Za-z0-9_-]{20,})"
    r"|(?P<google>AIza[0-9A-Za-z_-]{35})|(?P<aws>A[KS]IA[0-9A-Z]{16})"
    r"|(?P<github>gh[pousr]_[A-Za-z0-9]{30,})|(?P<github_pat>github_pat_[A-Za-z0-9_]{30,})"
    r"|(?P<slack>xox[abprs]-[A-Za-z0-9-]{10,})|(?P<groq>gsk_[A-Za-z0-9]{48,56})|(?P<huggingface>hf_[A-Za-z0-9]{30,40})"
    r"|(?P<xai>xai-[A-Za-z0-9_-]{70,120})|(?P<perplexity>pplx-[A-Za-z0-9]{40,64})|(?P<replicate>r8_[A-Za-z0-9]{37})"
    r"|(?P<fireworks>fw_[A-Za-z0-9]{20,64})|(?P<google_oauth>ya29\.[A-Za-z0-9_-]{20,})")
# The prefix a mask keeps: the provider's, never a character of the secret.
_MASK_PREFIX = _lazy(r"sk-ant-|sk-or-v1-|sk-(?:proj-|svcacct-|admin-)?|AIza|A[KS]IA|gh[pousr]_|github_pat_|xox[abprs]-"
                     r"|gsk_|hf_|xai-|pplx-|r8_|fw_")
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
    if kind in ("deepseek-api-key", "openrouter-api-key"):  # hex: enough different digits
        return len(set(value[value.rindex("-") + 1:])) >= 8
    prefix = _MASK_PREFIX.match(value)
    return _classes(value[prefix.end():] if prefix else value) >= 2


def find_secrets(text: str) -> list[Found]:
    """Every live-looking credential in ``text``, in order, without overlaps (see the module
    docstring for the shapes and what counts as a placeholder). Where two finds cover the same
    span, the one found by its name wins (``Bearer <JWT>`` is a bearer token).

    Each finder runs only where the text holds what every credential it could report needs (a
    key's prefix, a secret name before a ``=``, a JSON field named like one): most texts, JSON
    bodies among them, hold none of these, and finding that out costs a few scans at C speed."""
    found: list[Found] = []
    marks = [mark for mark in _NAME_HINTS if mark in text]
    if marks and _may_name_secrets(text, marks):
        named = [_judge(m, text) for start, end in _windows(text, marks) for m in _NAMED.finditer(text, start, end)]
        first = _START.match(text)
        if first is not None:
            named.append(_judge(first, text))
        found.extend(filter(None, named))
    if _FIELD_HINT in text and _SECRET_FIELD_END.search(text[::-1]):
        found.extend(filter(None, map(_field, _FIELD.finditer(text))))
    if _may_hold_keys(text):
        keys = [item for item in (_judge(m, text) for m in _KEYS.finditer(text)) if item is not None]
        found.extend(keys)
        if any(item.kind == "aws-access-key-id" for item in keys):
            found.extend(_aws_secrets(text, keys))
    return _without_overlaps(found) if len(found) > 1 else found


# ``"name": "value"`` (in JSON, or in JSON inside a JSON string: ``\"name\": \"value\"``).
_FIELD = _lazy(r'"(?P<fname>[A-Za-z_][A-Za-z0-9_.-]{0,40})\\?"[ \t]*:[ \t]*\\?"(?P<fvalue>[A-Za-z0-9_+/=.-]{16,1024})(?=\\?")')
# The last word of a JSON field that holds a credential (``api_key``, ``accessToken``,
# ``client_secret``, ``x-authkey``) ...
_FIELD_WORDS = frozenset(("key", "apikey", "token", "accesstoken", "secret", "password", "passwd", "pwd", "credential",
                          "credentials", "authorization", "auth", "bearer", "jwt"))
# ... unless a word before it says it is something else: a page or cache key, an
# idempotency key, a public key. (Thinking ``signature`` fields are no credentials either:
# ``signature`` is not a field word.)
_NOT_SECRET_FIELD = frozenset(("page", "next", "cursor", "continuation", "cache", "idempotency", "public", "max", "min",
                               "count", "usage", "sort", "partition", "dedup", "dedupe", "hash", "sync", "pagination",
                               "prompt", "input", "output", "completion", "reasoning", "total", "remaining", "limit"))
# A field ``is_secret_field`` can say yes to: its name ends (in any case) with a field word or
# a secret ending, right before ``"`` or ``\"``, blanks and ``:``. Searched in the reversed
# text, where such an end follows a ``:`` (in JSON about half as common as ``"``): the search
# skips from one ``:`` to the next at C speed instead of trying ``_FIELD`` at every ``"``.
_FIELD_ENDS = sorted(word[::-1] for word in _FIELD_WORDS | set(_SECRET_ENDINGS))


def _case_trie(words: list[str]) -> str:
    """A regex that matches where one of ``words`` (ASCII letters) starts, in any ASCII case:
    a word that another one starts with stands for both (only whether a match exists counts),
    and the others are grouped by their first letter, each written ``[yY]``. After a ``:`` that
    is no field's end the search then costs one test per letter rather than one attempt per
    word (under ``re.IGNORECASE`` the engine cannot reject an alternative by its first letter)."""
    words = [w for w in words if not any(o != w and w.startswith(o) for o in words)]
    groups: dict[str, list[str]] = {}
    for word in sorted(set(words)):
        groups.setdefault(word[0].lower(), []).append(word[1:])
    alternatives = [f"[{first}{first.upper()}]" + (_case_trie(rest) if rest != [""] else "")
                    for first, rest in groups.items()]
    return alternatives[0] if len(alternatives) == 1 else "(?:" + "|".join(alternatives) + ")"


_SECRET_FIELD_END = _lazy(r':[ \t]*"\\?' + _case_trie(_FIELD_ENDS))


def is_secret_field(name: str) -> bool:
    """Whether a JSON field of this name holds a credential when its value looks generated."""
    words = _name_words(name)
    last = words[-1]
    if not (last in _FIELD_WORDS or (len(last) > 5 and last.endswith(_SECRET_ENDINGS))):
        return False
    return not any(word in _NOT_SECRET_FIELD for word in words[:-1])


def high_entropy(value: str) -> bool:
    """A value that looks generated rather than written: 16 characters or more, letters mixed
    with digits, not a placeholder, and at least 3 bits of Shannon entropy per character (hex
    reaches about 3.7, a generated key 4.5 and more; ``user_id_000000000001`` stays below)."""
    if len(value) < 16 or not any(c.isdigit() for c in value) or _classes(value) < 2 or is_placeholder(value):
        return False
    import math
    from collections import Counter

    size = len(value)
    entropy = -sum(n / size * math.log2(n / size) for n in Counter(value).values())
    return entropy >= 3.0


def _field(match: re.Match) -> Found | None:
    name, value = match.group("fname"), match.group("fvalue")
    if not is_secret_field(name):
        return None
    kind = kind_of(value)
    if kind is None:
        if "." in value or not high_entropy(value):
            return None
        kind = "credential"
    return Found(match.start("fvalue"), match.end("fvalue"), kind, PLACEHOLDERS[kind])


# An AWS secret access key: 40 base64 characters standing alone, within this many characters
# of an access key id (the two are written together: a credentials file, an environment).
_AWS_SECRET = _lazy(r"(?<![A-Za-z0-9/+])[A-Za-z0-9/+]{40}(?![A-Za-z0-9/+=])")
_AWS_REACH = 256


def _aws_secrets(text: str, keys: list[Found]) -> list[Found]:
    out = []
    for key in keys:
        if key.kind != "aws-access-key-id":
            continue
        for match in _AWS_SECRET.finditer(text, max(0, key.start - _AWS_REACH), min(len(text), key.end + _AWS_REACH)):
            value = match.group()
            if _classes(value) == 3 and not is_placeholder(value):
                out.append(Found(match.start(), match.end(), "aws-secret-access-key",
                                 PLACEHOLDERS["aws-secret-access-key"]))
    return out


def _hint_search(hints: list[str], anchor: str) -> Any:
    """``any(hint in text for hint in hints)`` as one search, for hints that all hold the
    character ``anchor``: the search skips from one ``anchor`` to the next at C speed and looks
    around it, first at the character before it (or after it) that every hint has there, then
    for each hint (``-(?<=[kx…]-)(?:(?<=sk-)|(?<=xai-)|…)``)."""
    places = [(hint, hint.index(anchor)) for hint in hints]
    alternatives = []
    for hint, at in places:
        around = f"(?<={re.escape(hint[:at + 1])})" if at else ""
        if at + 1 < len(hint):
            around += f"(?={re.escape(hint[at + 1:])})"
        alternatives.append(around)
    if all(at for _, at in places):
        before = "".join(sorted({re.escape(hint[at - 1]) for hint, at in places}))
        guard = f"(?<=[{before}]{re.escape(anchor)})"
    elif all(at + 1 < len(hint) for hint, at in places):
        after = "".join(sorted({re.escape(hint[at + 1]) for hint, at in places}))
        guard = f"(?=[{after}])"
    else:
        guard = ""
    return _lazy(re.escape(anchor) + guard + "(?:" + "|".join(alternatives) + ")")


# The characters key hints are looked for by: rare in LLM traffic (in the corpus' bodies ``x``
# and ``A`` are under 0.3 % of the characters, ``_`` under 1 %) and absent from numbers (an
# embedding's text is a tenth ``-``).
_KEY_ANCHORS = "x_A"


# Letters a key hint without an anchor is first looked for by (after an upper-case one): rare
# in LLM traffic (of the corpus' texts, about half hold no ``k``, two thirds no ``9``).
_RARE_LETTERS = "k9"


def _key_hint_searches() -> tuple[tuple[tuple[str, str], ...], tuple[tuple[str, Any], ...]]:
    """The key hints by a character each holds (the first of ``_KEY_ANCHORS`` it holds): one
    search per character rather than one per hint, each after a test for that character (at
    memory speed: many texts hold no ``x`` or ``A``). The others stay substring tests, each
    after a test for its upper-case letter if it has one, else for its rare letter (``J`` of
    ``eyJ``, ``k`` of ``sk-``: a one-character test runs at memory speed, a longer one looks at
    every few characters)."""
    searches = []
    for anchor in _KEY_ANCHORS:
        hints = [h for h in _KEY_HINTS if next((c for c in h if c in _KEY_ANCHORS), None) == anchor]
        searches.append((anchor, _hint_search(hints, anchor)))
    alone = tuple((next((c for c in h if c.isupper() or c in _RARE_LETTERS), h), h) for h in _KEY_HINTS
                  if not any(c in h for c in _KEY_ANCHORS))
    return alone, tuple(searches)


_LONE_KEY_HINTS, _KEY_HINT_SEARCHES = _key_hint_searches()


def _may_hold_keys(text: str) -> bool:
    """Whether ``text`` holds one of ``_KEY_HINTS`` (every provider key ``_KEYS`` finds holds
    its prefix's)."""
    for gate, hint in _LONE_KEY_HINTS:
        if gate in text and hint in text:
            return True
    for anchor, search in _KEY_HINT_SEARCHES:
        if anchor in text and search.search(text):
            return True
    return False


# Every word ``is_secret_param`` can say yes to holds one of these (lower case): a secret word,
# a word that ends with a secret ending, a secret parameter.
_SECRET_NAME_PARTS = ("auth", "key", "token", "secret", "passw", "pwd", "cookie", "credential", "sig", "session",
                      "jwt", "bearer", "code")
# The longest name ``_NAMED`` takes before a ``=``.
_NAME_REACH = 41


def _may_name_secrets(text: str, marks: list[str]) -> bool:
    """Whether ``_NAMED`` (and ``_START``) could find a credential in ``text``, which holds the
    name hints ``marks``. Only when ``=`` is the one hint, and a few times over (as many as
    ``_windows`` still narrows the search to), is it worth looking closer (the common case in
    JSON bodies: a ``=`` in code, a URL or base64): a named credential then needs a secret name
    right before a ``=``, or a ``bearer`` (written in mixed case, as the hints are not)."""
    if marks != ["="]:
        return True
    count = text.count("=")
    if count > 64:
        return True
    at = -1
    for _ in range(count):
        at = text.find("=", at + 1)
        before = text[max(0, at - _NAME_REACH):at].lower()
        if any(part in before for part in _SECRET_NAME_PARTS):
            return True
    return "bearer" in text.lower()


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
