from hypothesis import given, strategies as st

from llmtrace.sse import Event, iter_events


def events(text: str) -> list[Event]:
    # Split on "\n" only: str.splitlines would also split on form feeds and the like.
    return list(iter_events(text.split("\n")))


def test_fields_and_dispatch():
    got = events("event: message_start\ndata: {\"a\": 1}\n\nevent: ping\ndata: {}\n\n")
    assert [(e.event, e.data) for e in got] == [("message_start", '{"a": 1}'), ("ping", "{}")]


def test_multiline_data_comments_crlf_and_id():
    got = events(": keep-alive\r\nid: 7\r\ndata: line1\r\ndata:line2\r\n\r\n")
    assert got == [Event("message", "line1\nline2", "7", 1)]


def test_only_one_space_is_stripped_and_unknown_fields_ignored():
    got = events("data:  two spaces\nretry: 10\nfoo: bar\n\n")
    assert got[0].data == " two spaces"


def test_event_without_data_is_not_dispatched_and_name_resets():
    got = events("event: lonely\n\ndata: x\n\n")
    assert got == [Event("message", "x", None, 2)]


def test_final_event_without_blank_line_is_kept():
    assert [e.data for e in events("data: a\n\ndata: b")] == ["a", "b"]


def test_llama_stack_style_line_list_with_empty_separators():
    lines = ["event: a", "data: 1", "", "event: b", "data: 2", ""]
    assert [(e.event, e.data, e.line) for e in iter_events(lines)] == [("a", "1", 0), ("b", "2", 3)]


@given(st.lists(st.text(alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\r\n"),
                        min_size=1), max_size=20))
def test_data_round_trips(payloads):
    text = "".join(f"data: {p}\n\n" for p in payloads)
    assert [e.data for e in events(text)] == payloads
