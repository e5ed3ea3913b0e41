"""Checks on what surrounds the answer: usage, the model that answered, the URL."""

from __future__ import annotations

import re
from functools import lru_cache

from llmtrace.anomalies import check, finding
from llmtrace.anomalies.evidence import brief
from llmtrace.model import Anomaly, Exchange
from llmtrace.urls import url_path


def _asked_for_usage(exchange: Exchange) -> bool:
    body = exchange.request.body
    options = body.get("stream_options") if isinstance(body, dict) else None
    return isinstance(options, dict) and options.get("include_usage") is True


@check("usage-missing", "info")
def usage_missing(exchange: Exchange) -> list[Anomaly]:
    """No token usage reported; a warning when the request asked for it (include_usage)."""
    usage = exchange.result.usage
    if usage.input_tokens is not None or usage.output_tokens is not None or usage.total_tokens is not None:
        return []
    asked = _asked_for_usage(exchange)
    return [finding(exchange, "usage-missing", "no token usage reported" + (
        " although the request asked for it (stream_options.include_usage)" if asked else ""),
        severity="warning" if asked else None)]


@check("usage-inconsistent", "warning")
def usage_inconsistent(exchange: Exchange) -> list[Anomaly]:
    """Reported total tokens differ from input + output (reasoning counted apart is allowed, and
    tokens the provider counts in no field of ours: Gemini's built-in tools' prompts)."""
    usage = exchange.result.usage
    total, given, taken = usage.total_tokens, usage.input_tokens, usage.output_tokens
    if total is None or given is None or taken is None:
        return []
    extra = exchange.result.observations.uncounted_tokens
    if total - extra in (given + taken, given + taken + (usage.reasoning_tokens or 0)):
        return []
    return [finding(exchange, "usage-inconsistent", f"total_tokens {total} is not input {given} + output {taken} "
                    f"= {given + taken}", details={"input_tokens": given, "output_tokens": taken,
                                                   "total_tokens": total})]


# A pinned version after an alias: -2024-11-20, -20241022, -0613, -001, @20240620.
_SNAPSHOT = re.compile(r"[-@](?:\d{4}-\d{2}-\d{2}|\d{8}|\d{4}|\d{3})$")
# Amazon Bedrock's model ids: an optional cross-region inference profile prefix (``us.``, ``eu.``,
# ``apac.``, ``global.``, …), the model provider (``anthropic.``), and the model version
# (``-v1:0``; ``-1:0`` for gpt-oss) — ``us.anthropic.claude-haiku-4-5-20251001-v1:0`` is the model
# Anthropic calls ``claude-haiku-4-5-20251001``. Only a provider prefix makes an id Bedrock's, and
# only a version with its ``:N`` is taken off — but not Claude 2's, where ``v2`` is the model
# (``anthropic.claude-v2``, ``anthropic.claude-v2:1``, ``anthropic.claude-instant-v1``).
_BEDROCK_ID = re.compile(r"^(?:(?:us|eu|apac|global|us-gov|ca|jp|au)\.)?"
                         r"(?:anthropic|amazon|meta|mistral|cohere|ai21|deepseek|openai|qwen|writer|twelvelabs)\."
                         r"(.+?)(?:(?<!claude)(?<!claude-instant)-v?\d+:\d+)?$")
# Google Vertex AI pins a partner model's version with ``@``: ``claude-haiku-4-5@20251001`` is
# ``claude-haiku-4-5-20251001`` (an eight-digit date; ``@latest``, ``@001`` stay as they are).
_VERTEX_DATE = re.compile(r"@(\d{8})$")
# Anthropic's legacy aliases ``claude-2`` and ``claude-instant-1`` named the latest minor version
# (``claude-2.1``, ``claude-instant-1.2``), as the dated aliases of later models do.
_CLAUDE_MAJOR = re.compile(r"claude-(?:1|2|instant-1)")


# A folder's recordings name a few models again and again: what a model id (of at most this
# many characters) comes to is remembered, for at most 4,096 ids.
_REMEMBERED_MODEL = 256


def model_name(model: str) -> str:
    """A model id without what only addresses it: provider or path prefixes (``watsonx/``,
    ``publishers/google/models/``, ``models/``), Ollama's ``:latest`` tag, Bedrock's region,
    provider and version (``us.anthropic.…-v1:0``), Vertex's ``@`` before a date, case."""
    return _model_name(model) if len(model) <= _REMEMBERED_MODEL else _name_of(model)


@lru_cache(maxsize=4096)
def _model_name(model: str) -> str:
    return _name_of(model)


def _name_of(model: str) -> str:
    name = model.strip().lower().rsplit("/", 1)[-1]
    if name.endswith(":latest"):
        return name[:-len(":latest")]
    bedrock = _BEDROCK_ID.match(name)
    if bedrock:
        name = bedrock.group(1)
    return _VERTEX_DATE.sub(r"-\1", name)


