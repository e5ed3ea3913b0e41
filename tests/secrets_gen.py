"""Key-shaped strings for the secret tests, generated at test time: no key-shaped literal is ever
committed (each prefix is spelt in two parts, the rest is drawn from a seeded generator)."""

from __future__ import annotations

import random
import string

ALNUM = string.ascii_letters + string.digits
UPPER_DIGITS = string.ascii_uppercase + string.digits


def _draw(rnd: random.Random, n: int, alphabet: str = ALNUM) -> str:
    while True:
        text = "".join(rnd.choice(alphabet) for _ in range(n))
        # Like a generated key: mixes classes (a draw that does not is redrawn).
        if alphabet != ALNUM or (any(c.isdigit() for c in text) and any(c.islower() for c in text)
                                 and any(c.isupper() for c in text)):
            return text


def keys(seed: int = 0) -> dict[str, str]:
    """One key of every kind: kind → key."""
    rnd = random.Random(seed)
    return {
        "openai-api-key": "sk-" + "proj-" + _draw(rnd, 48),
        "openai-legacy": "s" + "k-" + _draw(rnd, 48),
        "openai-svcacct": "sk-" + "svcacct-" + _draw(rnd, 60),
        "anthropic-api-key": "sk-" + "ant-api03-" + _draw(rnd, 93) + "-" + _draw(rnd, 6) + "AA",
        "google-api-key": "AI" + "za" + "Sy" + _draw(rnd, 33),
        "aws-access-key-id": "AK" + "IA" + _draw(rnd, 16, UPPER_DIGITS),
        "aws-session-key-id": "AS" + "IA" + _draw(rnd, 16, UPPER_DIGITS),
        "github-token": "gh" + "p_" + _draw(rnd, 36),
        "github-pat": "github" + "_pat_" + _draw(rnd, 22) + "_" + _draw(rnd, 59),
        "slack-token": "xo" + "xb-" + _draw(rnd, 12, string.digits) + "-" + _draw(rnd, 13, string.digits)
                       + "-" + _draw(rnd, 24),
        "jwt": "ey" + "J" + _draw(rnd, 30) + "." + "ey" + "J" + _draw(rnd, 40) + "." + _draw(rnd, 43),
        "password": "pw" + _draw(rnd, 10) + "9",
    }


# kind of a ``keys()`` entry as find_secrets reports it on its own
KIND = {
    "openai-api-key": "openai-api-key", "openai-legacy": "openai-api-key", "openai-svcacct": "openai-api-key",
    "anthropic-api-key": "anthropic-api-key", "google-api-key": "google-api-key",
    "aws-access-key-id": "aws-access-key-id", "aws-session-key-id": "aws-access-key-id",
    "github-token": "github-token", "github-pat": "github-token", "slack-token": "slack-token",
}


def prefixed(seed: int = 0) -> dict[str, str]:
    """The keys that carry a provider prefix (found anywhere in text)."""
    return {k: v for k, v in keys(seed).items() if k in KIND}
