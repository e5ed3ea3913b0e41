"""Matching that survives SDK defaults and misses when the conversation differs; misses that
explain themselves (values, masked, tools by name); the journal and its reset over HTTP, in the
API and on the pytest fixture. Real clients (openai-python, httpx) against a server on a free
port of 127.0.0.1."""

from __future__ import annotations

import httpx
import openai
import orjson
import pytest

import llmtrace
from conftest import DATA
from llmtrace.server import match
from llmtrace.server.app import JOURNAL_SIZE, Background, Options, Replay, Server
from secrets_gen import keys
from test_serve import CHAT, TIMEOUT, TOOLS, _body, serving

pytest_plugins = ["pytester"]

SYSTEM = DATA / "cassettes" / "crewAI" / "openai--test_openai_streaming_returns_usage_metrics.yaml"
CHAT_PATH = "/v1/chat/completions"


def _client(base: str) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{base}/v1", api_key="test", max_retries=0, timeout=TIMEOUT)


def _post(base: str, body: dict) -> httpx.Response:
    with httpx.Client(timeout=TIMEOUT) as client:
        return client.post(base + CHAT_PATH, json=body)


def _miss(response: httpx.Response) -> dict:
    assert response.status_code == 404, response.text
    error = response.json()["error"]
    assert error["code"] == "no_match"
    return error["llmtrace"]


# --- strict: canonical equality -----------------------------------------------------------------------


def test_sdk_defaults_count_as_absent():
    """What LangChain, LiteLLM, openai-agents and friends add on their own, at the provider's
    default, still matches a recording made without it (and vice versa: CHAT has ``stop: []``)."""
    body = {k: v for k, v in _body(TOOLS).items() if k not in ("stream", "stream_options", "tool_choice")}
    client_defaults = dict(temperature=1, top_p=1.0, n=1, stop=[], parallel_tool_calls=True, tool_choice="auto",
                           presence_penalty=0, frequency_penalty=0, store=False, user="someone",
                           metadata={"run": "7"}, stream_options={"include_usage": True}, stream=True)
    with serving(TOOLS, CHAT) as (base, lines):
        client = _client(base)
        stream = client.chat.completions.create(**body, **client_defaults)
        calls = [c for chunk in stream for choice in chunk.choices for c in choice.delta.tool_calls or []]
        plain = client.chat.completions.create(model="gpt-4o-mini", messages=_body(CHAT)["messages"])
    assert calls and calls[0].function.name == "get_current_temperature"
    assert plain.choices[0].message.content
    assert all("no_match" not in line for line in lines) and len(lines) == 2


def test_a_parameter_off_its_default_misses_with_its_value():
    body = {**_body(TOOLS), "temperature": 0.2}
    with serving(TOOLS) as (base, lines):
        found = _miss(_post(base, body))
    assert found["closest"] == {"file": TOOLS.name, "exchange": 0} or found["closest"]["exchange"] == 0
    assert found["differences"] == [{"path": "request.params.temperature", "recorded": None, "received": 0.2}]
    assert "request.params.temperature: recorded null, received 0.2" in lines[-1]


def test_developer_is_system_and_text_parts_are_text():
    body = _body(SYSTEM)
    messages = [{"role": "developer" if m["role"] == "system" else m["role"],
                 "content": [{"type": "text", "text": m["content"]}]} for m in body["messages"]]
    with serving(SYSTEM) as (base, lines):
        response = _post(base, {**body, "messages": messages})
    assert response.status_code == 200 and "no_match" not in lines[0]


def test_tools_compare_by_name_and_schema_not_description_or_order():
    body = _body(TOOLS)
    tool = body["tools"][0]["function"]
    reordered = {"parameters": {"required": ["city"], "properties": tool["parameters"]["properties"], "type": "object"},
                 "description": "Another description entirely.", "name": tool["name"]}
    changed = {**reordered, "parameters": {**reordered["parameters"], "properties": {"city": {"type": "integer"}}}}
    with serving(TOOLS) as (base, _):
        same = _post(base, {**body, "tools": [{"type": "function", "function": reordered}]})
        other = _post(base, {**body, "tools": [{"type": "function", "function": changed}]})
    assert same.status_code == 200
    paths = [d["path"] for d in _miss(other)["differences"]]
    assert paths == ["request.tools[get_current_temperature].parameters.properties.city.type",
                     "request.tools[get_current_temperature].parameters.properties.city.description"]


# --- an agent's later turn ------------------------------------------------------------------------------


