"""The cheap tests ``find_secrets`` makes before running each finder (key hints, secret names
before a ``=``, JSON fields named like a credential), and the base64 cut of ``unmasked-secret``:
each gives the same result as the plain search it stands in for."""

from __future__ import annotations

import re

import orjson

from hypothesis import given, settings, strategies as st

from llmtrace import secrets as S
from llmtrace.anomalies.secrets import _BASE64_ALPHABET, _LONG_BASE64, _without_base64
from secrets_gen import keys


def _plain_find_secrets(text: str) -> list[S.Found]:
    """``find_secrets`` as it was before the per-finder tests: every finder runs when its hint
    is in the text."""
    found: list[S.Found] = []
    marks = [mark for mark in S._NAME_HINTS if mark in text]
    if marks:
        named = [S._judge(m, text) for start, end in S._windows(text, marks)
                 for m in S._NAMED.finditer(text, start, end)]
        first = S._START.match(text)
        if first is not None:
            named.append(S._judge(first, text))
        found.extend(filter(None, named))
    if S._FIELD_HINT in text:
        found.extend(filter(None, map(S._field, S._FIELD.finditer(text))))
    if any(hint in text for hint in S._KEY_HINTS):
        found_keys = [item for item in (S._judge(m, text) for m in S._KEYS.finditer(text)) if item is not None]
        found.extend(found_keys)
        if any(item.kind == "aws-access-key-id" for item in found_keys):
            found.extend(S._aws_secrets(text, found_keys))
    return S._without_overlaps(found) if len(found) > 1 else found


_KEYS = sorted(set(keys(0).values()) | set(keys(1).values()))
_NAMES = ["api_key", "apiKey", "APIKEY", "Api-Key", "x-authkey", "access_token", "accessToken", "client_secret",
          "password", "PassWord", "pAsSwOrD", "pwd", "credentials", "Authorization", "auth", "jwt", "code", "session",
          "cookie", "signature", "sig", "key_id", "max_tokens", "page_token", "prompt_tokens", "public_key",
          "content", "role", "model", "id", "apikEY", "KEy", "tOKEN", "my.secret", "Secret_", "keys"]
_PARTS = ['"', '\\"', ":", ": ", " :", "\t:", ":\t", "=", "?", "&", "#", ";", "@", " ", "\n", "\\n", ",", "{", "}",
          "Bearer ", "bearer\n", "bEaReR ", "BEARER\t", "earer", "https://", "user:", "a1B2c3D4e5F6g7H8i9J0",
          "0123456789abcdef0123456789abcdef", "sk-", "s", "k-", "AIza", "AKIA", "ASIA", "A", "eyJ", "J", "ya29.",
          "gh", "p_", "github_pat_", "xoxb-", "xai-", "pplx-", "r8_", "fw_", "hf_", "gsk_", "_", "-", "."]
_TEXTS = st.lists(st.one_of(st.sampled_from(_NAMES), st.sampled_from(_PARTS), st.sampled_from(_KEYS),
                            st.text(alphabet='aAkKeEyY_-.:="\\ \tx0189JzSIbBrR@?&', max_size=12)),
                  max_size=24).map("".join)


@settings(max_examples=1500)
@given(_TEXTS)
def test_find_secrets_finds_what_the_plain_search_finds(text):
    assert S.find_secrets(text) == _plain_find_secrets(text)


@settings(max_examples=500)
@given(_TEXTS, _TEXTS, st.sampled_from(_NAMES), st.sampled_from(['"{}":"{}"', '\\"{}\\": \\"{}\\"', '"{}" :\t"{}"',
                                                                  "{}={}", "?{}={}", " {}={}", "{}"]),
       st.sampled_from(_KEYS + ["a1B2c3D4e5F6g7H8i9J0", "0123456789abcdef0123456789abcdef"]))
def test_a_named_credential_anywhere_is_found_as_the_plain_search_finds_it(before, after, name, form, value):
    text = before + form.format(name, value) + after
    assert S.find_secrets(text) == _plain_find_secrets(text)


@given(st.text(alphabet="skAIzaKSghpousr_ithbxoa-gplr8fwy29.eJQ", max_size=60))
def test_key_hints_are_the_substring_tests(text):
    assert S._may_hold_keys(text) == any(hint in text for hint in S._KEY_HINTS)


@given(st.one_of(_TEXTS, st.text(alphabet='skAIzaKSghpousr_ithbxoa-gplr8fwy29.eJQ=@E":', max_size=60)))
def test_might_hold_secrets_is_the_substring_tests(text):
    assert S.might_hold_secrets(text) == any(hint in text for hint in S._ALL_HINTS)
    assert S.might_hold_secrets(text.encode()) == any(hint in text for hint in S._ALL_HINTS)


