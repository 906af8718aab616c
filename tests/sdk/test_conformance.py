"""Every official SDK (OpenAI Chat Completions and Responses, Anthropic,
Google GenAI) against every upstream api_format, non-streamed and streamed:
system prompt, multi-turn text, image input, tool declaration → tool call →
tool result, usage and stop reason. The SDKs' own stream helpers must
accumulate the same content as the non-streamed call."""

import base64
import json

import anthropic
import openai
import pytest
from google import genai
from google.genai import types

from conftest import CLIENT_KEY, UPSTREAMS

# A 1x1 PNG.
PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg=="
)
PNG_B64 = base64.b64encode(PNG).decode()
SYSTEM = "Be brief."
EXPECTED_TEXT = f"Echo: What is this? | system: {SYSTEM} | turns: 3 | images: 1"
TOOL_RESULT = "18C and sunny"
EXPECTED_AFTER_TOOL = f"Tool said: {TOOL_RESULT}"
WEATHER_SCHEMA = {
    "type": "object",
    "properties": {"city": {"type": "string", "description": "City name"}},
    "required": ["city"],
}
MODEL = "sim-model"
upstreams = pytest.mark.parametrize("slug", list(UPSTREAMS))
streamed = pytest.mark.parametrize("stream", [False, True], ids=["plain", "stream"])


# ---------- OpenAI Chat Completions ----------


def openai_client(gateway, slug):
    return openai.OpenAI(base_url=f"{gateway}/llm/{slug}/v1", api_key=CLIENT_KEY, max_retries=0)


def chat(client, stream, **kwargs):
    if not stream:
        return client.chat.completions.create(model=MODEL, **kwargs)
    with client.chat.completions.stream(model=MODEL, stream_options={"include_usage": True}, **kwargs) as s:
        return s.get_final_completion()


@upstreams
@streamed
def test_openai_chat_text_system_multi_turn_image(gateway, slug, stream):
    client = openai_client(gateway, slug)
    completion = chat(
        client,
        stream,
        messages=[
            {"role": "system", "content": SYSTEM},
            {"role": "user", "content": "Hi"},
            {"role": "assistant", "content": "Hello!"},
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "What is this?"},
                    {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{PNG_B64}"}},
                ],
            },
        ],
    )
    choice = completion.choices[0]
    assert choice.message.content == EXPECTED_TEXT
    assert choice.finish_reason == "stop"
    assert completion.usage.prompt_tokens == 11
    assert completion.usage.completion_tokens == 7
    assert completion.usage.total_tokens == 18


@upstreams
@streamed
def test_openai_chat_tool_round_trip(gateway, slug, stream):
    client = openai_client(gateway, slug)
    tools = [{"type": "function", "function": {"name": "get_weather", "description": "Weather", "parameters": WEATHER_SCHEMA}}]
    messages = [{"role": "user", "content": "Weather in Paris?"}]
    first = chat(client, stream, messages=messages, tools=tools)
    choice = first.choices[0]
    assert choice.finish_reason == "tool_calls"
    assert len(choice.message.tool_calls) == 1
    call = choice.message.tool_calls[0]
    assert call.function.name == "get_weather"
    assert json.loads(call.function.arguments) == {"city": "Paris"}
    assert call.id
    messages.append(choice.message.model_dump(exclude_none=True, exclude={"parsed"}))
    messages.append({"role": "tool", "tool_call_id": call.id, "content": TOOL_RESULT})
    second = chat(client, stream, messages=messages, tools=tools)
    assert second.choices[0].message.content == EXPECTED_AFTER_TOOL
    assert second.choices[0].finish_reason == "stop"


# ---------- OpenAI Responses ----------


def respond(client, stream, **kwargs):
    if not stream:
        return client.responses.create(model=MODEL, **kwargs)
    with client.responses.stream(model=MODEL, **kwargs) as s:
        return s.get_final_response()


@upstreams
@streamed
def test_openai_responses_text_system_multi_turn_image(gateway, slug, stream):
    client = openai_client(gateway, slug)
    response = respond(
        client,
        stream,
        instructions=SYSTEM,
        input=[
            {"role": "user", "content": "Hi"},
            {"role": "assistant", "content": "Hello!"},
            {
                "role": "user",
                "content": [
                    {"type": "input_text", "text": "What is this?"},
                    {"type": "input_image", "image_url": f"data:image/png;base64,{PNG_B64}"},
                ],
            },
        ],
    )
    assert response.output_text == EXPECTED_TEXT
    assert response.status == "completed"
    assert response.usage.input_tokens == 11
    assert response.usage.output_tokens == 7


@upstreams
@streamed
def test_openai_responses_tool_round_trip(gateway, slug, stream):
    client = openai_client(gateway, slug)
    tools = [{"type": "function", "name": "get_weather", "description": "Weather", "parameters": WEATHER_SCHEMA}]
    items = [{"role": "user", "content": "Weather in Paris?"}]
    first = respond(client, stream, input=items, tools=tools)
    calls = [item for item in first.output if item.type == "function_call"]
    assert len(calls) == 1
    assert calls[0].name == "get_weather"
    assert json.loads(calls[0].arguments) == {"city": "Paris"}
    items.append({"type": "function_call", "call_id": calls[0].call_id, "name": calls[0].name, "arguments": calls[0].arguments})
    items.append({"type": "function_call_output", "call_id": calls[0].call_id, "output": TOOL_RESULT})
    second = respond(client, stream, input=items, tools=tools)
    assert second.output_text == EXPECTED_AFTER_TOOL


