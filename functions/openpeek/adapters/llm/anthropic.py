"""Anthropic Messages `POST /v1/messages` answering JSON.

The Messages API has no JSON mode: without a schema the prompt asks for JSON and the text blocks are parsed (fences
tolerated); with a schema the answer is forced through one tool whose `input_schema` is the schema
(`tool_choice: {"type": "tool"}`), and the tool_use block's `input` is the answer. `max_tokens` is required by the API.
"""

from __future__ import annotations

from typing import Any

from openpeek.adapters.llm import HttpLlmClient, pick

DEFAULT_BASE_URL = "https://api.anthropic.com/v1"
API_VERSION = "2023-06-01"
DEFAULT_MAX_TOKENS = 4096
TOOL_NAME = "record_cluster_labels"


class AnthropicClient(HttpLlmClient):
    provider = "anthropic"
    display_name = "Anthropic"
    how_to_enable = "set OPENPEEK_ANTHROPIC_API_KEY"
    default_base_url = DEFAULT_BASE_URL

    def _build_request(
        self, prompt: str, model: str, parameters: dict[str, Any], schema: dict[str, Any] | None
    ) -> tuple[str, dict[str, str], dict[str, Any]]:
        max_tokens = pick(parameters, "max_tokens", "max_output_tokens")
        body: dict[str, Any] = {
            "model": model,
            "max_tokens": int(max_tokens) if max_tokens is not None else DEFAULT_MAX_TOKENS,
            "messages": [{"role": "user", "content": prompt}],
        }
        for api_name, names in (
            ("temperature", ("temperature",)),
            ("top_p", ("top_p",)),
            ("top_k", ("top_k",)),
            ("stop_sequences", ("stop_sequences", "stop")),
        ):
            value = pick(parameters, *names)
            if value is not None:
                body[api_name] = [value] if api_name == "stop_sequences" and isinstance(value, str) else value
        if schema is not None:
            input_schema = schema if schema.get("type") == "object" else {"type": "object", "properties": {}}
            description = "Record the answer as structured JSON."
            tool = {"name": TOOL_NAME, "description": description, "input_schema": input_schema}
            body["tools"] = [tool]
            body["tool_choice"] = {"type": "tool", "name": TOOL_NAME}
        else:
            body["system"] = "Answer with JSON only, no prose and no code fences."
        headers = {"x-api-key": str(self._api_key), "anthropic-version": API_VERSION}
        return f"{self._base_url}/messages", headers, body

    def _extract(self, payload: Any) -> Any:
        blocks = payload["content"]
        for block in blocks:
            if block.get("type") == "tool_use" and block.get("name") == TOOL_NAME:
                return block["input"]
        text = "".join(block["text"] for block in blocks if block.get("type") == "text")
        if not text:
            raise ValueError("no text")
        return text