def test_every_key_hint_is_seen_wherever_it_stands():
    for hint in S._KEY_HINTS:
        for text in (hint, f"x{hint}", f"{hint}x", f'"{hint}abc"', f"a-b_c {hint}"):
            assert S._may_hold_keys(text), text
        assert not S._may_hold_keys(hint[:-1] + " " + hint[-1:])


# Names made of credential words and others, in any case, with separators.
_NAME = st.lists(st.sampled_from(["api", "key", "Key", "KEY", "kEy", "token", "Token", "TOKEN", "x", "auth", "AUTH",
                                  "secret", "Secret", "pass", "word", "Word", "pwd", "page", "max", "tokens", "jwt",
                                  "Bearer", "id", "code", "session", "sig", "credential", "s", "_", "-", ".", "1"]),
                 min_size=1, max_size=4).map("".join)
_VALUE = st.sampled_from(_KEYS + ["a1B2c3D4e5F6g7H8i9J0", "0123456789abcdef0123456789abcdef", "short", "a" * 20])
_ESCAPE = st.sampled_from(["", "\\"])
_BLANKS = st.sampled_from(["", " ", "\t", " \t "])


@st.composite
def _fields(draw):
    """``"name": "value"`` in the forms ``_FIELD`` takes (escaped quotes, blanks around the colon)."""
    parts = [draw(_TEXTS), draw(_ESCAPE), '"', draw(_NAME), draw(_ESCAPE), '"', draw(_BLANKS), ":", draw(_BLANKS),
             draw(_ESCAPE), '"', draw(_VALUE), draw(_ESCAPE), '"', draw(_TEXTS)]
    return "".join(parts)


@settings(max_examples=1500)
@given(_fields())
def test_a_secret_field_name_is_never_missed(text):
    """Stronger than the finds being equal: every ``_FIELD`` match with a name
    ``is_secret_field`` says yes to (whatever its value) passes the test on the field's end."""
    if any(S.is_secret_field(m.group("fname")) for m in S._FIELD.finditer(text)):
        assert S._SECRET_FIELD_END.search(text[::-1])
    assert S.find_secrets(text) == _plain_find_secrets(text)


@settings(max_examples=1500)
@given(_TEXTS, _NAME, st.sampled_from(["?", "&", ";", "#", " ", "\n", '"', "(", ",", "{", "", "x"]), _VALUE, _TEXTS)
def test_a_secret_parameter_name_is_never_missed(before, name, separator, value, after):
    text = f"{before}{separator}{name}={value}{after}"
    _assert_named_secrets_seen(text)
    assert S.find_secrets(text) == _plain_find_secrets(text)


def _assert_named_secrets_seen(text: str) -> None:
    """Every ``_NAMED`` or ``_START`` match in ``text`` that names a secret (or is a bearer token
    or a password) passes the test on the names, whatever its value."""
    marks = [mark for mark in S._NAME_HINTS if mark in text]
    if not marks:
        return
    matches = list(S._NAMED.finditer(text))
    first = S._START.match(text)
    if first is not None:
        matches.append(first)
    for match in matches:
        group = match.lastgroup
        named = ((group == "uvalue" and S.is_secret_param(match.group("uname")))
                 or (group == "pvalue" and S.is_secret_name(match.group("pname"))))
        if named or group in ("bearer", "password"):
            assert S._may_name_secrets(text, marks), (text, group)


@settings(max_examples=500)
@given(_TEXTS)
def test_a_secret_name_before_a_separator_is_never_missed(text):
    _assert_named_secrets_seen(text)


def test_name_parts_cover_every_secret_word():
    for word in S.SECRET_WORDS | set(S._SECRET_ENDINGS) | S._SECRET_PARAMS:
        assert any(part in word for part in S._SECRET_NAME_PARTS), word


def test_mixed_case_bearer_with_only_an_equals_sign():
    token = "a1B2c3D4e5F6g7H8i9J0"
    text = f"x=1 then, more than a name's length later, bEaReR {token}"
    assert [f.kind for f in S.find_secrets(text)] == ["bearer-token"] == [f.kind for f in _plain_find_secrets(text)]


