"""Tool calling through the official OpenAI Python client against a live
`engine serve` (issue 12's must-show): tool_choice "required" and a named
function come back as tool_calls with arguments valid for the tool's
schema, streamed and not, and a conversation with the assistant's call and
the tool's result round-trips.

Run by server/binary_test.go (TestOpenAIPythonTools), which starts the
server and sets ENGINE_BASE_URL, ENGINE_API_KEY and ENGINE_MODEL. By hand:

    pip install openai pytest
    engine serve -m ../shared/models/stories260K.gguf --api-key k &
    ENGINE_BASE_URL=http://127.0.0.1:8080/v1 ENGINE_API_KEY=k ENGINE_MODEL=stories260K \
        python3 -m pytest -q server/testdata/openai_tools_test.py
"""
import json
import os

import openai
import pytest

BASE_URL = os.environ["ENGINE_BASE_URL"]
API_KEY = os.environ.get("ENGINE_API_KEY", "none")
MODEL = os.environ.get("ENGINE_MODEL", "stories260K")

TOOLS = [
    {"type": "function", "function": {
        "name": "get_weather", "description": "Get the current weather in a city.",
        "parameters": {"type": "object", "properties": {
            "city": {"type": "string", "minLength": 1, "maxLength": 20},
            "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]},
            "days": {"type": "integer", "enum": [1, 2, 3, 7]}},
            "required": ["city", "unit"], "additionalProperties": False}}},
    {"type": "function", "function": {"name": "get_time", "description": "The current time.",
                                      "parameters": {"type": "object", "properties": {}}}},
]
NAMES = {"get_weather", "get_time"}
QUESTION = [{"role": "user", "content": "What is the weather in Paris?"}]


@pytest.fixture
def client():
    return openai.OpenAI(base_url=BASE_URL, api_key=API_KEY, max_retries=0, timeout=120)


def check_arguments(name, arguments):
    """arguments is a JSON string valid for the tool's schema."""
    assert isinstance(arguments, str)
    args = json.loads(arguments)
    assert isinstance(args, dict)
    if name == "get_time":
        # No properties; the grammar takes a missing additionalProperties
        # as false (llama.cpp's reading), so the call has no arguments.
        assert args == {}
        return
    assert set(args) <= {"city", "unit", "days"} and {"city", "unit"} <= set(args), args
    assert isinstance(args["city"], str) and 1 <= len(args["city"]) <= 20
    assert args["unit"] in ("celsius", "fahrenheit")
    if "days" in args:
        assert args["days"] in (1, 2, 3, 7)


@pytest.mark.parametrize("choice", ["required", {"type": "function", "function": {"name": "get_weather"}}])
def test_tool_call(client, choice):
    r = client.chat.completions.create(model=MODEL, messages=QUESTION, tools=TOOLS, tool_choice=choice,
                                       n=2, max_tokens=150, seed=3, temperature=0.8, parallel_tool_calls=False)
    assert len(r.choices) == 2
    for c in r.choices:
        assert c.finish_reason == "tool_calls"
        assert c.message.role == "assistant"
        assert c.message.tool_calls, c.message
        for call in c.message.tool_calls:
            assert call.type == "function" and call.id.startswith("call_")
            assert call.function.name in NAMES
            if isinstance(choice, dict):
                assert call.function.name == "get_weather"
            check_arguments(call.function.name, call.function.arguments)


@pytest.mark.parametrize("choice", ["required", {"type": "function", "function": {"name": "get_time"}}])
def test_tool_call_streamed(client, choice):
    stream = client.chat.completions.create(model=MODEL, messages=QUESTION, tools=TOOLS, tool_choice=choice,
                                            n=2, max_tokens=150, seed=5, stream=True, parallel_tool_calls=False)
    calls, finish = {}, {}
    for chunk in stream:
        for c in chunk.choices:
            for d in c.delta.tool_calls or []:
                got = calls.setdefault(c.index, {}).setdefault(d.index, {"id": None, "name": "", "arguments": ""})
                if d.id:
                    got["id"] = d.id
                if d.function and d.function.name:
                    got["name"] += d.function.name
                if d.function and d.function.arguments:
                    got["arguments"] += d.function.arguments
            if c.finish_reason:
                finish[c.index] = c.finish_reason
    assert finish == {0: "tool_calls", 1: "tool_calls"}
    for i in (0, 1):
        assert calls[i], calls
        for call in calls[i].values():
            assert call["id"].startswith("call_")
            assert call["name"] in NAMES
            if isinstance(choice, dict):
                assert call["name"] == "get_time"
            check_arguments(call["name"], call["arguments"])


def test_parallel_calls(client):
    """parallel_tool_calls (the default) lets a reply hold several calls; a
    small model may go on calling until max_tokens, but every complete
    call is valid."""
    r = client.chat.completions.create(model=MODEL, messages=QUESTION, tools=TOOLS, tool_choice="required",
                                       n=2, max_tokens=300, seed=4)
    for c in r.choices:
        assert c.finish_reason in ("tool_calls", "length")
        assert 1 <= len(c.message.tool_calls) <= 8
        for call in c.message.tool_calls:
            check_arguments(call.function.name, call.function.arguments)


def test_tool_round_trip(client):
    r = client.chat.completions.create(model=MODEL, messages=QUESTION, tools=TOOLS, tool_choice="required",
                                       max_tokens=150, seed=9, parallel_tool_calls=False)
    msg = r.choices[0].message
    assert len(msg.tool_calls) == 1
    call = msg.tool_calls[0]
    # The assistant's turn as the client returned it, then the tool's result.
    convo = QUESTION + [msg.model_dump(exclude_none=True),
                        {"role": "tool", "tool_call_id": call.id, "content": json.dumps({"temperature": 21})}]
    r2 = client.chat.completions.create(model=MODEL, messages=convo, tools=TOOLS, max_tokens=12, temperature=0)
    c = r2.choices[0]
    assert c.finish_reason in ("stop", "length", "tool_calls")
    assert c.message.content is not None or c.message.tool_calls
    assert r2.usage.prompt_tokens > r.usage.prompt_tokens
    # Without tool_choice the tools stay "auto"; with "none" no call is read.
    r3 = client.chat.completions.create(model=MODEL, messages=convo, tools=TOOLS, tool_choice="none", max_tokens=12, temperature=0)
    assert r3.choices[0].message.tool_calls is None


def test_tool_errors(client):
    with pytest.raises(openai.BadRequestError) as e:
        client.chat.completions.create(model=MODEL, messages=QUESTION, tools=TOOLS,
                                       tool_choice={"type": "function", "function": {"name": "nope"}})
    assert e.value.body["param"] == "tool_choice"
    with pytest.raises(openai.BadRequestError) as e:
        client.chat.completions.create(model=MODEL, messages=QUESTION + [{"role": "tool", "content": "x"}])
    assert e.value.body["param"] == "messages[1].tool_call_id"