# ---------- Anthropic ----------


def anthropic_client(gateway, slug):
    return anthropic.Anthropic(base_url=f"{gateway}/llm/{slug}", api_key=CLIENT_KEY, max_retries=0)


def message(client, stream, **kwargs):
    if not stream:
        return client.messages.create(model=MODEL, max_tokens=256, **kwargs)
    with client.messages.stream(model=MODEL, max_tokens=256, **kwargs) as s:
        return s.get_final_message()


@upstreams
@streamed
def test_anthropic_text_system_multi_turn_image(gateway, slug, stream):
    client = anthropic_client(gateway, slug)
    reply = message(
        client,
        stream,
        system=SYSTEM,
        messages=[
            {"role": "user", "content": "Hi"},
            {"role": "assistant", "content": "Hello!"},
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "What is this?"},
                    {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": PNG_B64}},
                ],
            },
        ],
    )
    assert [block.type for block in reply.content] == ["text"]
    assert reply.content[0].text == EXPECTED_TEXT
    assert reply.stop_reason == "end_turn"
    assert reply.usage.input_tokens == 11
    assert reply.usage.output_tokens == 7


@upstreams
@streamed
def test_anthropic_tool_round_trip(gateway, slug, stream):
    client = anthropic_client(gateway, slug)
    tools = [{"name": "get_weather", "description": "Weather", "input_schema": WEATHER_SCHEMA}]
    messages = [{"role": "user", "content": "Weather in Paris?"}]
    first = message(client, stream, messages=messages, tools=tools)
    assert first.stop_reason == "tool_use"
    uses = [block for block in first.content if block.type == "tool_use"]
    assert len(uses) == 1
    assert uses[0].name == "get_weather"
    assert uses[0].input == {"city": "Paris"}
    messages.append({"role": "assistant", "content": [block.model_dump(exclude_none=True) for block in first.content]})
    messages.append({"role": "user", "content": [{"type": "tool_result", "tool_use_id": uses[0].id, "content": TOOL_RESULT}]})
    second = message(client, stream, messages=messages, tools=tools)
    assert second.content[0].text == EXPECTED_AFTER_TOOL
    assert second.stop_reason == "end_turn"


# ---------- Google GenAI ----------


def gemini_client(gateway, slug):
    return genai.Client(
        api_key=CLIENT_KEY,
        http_options=types.HttpOptions(base_url=f"{gateway}/llm/{slug}", api_version="v1beta"),
    )


def generate(client, stream, contents, config):
    """(text, function calls, finish reason, usage) of one turn."""
    if not stream:
        response = client.models.generate_content(model=MODEL, contents=contents, config=config)
        candidate = response.candidates[0]
        calls = [p.function_call for p in candidate.content.parts if p.function_call]
        text = "".join(p.text for p in candidate.content.parts if p.text)
        return text, calls, candidate.finish_reason, response.usage_metadata
    text, calls, finish, usage = "", [], None, None
    for chunk in client.models.generate_content_stream(model=MODEL, contents=contents, config=config):
        candidate = chunk.candidates[0]
        for part in (candidate.content.parts if candidate.content and candidate.content.parts else []):
            if part.text:
                text += part.text
            if part.function_call:
                calls.append(part.function_call)
        finish = candidate.finish_reason or finish
        usage = chunk.usage_metadata or usage
    return text, calls, finish, usage


@upstreams
@streamed
def test_gemini_text_system_multi_turn_image(gateway, slug, stream):
    client = gemini_client(gateway, slug)
    contents = [
        types.Content(role="user", parts=[types.Part(text="Hi")]),
        types.Content(role="model", parts=[types.Part(text="Hello!")]),
        types.Content(
            role="user",
            parts=[types.Part(text="What is this?"), types.Part.from_bytes(data=PNG, mime_type="image/png")],
        ),
    ]
    config = types.GenerateContentConfig(system_instruction=SYSTEM)
    text, calls, finish, usage = generate(client, stream, contents, config)
    assert text == EXPECTED_TEXT
    assert calls == []
    assert finish == types.FinishReason.STOP
    assert usage.prompt_token_count == 11
    assert usage.candidates_token_count == 7


@upstreams
@streamed
def test_gemini_tool_round_trip(gateway, slug, stream):
    client = gemini_client(gateway, slug)
    declaration = types.FunctionDeclaration(
        name="get_weather",
        description="Weather",
        parameters=types.Schema(
            type=types.Type.OBJECT,
            properties={"city": types.Schema(type=types.Type.STRING, description="City name")},
            required=["city"],
        ),
    )
    config = types.GenerateContentConfig(
        tools=[types.Tool(function_declarations=[declaration])],
        automatic_function_calling=types.AutomaticFunctionCallingConfig(disable=True),
    )
    contents = [types.Content(role="user", parts=[types.Part(text="Weather in Paris?")])]
    text, calls, finish, _ = generate(client, stream, contents, config)
    assert len(calls) == 1
    assert calls[0].name == "get_weather"
    assert calls[0].args == {"city": "Paris"}
    contents.append(types.Content(role="model", parts=[types.Part(function_call=calls[0])]))
    contents.append(
        types.Content(
            role="user",
            parts=[types.Part.from_function_response(name="get_weather", response={"result": TOOL_RESULT})],
        )
    )
    text, calls, finish, _ = generate(client, stream, contents, config)
    assert text == EXPECTED_AFTER_TOOL
    assert calls == []
