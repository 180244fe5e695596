"""OpenAI Chat Completions (`POST /v1/chat/completions`) answering JSON.

JSON mode is `response_format: {"type": "json_object"}`; with a schema it is Structured Outputs
(`{"type": "json_schema", "json_schema": {"name", "schema", "strict": false}}` — not strict, because strict mode
rejects ordinary user schemas that lack `additionalProperties: false` or list optional properties).
"""

from __future__ import annotations

from typing import Any

from openpeek.adapters.llm import HttpLlmClient, pick

DEFAULT_BASE_URL = "https://api.openai.com/v1"
_PASS_THROUGH = ("presence_penalty", "frequency_penalty", "seed", "stop", "reasoning_effort")


def _is_reasoning_model(model: str) -> bool:
    # o1/o3/o4 models take max_completion_tokens and refuse temperature / top_p.
    return len(model) > 1 and model[0] == "o" and model[1].isdigit()


class OpenAiClient(HttpLlmClient):
    provider = "openai"
    display_name = "OpenAI"
    how_to_enable = "set OPENPEEK_OPENAI_API_KEY"
    default_base_url = DEFAULT_BASE_URL

    def _build_request(
        self, prompt: str, model: str, parameters: dict[str, Any], schema: dict[str, Any] | None
    ) -> tuple[str, dict[str, str], dict[str, Any]]:
        body: dict[str, Any] = {"model": model, "messages": [{"role": "user", "content": prompt}]}
        if schema is None:
            body["response_format"] = {"type": "json_object"}
        else:
            body["response_format"] = {
                "type": "json_schema",
                "json_schema": {"name": "cluster_labels", "schema": schema, "strict": False},
            }
        reasoning = _is_reasoning_model(model)
        max_tokens = pick(parameters, "max_tokens", "max_output_tokens", "max_completion_tokens")
        if max_tokens is not None:
            body["max_completion_tokens" if reasoning else "max_tokens"] = max_tokens
        if not reasoning:
            for name in ("temperature", "top_p"):
                if parameters.get(name) is not None:
                    body[name] = parameters[name]
        for name in _PASS_THROUGH:
            if parameters.get(name) is not None and (reasoning or name != "reasoning_effort"):
                body[name] = parameters[name]
        headers = {"Authorization": f"Bearer {self._api_key}"}
        return f"{self._base_url}/chat/completions", headers, body

    def _extract(self, payload: Any) -> Any:
        message = payload["choices"][0]["message"]
        if message.get("refusal"):
            raise ValueError("refused")
        content = message["content"]
        if not isinstance(content, str):
            raise TypeError("no text content")
        return content
