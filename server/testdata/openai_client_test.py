"""The official OpenAI Python client against a live `engine serve`.

Run by server/binary_test.go (TestOpenAIPythonClient), which starts the
server and sets ENGINE_BASE_URL, ENGINE_API_KEY and ENGINE_MODEL. By hand:

    pip install openai pytest
    engine serve -m ../shared/models/stories260K.gguf --api-key k &
    ENGINE_BASE_URL=http://127.0.0.1:8080/v1 ENGINE_API_KEY=k ENGINE_MODEL=stories260K \
        python3 -m pytest -q server/testdata/openai_client_test.py
"""
import json
import math
import os
import re

import openai
import pytest

BASE_URL = os.environ["ENGINE_BASE_URL"]
API_KEY = os.environ.get("ENGINE_API_KEY", "none")
MODEL = os.environ.get("ENGINE_MODEL", "stories260K")
GREEDY = ", there was a little girl named Lily."  # llama.cpp's greedy continuation


@pytest.fixture
def client():
    return openai.OpenAI(base_url=BASE_URL, api_key=API_KEY, max_retries=0, timeout=60)


def test_models(client):
    ids = [m.id for m in client.models.list()]
    assert ids == [MODEL]


def test_completion_greedy(client):
    r = client.completions.create(model=MODEL, prompt="Once upon a time", max_tokens=11, temperature=0)
    assert r.object == "text_completion"
    assert r.choices[0].text == GREEDY
    assert r.choices[0].finish_reason == "length"
    assert r.usage.prompt_tokens == 5 and r.usage.completion_tokens == 11 and r.usage.total_tokens == 16


def test_completion_n4_logprobs(client):
    r = client.completions.create(model=MODEL, prompt="Once upon a time", n=4, max_tokens=16,
                                  logprobs=3, temperature=1.0, seed=11)
    assert [c.index for c in r.choices] == [0, 1, 2, 3]
    total = 0
    for c in r.choices:
        lp = c.logprobs
        assert len(lp.tokens) == len(lp.token_logprobs) == len(lp.top_logprobs) == len(lp.text_offset) > 0
        for tok, v, top in zip(lp.tokens, lp.token_logprobs, lp.top_logprobs):
            assert v <= 0
            assert 0 < len(top) <= 3
            assert sum(math.exp(x) for x in top.values()) <= 1 + 1e-5
            if tok in top:
                assert abs(top[tok] - v) < 1e-6
        if c.finish_reason == "length":
            assert "".join(lp.tokens) == c.text
        total += len(lp.tokens)
    assert r.usage.completion_tokens == total
    assert len({c.text for c in r.choices}) > 1


def test_chat(client):
    r = client.chat.completions.create(model=MODEL, messages=[{"role": "system", "content": "Tell stories."},
                                                                {"role": "user", "content": "Once upon a time"}],
                                       max_completion_tokens=10, temperature=0, logprobs=True, top_logprobs=2)
    assert r.object == "chat.completion"
    msg = r.choices[0].message
    assert msg.role == "assistant" and msg.content
    content = r.choices[0].logprobs.content
    assert len(content) == r.usage.completion_tokens
    assert all(len(t.top_logprobs) == 2 and t.top_logprobs[0].token == t.token for t in content)


def test_chat_stream(client):
    kw = dict(model=MODEL, messages=[{"role": "user", "content": "Once upon a time"}], max_tokens=16, temperature=0, n=2)
    whole = client.chat.completions.create(**kw)
    texts, finish, usage = ["", ""], [None, None], None
    stream = client.chat.completions.create(stream=True, stream_options={"include_usage": True}, **kw)
    for chunk in stream:
        assert chunk.object == "chat.completion.chunk"
        if chunk.usage is not None:
            usage = chunk.usage
        for c in chunk.choices:
            assert finish[c.index] is None, "chunk after finish_reason"
            texts[c.index] += c.delta.content or ""
            finish[c.index] = c.finish_reason
    assert texts == [c.message.content for c in whole.choices]
    assert finish == [c.finish_reason for c in whole.choices]
    assert usage.completion_tokens == whole.usage.completion_tokens


def test_completion_stream_stop(client):
    stream = client.completions.create(model=MODEL, prompt="Once upon a time", max_tokens=40, temperature=0,
                                       stop=["Lily"], stream=True)
    chunks = list(stream)
    assert "".join(c.choices[0].text for c in chunks) == ", there was a little girl named "
    assert chunks[-1].choices[0].finish_reason == "stop"


@pytest.mark.parametrize("kwargs,param", [
    (dict(n=0), "n"),
    (dict(temperature=5), "temperature"),
    (dict(top_p=-1), "top_p"),
    (dict(max_tokens=100000), "prompt"),
    (dict(logit_bias={"100000": 1}), "logit_bias"),
    (dict(extra_body={"top_k": -1}), "top_k"),
])
def test_bad_parameters(client, kwargs, param):
    with pytest.raises(openai.BadRequestError) as e:
        client.completions.create(model=MODEL, prompt="Once", **kwargs)
    assert e.value.status_code == 400
    assert e.value.body["param"] == param


def test_unknown_model(client):
    with pytest.raises(openai.NotFoundError) as e:
        client.chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": "hi"}])
    assert e.value.code == "model_not_found"


def test_context_length(client):
    with pytest.raises(openai.BadRequestError) as e:
        client.completions.create(model=MODEL, prompt="Once upon a time " * 600)
    assert e.value.code == "context_length_exceeded"


def test_bad_api_key():
    bad = openai.OpenAI(base_url=BASE_URL, api_key="wrong", max_retries=0)
    with pytest.raises(openai.AuthenticationError):
        bad.models.list()