def test_field_forms_and_cases():
    value = "a1B2c3D4e5F6g7H8i9J0k1"
    for name in ("api_key", "apiKey", "APIKEY", "x-authkey", "accessToken", "client_secret", "ApiKEY"):
        for form in ('"{}":"{}"', '{{\\"{}\\":\\"{}\\"}}', '"{}" \t: "{}"', '"{}":\t\\"{}\\"'):
            text = form.format(name, value)
            found = S.find_secrets(text)
            # A blank before the colon: no ``":`` (the field hint), so neither search looks.
            expected = ["credential"] if '":' in text else []
            assert found == _plain_find_secrets(text) and [f.kind for f in found] == expected, text
    assert S.find_secrets('"max_tokens":"a1B2c3D4e5F6g7H8i9J0k1"') == []


# --- the base64 cut --------------------------------------------------------------------------


def _plain_without_base64(data: bytes) -> bytes:
    """``_without_base64`` as it was: ``finditer`` on from each match."""
    if len(data) < 65536:
        return data
    parts = []
    last = 0
    for match in _LONG_BASE64.finditer(data):
        start = match.start() + 1
        end = data.find(b'"', start)
        if end < 0:
            break
        if not data[start:end].translate(None, _BASE64_ALPHABET):
            parts.append(data[last:start])
            last = end
    if not parts:
        return data
    parts.append(data[last:])
    return b"".join(parts)


_B64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"


@settings(max_examples=200, deadline=None)
@given(st.lists(st.one_of(
    st.tuples(st.sampled_from([1000, 1024, 1500, 3000, 8191, 8192, 8193, 12000, 20000]),
              st.sampled_from(["", "=", "==", "-", " ", '\\"', "_x", "é", "\\n", "\\u0001", "~", "\x7f", "@", "{"]),
              st.integers(0, 1), st.sampled_from(['"', '\\"'])),
    st.sampled_from(['"role":"user",', '{"a":[', "]}", ",", '"', '\\"', '"k":"v \\" w",'])), min_size=1, max_size=40),
    st.integers(0, 63))