def is_snapshot(served: str, requested: str) -> bool:
    """Whether ``served`` is a pinned version of the alias ``requested`` (both as ``model_name``)."""
    base = requested[:-len("-latest")] if requested.endswith("-latest") else requested
    if base.endswith("-0") and _SNAPSHOT.search(served):
        base = base[:-2]  # Anthropic's "claude-sonnet-4-0" names the latest 4.0 snapshot
    return served.startswith(base) and _SNAPSHOT.fullmatch(served[len(base):]) is not None


def is_minor_version(served: str, requested: str) -> bool:
    """Whether ``served`` is a minor version the legacy alias ``requested`` named (``claude-2`` →
    ``claude-2.1``)."""
    return _CLAUDE_MAJOR.fullmatch(requested) is not None and served.startswith(requested) \
        and re.fullmatch(r"\.\d+", served[len(requested):]) is not None


# Documented aliases whose target is not the alias with a date after it (OpenAI's models page, the
# "gpt-4-turbo-preview" and "gpt-4-vision-preview" rows: https://platform.openai.com/docs/models).
_ALIASES = {
    "gpt-4-turbo-preview": ("gpt-4-0125-preview", "gpt-4-1106-preview"),
    "gpt-4-vision-preview": ("gpt-4-1106-vision-preview",),
}
# Bedrock's Claude 2 and Instant ids: ``anthropic.claude-v2`` is Claude 2 (served as ``claude-2.0``),
# ``…-v2:1`` Claude 2.1, ``claude-instant-v1`` Claude Instant 1 (``claude-instant-1.2``).
_BEDROCK_LEGACY = re.compile(r"(claude-(?:instant-)?)v(\d+)(?::(\d+))?")
# What a deployment or served name may add: a version of 3, 4, 6 or 8 digits once separators are gone
# (Azure's ``gpt-35-turbo`` is ``gpt-3.5-turbo``; ``gpt-5.2_2025-12-11`` a deployment of ``gpt-5.2-2025-12-11``).
_SEPARATORS = re.compile(r"[-_.@\s]")
_VERSION_DIGITS = re.compile(r"\d{3,4}|\d{6}|\d{8}")


def documented_alias(served: str, requested: str) -> str | None:
    """Why ``served`` is the model ``requested`` names (both as ``model_name``), when it is one: a
    dated snapshot of the alias, the version a legacy or Bedrock id named, a documented alias's
    target, a ``-latest`` alias (it moves by design), or the same name spelled with other separators
    or a date suffix (Azure deployment names). None for another model."""
    if is_snapshot(served, requested):
        return "a dated snapshot of the alias"
    legacy = _BEDROCK_LEGACY.fullmatch(requested)
    if legacy:
        requested = f"{legacy.group(1)}{legacy.group(2)}" + (f".{legacy.group(3)}" if legacy.group(3) else "")
        if served == requested:
            return "the version the Bedrock id named"
    if is_minor_version(served, requested):
        return "the version the alias named"
    if served in _ALIASES.get(requested, ()):
        return "the model the alias points to"
    if requested.endswith("-latest"):
        return "a -latest alias, which moves to newer versions"
    asked, got = _SEPARATORS.sub("", requested), _SEPARATORS.sub("", served)
    if got == asked or (got.startswith(asked) and _VERSION_DIGITS.fullmatch(got[len(asked):])):
        return "the same name with other separators or a date suffix"
    return None


@check("model-mismatch", "warning")
def model_mismatch(exchange: Exchange) -> list[Anomaly]:
    """The response names another model than the request (info when it is a documented alias of it:
    ``documented_alias``); ids that only address the model differently (Bedrock's, Vertex's) are
    the same model."""
    requested = exchange.normalized_request.model or exchange.request.model
    served = exchange.result.model
    if not requested or not served:
        return []
    asked, got = model_name(requested), model_name(served)
    if asked == got:
        return []
    alias = documented_alias(got, asked)
    why = f" ({alias})" if alias else ""
    return [finding(exchange, "model-mismatch", f"requested {brief(requested)}, served {brief(served)}{why}",
                    severity="info" if alias else None, details={"requested": requested, "served": served})]


@check("malformed-url", "info", needs_result=False)
def malformed_url(exchange: Exchange) -> list[Anomaly]:
    """A path segment repeated back to back, such as /v1/v1/ (often a recorder artefact)."""
    url = exchange.request.url
    if not url:
        return []
    segment = _repeated_segment(url) if len(url) <= _REMEMBERED_URL else _first_repeat(url)
    if segment is None:
        return []
    return [finding(exchange, "malformed-url", f"the URL repeats the path segment /{brief(segment)}/{brief(segment)}/",
                    details={"url": url, "segment": segment})]


# A folder's recordings share their URLs: the repeated segment of a URL of at most this many
# characters is remembered, for at most 4,096 URLs.
_REMEMBERED_URL = 512


@lru_cache(maxsize=4096)
def _repeated_segment(url: str) -> str | None:
    return _first_repeat(url)


def _first_repeat(url: str) -> str | None:
    """The first path segment of ``url`` that comes twice in a row, if any."""
    segments = url_path(url).split("/")
    for a, b in zip(segments, segments[1:]):
        if a and a == b:
            return a
    return None