def _agent_turns(base: str) -> list:
    """An agent loop with openai-python: call, run the tool, call again with its result; the
    second call is a new request (the conversation grew)."""
    client = _client(base)
    body = {k: v for k, v in _body(TOOLS).items() if k not in ("stream", "stream_options")}
    first = client.chat.completions.create(**body)
    call = first.choices[0].message.tool_calls[0]
    messages = body["messages"] + [first.choices[0].message.model_dump(exclude_none=True),
                                   {"role": "tool", "tool_call_id": call.id, "content": "18°C"}]
    try:
        second = client.chat.completions.create(**{**body, "messages": messages})
    except openai.NotFoundError as exc:
        return [first, exc]
    return [first, second]


@pytest.mark.parametrize("mode", ["strict", "loose"])
def test_an_agents_later_turn_misses(mode):
    with serving(TOOLS, mode=mode) as (base, lines):
        first, second = _agent_turns(base)
    assert first.choices[0].finish_reason == "tool_calls"
    assert isinstance(second, openai.NotFoundError)
    found = second.body["llmtrace"]
    assert found["closest"]["exchange"] == 0
    assert found["differences"][0]["path"] == "request.messages[1]"
    assert found["differences"][0]["recorded"] is None
    assert "[tool calls] get_current_temperature" in found["differences"][0]["received"]["content"]
    assert "no_match" in lines[1]


def test_closest_answers_the_later_turn_with_the_same_recording_and_says_what_differed():
    with serving(TOOLS, mode="closest") as (base, lines):
        first, second = _agent_turns(base)
    assert second.choices[0].message.tool_calls[0].function.name == "get_current_temperature"  # the loop, again
    assert "differs: request.messages[1]" in lines[1]


def test_loose_hit_logs_what_differed():
    with serving(TOOLS, mode="loose") as (base, lines):
        response = _post(base, {**_body(TOOLS), "temperature": 0.3, "stream": False})
    assert response.status_code == 200
    assert "differs: request.params.temperature: recorded null, received 0.3" in lines[0]


# --- the miss body --------------------------------------------------------------------------------------


def test_a_miss_body_cuts_long_strings_and_masks_secrets():
    secret = keys()["openai-api-key"]
    body = {**_body(CHAT), "messages": [{"role": "user", "content": f"my key is {secret} " + "x" * 500}]}
    with serving(CHAT) as (base, lines):
        response = _post(base, body)
    found = _miss(response)
    received = found["differences"][0]["received"]
    assert found["differences"][0]["path"] == "request.messages[0].content"
    assert len(received) <= 200 and secret not in response.text and secret not in "".join(lines)
    assert received.startswith("my key is ") and secret[:12] not in received
    assert found["differences"][0]["recorded"] == "Tell me a joke."


def test_the_log_line_gives_three_differences_with_values():
    body = {**_body(CHAT), "model": "other", "temperature": 0.5, "seed": 4, "top_k": 3}
    with serving(CHAT) as (base, lines):
        _miss(_post(base, body))
    assert 'request.model: recorded "gpt-4o-mini", received "other"' in lines[0]
    assert lines[0].count("recorded") == 3 and "(+1 more)" in lines[0]


def test_a_used_up_sequence_says_why():
    with serving(CHAT, mode="sequence") as (base, _):
        assert _post(base, _body(CHAT)).status_code == 200
        found = _miss(_post(base, _body(CHAT)))
    assert found["reason"].startswith("sequence: every recorded exchange") and found["differences"] == []


def test_files_are_named_relative_to_the_folder_given():
    folder = DATA / "cassettes" / "crewAI"
    server = llmtrace.serve([CHAT], roots=[str(folder)])
    with Background(server) as base:
        _post(base, {**_body(CHAT), "stream": False})
        requests = server.requests
    assert requests[0]["matched"] == {"file": CHAT.name, "exchange": 0}


# --- the journal ----------------------------------------------------------------------------------------