def test_the_base64_cut_is_the_plain_one(parts, shift):
    out = []
    for n, part in enumerate(parts):
        if isinstance(part, tuple):
            length, odd, where, quote = part
            run = (_B64[shift:] + _B64[:shift]) * (length // 64 + 1)
            run = run[:length]
            if where:  # the odd characters in the middle of the run rather than at its end
                run = run[:length // 2] + odd + run[length // 2:]
            else:
                run += odd
            out.append(f'{quote}{run}"')
        else:
            out.append(part)
    data = "".join(out).encode()
    data += b" " * max(0, 65536 - len(data)) + b'"' + _B64.encode() * 20 + b'"'
    assert _without_base64(data) == _plain_without_base64(data)


def test_json_holds_no_raw_control_character():
    """What the base64 cut takes for granted of the JSON it is given."""
    import orjson

    data = orjson.dumps({"".join(map(chr, range(32))): ["".join(map(chr, range(32))) * 3, "\x7f"]})
    assert not data.translate(None, bytes(range(32, 256)))


def test_the_base64_cut_keeps_what_is_not_base64():
    run = _B64 * 20
    data = ('{"a":"' + run + '","b":"' + run[:600] + " sk- " + run[600:] + '","c":"' + run + "\\" + '"}').encode()
    data = data + b" " * (65536 - len(data))
    cut = _without_base64(data)
    assert cut == _plain_without_base64(data)
    assert cut.startswith(b'{"a":"","b":"') and b" sk- " in cut and re.search(rb'"c":"[A-Za-z0-9+/]+\\"', cut)


# --- tests on text that is not plain ASCII ---------------------------------------------------

# The old form of the field-end search: the same alternatives under re.IGNORECASE | re.ASCII.
_IGNORECASE_FIELD_END = re.compile(r':[ \t]*"\\?(?:' + "|".join(S._FIELD_ENDS) + ")", re.IGNORECASE | re.ASCII)
# Characters that lower-case to ASCII or stand beside it (Kelvin sign, dotted I, long s,
# ligatures), wide ones (CJK, emoji), and what JSON writes: escapes, quotes, blanks, colons.
_ODD = ["\u212a", "\u0130", "\u017f", "\ufb00", "\u00e9", "\u4e2d\u6587", "\U0001f511", "\ufffd", "\\n", "\\u00e9",
        "\\u0022", '\\"', '"', ":", " ", "\t", "=", "@", "bearer ", "BEARER ", "eyJ", "sk-", "ya29.", "9", "k", "x", "A",
        "_"]
_WIDE_TEXTS = st.lists(st.one_of(st.sampled_from(_ODD), st.sampled_from(_NAMES), st.sampled_from(_PARTS),
                                 st.sampled_from(_KEYS), st.sampled_from(S._KEY_HINTS),
                                 st.text(alphabet="kKeEyYtToOnNsScCrRwWdDpPaAuUhHlLiIjJbB_-\u212a\u0130\"\\: ",
                                         max_size=12)),
                       max_size=24).map("".join)


# A field word or a secret ending (or a word one letter short of one), in any case.
_CASED_WORD = st.sampled_from(sorted(S._FIELD_WORDS | set(S._SECRET_ENDINGS))).flatmap(
    lambda word: st.tuples(st.sampled_from([word, word[1:], word[:-1]]), st.lists(st.booleans(), min_size=len(word),
                                                                               max_size=len(word))).map(
        lambda pair: "".join(c.upper() if up else c for c, up in zip(*pair))))
_FIELD_END = st.sampled_from(['":', '\\":', '" :', '"\t:', '"', ':', '\\" \t:'])
_FIELD_TEXTS = st.tuples(_WIDE_TEXTS, _CASED_WORD, _FIELD_END, _WIDE_TEXTS).map("".join)


@settings(max_examples=2000)
@given(st.one_of(_WIDE_TEXTS, _fields(), _FIELD_TEXTS))
def test_the_field_end_trie_is_the_case_insensitive_search(text):
    """``[kK]`` is what ``k`` means under ``re.IGNORECASE | re.ASCII``: neither matches the
    Kelvin sign (nor ``i`` a dotted I)."""
    reverse = text[::-1]
    assert bool(S._SECRET_FIELD_END.search(reverse)) == bool(_IGNORECASE_FIELD_END.search(reverse))


def test_the_field_end_trie_on_every_word_in_every_case():
    for word in S._FIELD_WORDS | set(S._SECRET_ENDINGS):
        for name in (word, word.upper(), word.title(), word.swapcase().title(), f"x_{word}", f"my{word.upper()}"):
            for end in ('":', '" :', '\\":', '"\t :'):
                assert S._SECRET_FIELD_END.search((name + end)[::-1]), name + end
    for name in ("role", "content", "tokens", "max_tokens", "keys", "ey", "oken", "secrets", "pw", "jw", "Authorizatio"):
        assert not S._SECRET_FIELD_END.search(f'"{name}":'[::-1]), name
    assert not S._SECRET_FIELD_END.search('"\u212aey":'[::-1])  # a Kelvin sign is no k


@settings(max_examples=1500)
@given(_WIDE_TEXTS)
def test_key_hints_in_any_text_are_the_substring_tests(text):
    assert S._may_hold_keys(text) == any(hint in text for hint in S._KEY_HINTS)


@st.composite
def _json_bytes(draw):
    """Bytes as a recording may hold them: JSON with fields named like credentials, escapes,
    non-ASCII text, and sometimes invalid UTF-8 (a cut multibyte character, a lone byte)."""
    text = draw(_WIDE_TEXTS)
    form = draw(st.sampled_from(['{{"{}":"{}"}}', '{{"messages":[{{"content":"{}"}}],"{}":1}}', "[{}, {}]", "{}{}"]))
    data = form.format(draw(_NAME), text).encode("utf-8")
    if draw(st.booleans()):
        at = draw(st.integers(0, len(data)))
        data = data[:at] + draw(st.sampled_from([b"\xff", b"\xc3", b"\xe2\x84", b"\x80", b"\xf0\x9f\x94"])) + data[at:]
    return data


@settings(max_examples=1500)
@given(_json_bytes())
def test_what_the_bytes_test_passes_over_holds_no_secret(data):
    """``unmasked-secret`` searches a serialized value without ``might_hold_secrets`` first: it
    finds the same as before, since what that test says no to, ``find_secrets`` finds nothing in."""
    text = data.decode("utf-8", "replace")
    if not S.might_hold_secrets(data):
        assert not S.find_secrets(text)
    assert S.might_hold_secrets(data) == S.might_hold_secrets(text) == any(h in text for h in S._ALL_HINTS)
    assert S.find_secrets(text) == _plain_find_secrets(text)


def test_a_serialized_value_is_searched_as_before():
    from llmtrace.anomalies.secrets import _in_value

    key = _KEYS[0]
    for value in ({}, [], {"a": 1}, [1.5, -2.0], {"messages": [{"content": f"use {key}"}]},
                  {"api_key": "a1B2c3D4e5F6g7H8i9J0k1"}, {"\u212aey": "x"}, ["\u4e2d", "sk-"]):
        data = orjson.dumps(value)
        before = S.leaks_in_text(data.decode(), "request body") if S.might_hold_secrets(data) else []
        assert _in_value(value, "request body") == before, value