# Structured output. The schema bounds every string so that even
# stories260K's samples end inside max_tokens.
PET_SCHEMA = {
    "type": "object",
    "properties": {
        "name": {"type": "string", "maxLength": 12},
        "happy": {"type": "boolean"},
        "pet": {"enum": ["cat", "dog", "bird"]},
        "toys": {"type": "array", "items": {"type": "string", "maxLength": 8}, "maxItems": 2},
    },
    "required": ["name", "happy", "pet"],
    "additionalProperties": False,
}


def check_schema(value, schema):
    """jsonschema's validator when installed, else a check of PET_SCHEMA's keywords."""
    try:
        import jsonschema
    except ImportError:
        jsonschema = None
    if jsonschema is not None:
        jsonschema.validate(value, schema)
        return
    assert isinstance(value, dict) and set(schema["required"]) <= set(value) <= set(schema["properties"])
    assert isinstance(value["name"], str) and len(value["name"]) <= 12
    assert isinstance(value["happy"], bool) and value["pet"] in ("cat", "dog", "bird")
    toys = value.get("toys", [])
    assert isinstance(toys, list) and len(toys) <= 2 and all(isinstance(t, str) and len(t) <= 8 for t in toys)


PET_FORMAT = {"type": "json_schema", "json_schema": {"name": "pet", "strict": True, "schema": PET_SCHEMA}}
PET_MESSAGES = [{"role": "system", "content": "You answer in JSON."},
                {"role": "user", "content": "Describe a pet: its name, whether it is happy, what animal it is and its toys."}]


def test_response_format_json_schema_n4(client):
    r = client.chat.completions.create(model=MODEL, messages=PET_MESSAGES, n=4, max_tokens=200, seed=3,
                                       temperature=1.0, response_format=PET_FORMAT)
    assert [c.index for c in r.choices] == [0, 1, 2, 3]
    for c in r.choices:
        assert c.finish_reason == "stop", c.message.content
        check_schema(json.loads(c.message.content), PET_SCHEMA)


def test_response_format_json_schema_stream(client):
    stream = client.chat.completions.create(model=MODEL, messages=PET_MESSAGES, n=4, max_tokens=200, seed=4,
                                            temperature=1.0, response_format=PET_FORMAT, stream=True)
    texts, finish = [""] * 4, [None] * 4
    for chunk in stream:
        for c in chunk.choices:
            texts[c.index] += c.delta.content or ""
            finish[c.index] = c.finish_reason or finish[c.index]
    assert finish == ["stop"] * 4, texts
    for t in texts:
        check_schema(json.loads(t), PET_SCHEMA)


def test_response_format_json_schema_completions(client):
    r = client.completions.create(model=MODEL, prompt="A pet as JSON:", n=4, max_tokens=200, seed=5,
                                  extra_body={"response_format": PET_FORMAT})
    for c in r.choices:
        assert c.finish_reason == "stop", c.text
        check_schema(json.loads(c.text), PET_SCHEMA)


def test_response_format_parse_pydantic(client):
    # The client's own schema from a pydantic model (strict: every field
    # required, additionalProperties false, titles).
    import pydantic
    from typing import Literal

    class Pet(pydantic.BaseModel):
        name: str = pydantic.Field(max_length=12)
        happy: bool
        pet: Literal["cat", "dog", "bird"]

    parse = getattr(client.chat.completions, "parse", None) or client.beta.chat.completions.parse
    r = parse(model=MODEL, messages=PET_MESSAGES, max_tokens=200, seed=6, response_format=Pet)
    pet = r.choices[0].message.parsed
    assert isinstance(pet, Pet) and pet.pet in ("cat", "dog", "bird")


def test_response_format_json_object(client):
    r = client.chat.completions.create(model=MODEL, messages=PET_MESSAGES, max_tokens=200, seed=7,
                                       response_format={"type": "json_object"})
    c = r.choices[0]
    if c.finish_reason == "stop":
        assert isinstance(json.loads(c.message.content), dict)
    else:
        assert c.message.content.lstrip().startswith("{")


def test_response_format_unsupported_keyword(client):
    schema = {"type": "object", "properties": {"a": {"type": "string"}}, "not": {"required": ["a"]}}
    with pytest.raises(openai.BadRequestError) as e:
        client.chat.completions.create(model=MODEL, messages=PET_MESSAGES, max_tokens=10,
                                       response_format={"type": "json_schema", "json_schema": {"name": "x", "schema": schema}})
    assert e.value.body["param"] == "response_format.json_schema.schema"
    assert "not" in e.value.body["message"]


def test_grammar_and_regex_extensions(client):
    r = client.completions.create(model=MODEL, prompt="Once upon a time", max_tokens=20, n=3, seed=8,
                                  extra_body={"grammar": 'root ::= ("yes" | "no") "!"'})
    assert all(c.text in ("yes!", "no!") for c in r.choices), [c.text for c in r.choices]
    r = client.completions.create(model=MODEL, prompt="Once upon a time", max_tokens=20, n=3, seed=9,
                                  extra_body={"regex": "[0-9]{3}-[a-z]{2}"})
    assert all(re.fullmatch("[0-9]{3}-[a-z]{2}", c.text) for c in r.choices), [c.text for c in r.choices]


def test_completion_echo(client):
    r = client.completions.create(model=MODEL, prompt="Once upon a time", max_tokens=5, temperature=0,
                                  echo=True, logprobs=1)
    c = r.choices[0]
    assert c.text.startswith("Once upon a time") and len(c.text) > len("Once upon a time")
    lp = c.logprobs
    assert len(lp.tokens) == len(lp.token_logprobs) == len(lp.text_offset) > r.usage.completion_tokens
    assert lp.token_logprobs[0] is None and lp.token_logprobs[-1] <= 0