def test_the_journal_over_http_and_in_the_api():
    server = Server([llmtrace.load(str(CHAT)), llmtrace.load(str(TOOLS))],
                    options=Options(speed=None, mode="sequence", log=lambda line: None,
                                    faults=(llmtrace.server.faults.parse("duplicate:chunk=1,request=0"),)))
    background = Background(server)
    with background as base, httpx.Client(timeout=TIMEOUT) as client:
        codes = [client.post(base + CHAT_PATH, json=_body(CHAT)).status_code for _ in range(3)]
        client.post(base + CHAT_PATH, content=b"{not json")
        listed = client.get(base + "/llmtrace/requests").json()
        in_api = background.requests
        assert client.post(base + "/llmtrace/reset").status_code == 200
        after_reset = client.get(base + "/llmtrace/requests").json()
        again = client.post(base + CHAT_PATH, json=_body(CHAT))  # the sequence starts over
        last = server.requests
    assert codes == [200, 200, 404]
    assert listed == in_api and len(listed) == 4
    first, second, missed, bad = listed
    assert first == {"method": "POST", "path": CHAT_PATH, "matched": {"file": str(CHAT), "exchange": 0},
                     "status": 200, "frames": len(llmtrace.load(str(CHAT)).exchanges[0].response.chunks),
                     "faults": ["duplicate@1"], "differences": []}
    assert second["matched"]["file"] == str(TOOLS) and second["faults"] == []
    assert missed["matched"] is None and missed["status"] == 404
    assert bad["status"] == 400 and bad["matched"] is None
    assert after_reset == []
    assert again.status_code == 200 and last[0]["matched"]["file"] == str(CHAT) and last[0]["faults"] == ["duplicate@1"]


def test_the_journal_is_bounded():
    replay = Replay([], Options())
    for i in range(JOURNAL_SIZE + 5):
        replay.note("POST", f"/{i}")
    listed = replay.requests()
    assert len(listed) == JOURNAL_SIZE and listed[0]["path"] == "/5" and listed[-1]["path"] == f"/{JOURNAL_SIZE + 4}"


def test_the_fixture_exposes_the_journal(pytester):
    pytester.makeconftest("")
    target = pytester.path / "chat.yaml"
    target.write_bytes(CHAT.read_bytes())
    pytester.makepyfile(f"""
        import httpx, pytest

        @pytest.mark.llmtrace_recordings("chat.yaml")
        def test_it(llmtrace_server):
            body = {orjson.dumps(_body(CHAT)).decode()!r}
            httpx.post(llmtrace_server.openai + "/chat/completions", content=body, timeout=30)
            [entry] = llmtrace_server.requests
            assert entry["matched"] == {{"file": "chat.yaml", "exchange": 0}} and entry["status"] == 200
            llmtrace_server.reset()
            assert llmtrace_server.requests == []
    """)
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "-q", timeout=120)
    result.assert_outcomes(passed=1)


# --- canonical, directly --------------------------------------------------------------------------------


def test_canonical_drops_defaults_per_dialect_and_keeps_the_rest():
    request = {"model": "m", "messages": [{"role": "developer", "content": "be brief"}], "tools": {},
               "params": {"temperature": 1.0, "tool_choice": "none", "max_tokens": 5, "stream": True}}
    assert match.canonical(request, "openai-chat") == {"model": "m", "messages": [{"role": "system",
                                                       "content": "be brief"}], "tools": {}, "params": {"max_tokens": 5}}
    anthropic = {**request, "tools": {"t": {"name": "t", "input_schema": {"type": "object"}, "description": "d"}},
                 "params": {"tool_choice": {"type": "auto"}, "temperature": 1, "top_k": 5}}
    assert match.canonical(anthropic, "anthropic-messages")["params"] == {"top_k": 5}
    assert match.canonical(anthropic, "anthropic-messages")["tools"] == {"t": {"parameters": {"type": "object"}}}
    assert match.canonical({**request, "params": {"keep_alive": "10m", "options": {}}}, "ollama-chat")["params"] == {}
    assert match.canonical({**request, "params": {"parallel_tool_calls": 1}}, "openai-chat")["params"] == \
        {"parallel_tool_calls": 1}  # true is not 1


def test_tool_call_arguments_compare_by_meaning():
    """A client that re-serializes the arguments it got (LangChain: ``json.dumps`` of a dict) asks
    the same as the one that sent them back as received."""
    def asked(arguments: str) -> dict:
        body = {"model": "m", "messages": [
            {"role": "user", "content": "weather?"},
            {"role": "assistant", "content": None, "tool_calls": [
                {"id": "c", "type": "function", "function": {"name": "get_weather", "arguments": arguments}}]},
            {"role": "tool", "tool_call_id": "c", "content": "sunny"}]}
        ex = match.incoming("POST", CHAT_PATH, body)
        return match.canonical(llmtrace.view.request_doc(ex), ex.dialect)

    assert asked('{"city":"Paris","unit":"c"}') == asked('{"unit": "c", "city": "Paris"}')
    assert asked('{"city":"Paris"}') != asked('{"city":"Rome"}')
    assert asked("not json") != asked("not  json")
