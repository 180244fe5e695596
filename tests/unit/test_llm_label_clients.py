"""The three LLM clients against httpx.MockTransport: the exact request each provider would receive (URL, headers,
body, JSON mode, schema, parameter names), their real response shapes, and failures that must become
DependencyUnavailable without ever showing the API key."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

from openpeek.adapters.llm import build_clients, parse_json_text
from openpeek.adapters.llm.anthropic import AnthropicClient
from openpeek.adapters.llm.google import GoogleClient, gemini_schema
from openpeek.adapters.llm.openai import OpenAiClient
from openpeek.domain.failures import DependencyUnavailable

OPENAI_KEY = "sk-proj-openpeekTESTkey0123456789abcdef"
GOOGLE_KEY = "AIzaSyOPENPEEKtestKEY0123456789abcdefg"
ANTHROPIC_KEY = "sk-ant-api03-openpeekTESTkey0123456789"
PROMPT = "Label these clusters as JSON. Samples: gaming laptop with RGB keyboard; ultrabook for travel"
ITEM = {"type": "object", "properties": {"label": {"type": "string"}}, "required": ["label"]}
SCHEMA = {
    "type": "object",
    "properties": {"clusters": {"type": "array", "items": {**ITEM, "additionalProperties": False}}},
    "required": ["clusters"],
}
ANSWER = {"clusters": [{"cluster_id": "cl_0", "label": "Gaming Laptops"}]}


def openai_body(content: str) -> dict[str, Any]:
    return {
        "id": "chatcmpl-123", "object": "chat.completion", "created": 1, "model": "gpt-4o-mini-2024-07-18",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": content, "refusal": None},
                     "logprobs": None, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15},
    }  # fmt: skip


def gemini_body(*texts: str) -> dict[str, Any]:
    return {
        "candidates": [{"content": {"parts": [{"text": text} for text in texts], "role": "model"},
                        "finishReason": "STOP", "index": 0}],
        "usageMetadata": {"promptTokenCount": 10, "candidatesTokenCount": 5, "totalTokenCount": 15},
        "modelVersion": "gemini-2.5-flash-lite",
    }  # fmt: skip


def anthropic_body(content: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "id": "msg_01", "type": "message", "role": "assistant", "model": "claude-haiku-4-5-20251001",
        "content": content, "stop_reason": "end_turn", "stop_sequence": None,
        "usage": {"input_tokens": 10, "output_tokens": 5},
    }  # fmt: skip


def recording(response: httpx.Response) -> tuple[list[httpx.Request], httpx.MockTransport]:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return response

    return seen, httpx.MockTransport(handler)


# -- OpenAI ----------------------------------------------------------------------------------------------------------


def test_openai_posts_chat_completions_in_json_mode_and_parses_the_message_content() -> None:
    seen, transport = recording(httpx.Response(200, json=openai_body(json.dumps(ANSWER))))

    answer = OpenAiClient(OPENAI_KEY, transport=transport).complete_json(
        PROMPT, model="gpt-4o-mini-2024-07-18", parameters={"temperature": 0.2, "max_tokens": 500, "top_k": 3}
    )

    assert answer == ANSWER
    (request,) = seen
    assert request.method == "POST"
    assert str(request.url) == "https://api.openai.com/v1/chat/completions"
    assert request.headers["Authorization"] == f"Bearer {OPENAI_KEY}"
    assert request.headers["Content-Type"] == "application/json"
    assert json.loads(request.content) == {
        "model": "gpt-4o-mini-2024-07-18",
        "messages": [{"role": "user", "content": PROMPT}],
        "response_format": {"type": "json_object"},
        "temperature": 0.2,
        "max_tokens": 500,  # top_k has no OpenAI name and is dropped
    }


def test_openai_sends_a_schema_as_structured_outputs() -> None:
    seen, transport = recording(httpx.Response(200, json=openai_body(json.dumps(ANSWER))))

    OpenAiClient(OPENAI_KEY, transport=transport).complete_json(PROMPT, model="gpt-4o-2024-08-06", schema=SCHEMA)

    body = json.loads(seen[0].content)
    assert body["response_format"] == {
        "type": "json_schema",
        "json_schema": {"name": "cluster_labels", "schema": SCHEMA, "strict": False},
    }


def test_openai_reasoning_models_get_max_completion_tokens_and_no_sampling_parameters() -> None:
    seen, transport = recording(httpx.Response(200, json=openai_body("{}")))

    OpenAiClient(OPENAI_KEY, transport=transport).complete_json(
        PROMPT, model="o3-mini-2025-01-31", parameters={"temperature": 0.5, "top_p": 0.9, "max_output_tokens": 800}
    )

    body = json.loads(seen[0].content)
    assert body["max_completion_tokens"] == 800
    assert "max_tokens" not in body and "temperature" not in body and "top_p" not in body


def test_openai_refusal_is_a_dependency_failure() -> None:
    refused = openai_body("")
    refused["choices"][0]["message"].update(content=None, refusal="I can't help with that")
    _, transport = recording(httpx.Response(200, json=refused))

    with pytest.raises(DependencyUnavailable, match="unreadable"):
        OpenAiClient(OPENAI_KEY, transport=transport).complete_json(PROMPT, model="gpt-4o-2024-08-06")


# -- Google ----------------------------------------------------------------------------------------------------------


def test_google_posts_generate_content_with_json_mime_type_and_joins_the_parts() -> None:
    parts = ('{"clusters": [{"cluster_id": "cl_0", ', '"label": "Gaming Laptops"}]}')
    seen, transport = recording(httpx.Response(200, json=gemini_body(*parts)))

    answer = GoogleClient(GOOGLE_KEY, transport=transport).complete_json(
        PROMPT, model="gemini-2.5-flash-lite",
        parameters={"temperature": 0.1, "top_k": 20, "top_p": 0.8, "max_tokens": 256, "unknown": 1},
    )  # fmt: skip

    assert answer == ANSWER
    (request,) = seen
    assert str(request.url) == (
        "https://generativelanguage.googleapis.com/v1beta/models/gemini-2.5-flash-lite:generateContent"
    )
    assert request.headers["x-goog-api-key"] == GOOGLE_KEY
    assert "key=" not in str(request.url)
    assert json.loads(request.content) == {
        "contents": [{"role": "user", "parts": [{"text": PROMPT}]}],
        "generationConfig": {
            "responseMimeType": "application/json",
            "temperature": 0.1,
            "topP": 0.8,
            "topK": 20,
            "maxOutputTokens": 256,
        },
    }


def test_google_sends_the_schema_reduced_to_what_gemini_accepts() -> None:
    seen, transport = recording(httpx.Response(200, json=gemini_body(json.dumps(ANSWER))))

    GoogleClient(GOOGLE_KEY, transport=transport).complete_json(PROMPT, model="gemini-2.5-pro", schema=SCHEMA)

    config = json.loads(seen[0].content)["generationConfig"]
    assert config["responseMimeType"] == "application/json"
    assert config["responseSchema"] == {
        "type": "object",
        "properties": {"clusters": {"type": "array", "items": ITEM}},
        "required": ["clusters"],
    }  # additionalProperties dropped


def test_gemini_schema_turns_a_nullable_type_list_into_nullable() -> None:
    assert gemini_schema({"type": ["string", "null"], "$schema": "x", "maxLength": 5}) == {
        "type": "string",
        "nullable": True,
        "maxLength": 5,
    }


def test_google_without_candidates_is_a_dependency_failure() -> None:
    _, transport = recording(httpx.Response(200, json={"promptFeedback": {"blockReason": "SAFETY"}}))

    with pytest.raises(DependencyUnavailable, match="Google Gemini answered with an unreadable body"):
        GoogleClient(GOOGLE_KEY, transport=transport).complete_json(PROMPT, model="gemini-2.5-flash")


# -- Anthropic -------------------------------------------------------------------------------------------------------


def test_anthropic_posts_messages_with_version_header_and_required_max_tokens() -> None:
    text = "```json\n" + json.dumps(ANSWER) + "\n```"
    seen, transport = recording(httpx.Response(200, json=anthropic_body([{"type": "text", "text": text}])))

    answer = AnthropicClient(ANTHROPIC_KEY, transport=transport).complete_json(
        PROMPT, model="claude-haiku-4-5-20251001", parameters={"temperature": 0.3, "top_k": 5, "stop": "END"}
    )

    assert answer == ANSWER
    (request,) = seen
    assert str(request.url) == "https://api.anthropic.com/v1/messages"
    assert request.headers["x-api-key"] == ANTHROPIC_KEY
    assert request.headers["anthropic-version"] == "2023-06-01"
    assert "Authorization" not in request.headers
    assert json.loads(request.content) == {
        "model": "claude-haiku-4-5-20251001",
        "max_tokens": 4096,
        "messages": [{"role": "user", "content": PROMPT}],
        "temperature": 0.3,
        "top_k": 5,
        "stop_sequences": ["END"],
        "system": "Answer with JSON only, no prose and no code fences.",
    }


def test_anthropic_forces_a_schema_through_one_tool_and_reads_its_input() -> None:
    content = [{"type": "tool_use", "id": "toolu_1", "name": "record_cluster_labels", "input": ANSWER}]
    seen, transport = recording(httpx.Response(200, json=anthropic_body(content)))

    answer = AnthropicClient(ANTHROPIC_KEY, transport=transport).complete_json(
        PROMPT, model="claude-sonnet-4-5-20250929", parameters={"max_output_tokens": 700}, schema=SCHEMA
    )

    assert answer == ANSWER
    body = json.loads(seen[0].content)
    assert body["max_tokens"] == 700
    assert body["tools"] == [
        {"name": "record_cluster_labels", "description": "Record the answer as structured JSON.",
         "input_schema": SCHEMA}
    ]
    assert body["tool_choice"] == {"type": "tool", "name": "record_cluster_labels"}


def test_anthropic_joins_text_blocks_and_skips_other_block_types() -> None:
    content = [
        {"type": "thinking", "thinking": "[not json", "signature": "x"},
        {"type": "text", "text": '{"clusters": '},
        {"type": "text", "text": '[{"cluster_id": "cl_0", "label": "Gaming Laptops"}]}'},
    ]
    _, transport = recording(httpx.Response(200, json=anthropic_body(content)))

    client = AnthropicClient(ANTHROPIC_KEY, transport=transport)
    answer = client.complete_json(PROMPT, model="claude-3-5-haiku-20241022")

    assert answer == ANSWER


# -- shared behaviour ------------------------------------------------------------------------------------------------

CLIENTS = [
    (OpenAiClient, OPENAI_KEY, "gpt-4o-2024-08-06", "OPENPEEK_OPENAI_API_KEY", lambda text: openai_body(text)),
    (GoogleClient, GOOGLE_KEY, "gemini-2.5-flash-lite", "OPENPEEK_GOOGLE_API_KEY", lambda text: gemini_body(text)),
    (AnthropicClient, ANTHROPIC_KEY, "claude-haiku-4-5-20251001", "OPENPEEK_ANTHROPIC_API_KEY",
     lambda text: anthropic_body([{"type": "text", "text": text}])),
]  # fmt: skip
IDS = ["openai", "google", "anthropic"]


@pytest.mark.parametrize(("cls", "key", "model", "setting", "body"), CLIENTS, ids=IDS)
@pytest.mark.parametrize("missing", [None, ""])
def test_without_a_key_the_client_is_unusable_and_never_calls_out(cls, key, model, setting, body, missing) -> None:
    seen, transport = recording(httpx.Response(200, json=body("{}")))
    client = cls(missing, transport=transport)

    assert client.usable is False
    with pytest.raises(DependencyUnavailable, match=setting):
        client.complete_json(PROMPT, model=model)
    assert seen == []
    assert cls(key).usable is True


@pytest.mark.parametrize(("cls", "key", "model", "setting", "body"), CLIENTS, ids=IDS)
@pytest.mark.parametrize("status", [401, 403])
def test_a_rejected_key_names_the_setting_but_not_the_key(cls, key, model, setting, body, status) -> None:
    _, transport = recording(httpx.Response(status, json={"error": {"message": f"Incorrect API key provided: {key}"}}))

    with pytest.raises(DependencyUnavailable) as caught:
        cls(key, transport=transport).complete_json(PROMPT, model=model)

    assert setting in str(caught.value) and f"HTTP {status}" in str(caught.value)
    assert key not in str(caught.value) and key[:12] not in str(caught.value)


@pytest.mark.parametrize(("cls", "key", "model", "setting", "body"), CLIENTS, ids=IDS)
def test_server_errors_quote_the_provider_message_scrubbed(cls, key, model, setting, body) -> None:
    message = f"upstream overloaded for key {key} (sk-abc***xyz)"
    _, transport = recording(httpx.Response(500, json={"error": {"message": message}}))

    with pytest.raises(DependencyUnavailable) as caught:
        cls(key, transport=transport).complete_json(PROMPT, model=model)

    text = str(caught.value)
    assert "HTTP 500" in text and "upstream overloaded" in text
    assert key not in text and "sk-abc" not in text
    assert len(text) <= 200


@pytest.mark.parametrize(("cls", "key", "model", "setting", "body"), CLIENTS, ids=IDS)
def test_rate_limits_are_reported_as_such(cls, key, model, setting, body) -> None:
    _, transport = recording(httpx.Response(429, json={"error": {"message": "slow down"}}))

    with pytest.raises(DependencyUnavailable, match="rate limited"):
        cls(key, transport=transport).complete_json(PROMPT, model=model)


@pytest.mark.parametrize(("cls", "key", "model", "setting", "body"), CLIENTS, ids=IDS)
def test_timeouts_and_network_errors_become_dependency_failures(cls, key, model, setting, body) -> None:
    def timeout(request: httpx.Request) -> httpx.Response:
        raise httpx.ReadTimeout("timed out", request=request)

    def refused(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError(f"connection refused {key}", request=request)

    with pytest.raises(DependencyUnavailable, match="timed out after 7s"):
        cls(key, timeout=7, transport=httpx.MockTransport(timeout)).complete_json(PROMPT, model=model)
    with pytest.raises(DependencyUnavailable, match="could not be reached") as caught:
        cls(key, transport=httpx.MockTransport(refused)).complete_json(PROMPT, model=model)
    assert key not in str(caught.value)


@pytest.mark.parametrize(("cls", "key", "model", "setting", "body"), CLIENTS, ids=IDS)
def test_an_answer_that_is_not_json_is_a_dependency_failure(cls, key, model, setting, body) -> None:
    _, transport = recording(httpx.Response(200, json=body("Sure! The first cluster is about laptops.")))

    with pytest.raises(DependencyUnavailable, match="not JSON"):
        cls(key, transport=transport).complete_json(PROMPT, model=model)


@pytest.mark.parametrize(("cls", "key", "model", "setting", "body"), CLIENTS, ids=IDS)
def test_a_body_that_is_not_the_provider_shape_is_a_dependency_failure(cls, key, model, setting, body) -> None:
    _, html = recording(httpx.Response(200, text="<html>gateway</html>"))
    _, wrong = recording(httpx.Response(200, json={"unexpected": True}))

    for transport in (html, wrong):
        with pytest.raises(DependencyUnavailable, match="unreadable body"):
            cls(key, transport=transport).complete_json(PROMPT, model=model)


@pytest.mark.parametrize(("cls", "key", "model", "setting", "body"), CLIENTS, ids=IDS)
def test_fenced_json_answers_are_parsed(cls, key, model, setting, body) -> None:
    fenced = '```json\n[{"cluster_id": "cl_1", "label": "Tents"}]\n```'
    _, transport = recording(httpx.Response(200, json=body(fenced)))

    answer = cls(key, transport=transport).complete_json(PROMPT, model=model)
    assert answer == [{"cluster_id": "cl_1", "label": "Tents"}]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('{"a": 1}', {"a": 1}),
        ("```json\n[1, 2]\n```", [1, 2]),
        ("```\n{\"a\": [1]}\n```", {"a": [1]}),
        ('Here you go:\n[{"label": "X"}]\nHope that helps', [{"label": "X"}]),
    ],
)
def test_parse_json_text_tolerates_fences_and_prose(text: str, expected: Any) -> None:
    assert parse_json_text(text) == expected


def test_parse_json_text_refuses_text_without_json() -> None:
    with pytest.raises(ValueError):
        parse_json_text("no json { here")


def test_build_clients_keys_the_clients_by_mixpeek_provider_name() -> None:
    clients = build_clients(openai_api_key="sk-x", google_api_key=None, anthropic_api_key="sk-ant-y")

    assert {name: type(client) for name, client in clients.items()} == {
        "openai": OpenAiClient, "google": GoogleClient, "anthropic": AnthropicClient,
    }  # fmt: skip
    assert {name: client.usable for name, client in clients.items()} == {
        "openai": True, "google": False, "anthropic": True,
    }  # fmt: skip
