"""Google Gemini `POST /v1beta/models/{model}:generateContent` answering JSON.

JSON mode is `generationConfig.responseMimeType: application/json`; a schema goes in `generationConfig.responseSchema`
(Gemini's OpenAPI-subset Schema), keeping only the keywords that object accepts so an ordinary JSON schema
(`additionalProperties`, `$schema`, ...) does not turn into an HTTP 400.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from openpeek.adapters.llm import HttpLlmClient, pick

DEFAULT_BASE_URL = "https://generativelanguage.googleapis.com/v1beta"
_SCHEMA_KEYS = {
    "type", "format", "title", "description", "nullable", "enum", "maxItems", "minItems", "properties", "required",
    "minProperties", "maxProperties", "minLength", "maxLength", "pattern", "example", "anyOf", "propertyOrdering",
    "default", "items", "minimum", "maximum",
}  # fmt: skip
_GENERATION_PARAMETERS = (
    ("temperature", ("temperature",)),
    ("topP", ("top_p", "topP")),
    ("topK", ("top_k", "topK")),
    ("maxOutputTokens", ("max_output_tokens", "max_tokens", "maxOutputTokens")),
    ("stopSequences", ("stop_sequences", "stop", "stopSequences")),
    ("seed", ("seed",)),
    ("presencePenalty", ("presence_penalty",)),
    ("frequencyPenalty", ("frequency_penalty",)),
)


def gemini_schema(schema: Any) -> Any:
    """`schema` reduced to what Gemini's Schema object accepts; a list of types becomes type + nullable."""
    if not isinstance(schema, dict):
        return schema
    reduced: dict[str, Any] = {}
    for key, value in schema.items():
        if key not in _SCHEMA_KEYS:
            continue
        if key == "properties" and isinstance(value, dict):
            reduced[key] = {name: gemini_schema(sub) for name, sub in value.items()}
        elif key == "items":
            reduced[key] = gemini_schema(value)
        elif key == "anyOf" and isinstance(value, list):
            reduced[key] = [gemini_schema(sub) for sub in value]
        elif key == "type" and isinstance(value, list):
            kinds = [kind for kind in value if kind != "null"]
            reduced[key] = kinds[0] if kinds else "string"
            if "null" in value:
                reduced["nullable"] = True
        else:
            reduced[key] = value
    return reduced


class GoogleClient(HttpLlmClient):
    provider = "google"
    display_name = "Google Gemini"
    how_to_enable = "set OPENPEEK_GOOGLE_API_KEY"
    default_base_url = DEFAULT_BASE_URL

    def _build_request(
        self, prompt: str, model: str, parameters: dict[str, Any], schema: dict[str, Any] | None
    ) -> tuple[str, dict[str, str], dict[str, Any]]:
        config: dict[str, Any] = {"responseMimeType": "application/json"}
        if schema is not None:
            config["responseSchema"] = gemini_schema(schema)
        for api_name, names in _GENERATION_PARAMETERS:
            value = pick(parameters, *names)
            if value is not None:
                config[api_name] = value
        body = {"contents": [{"role": "user", "parts": [{"text": prompt}]}], "generationConfig": config}
        url = f"{self._base_url}/models/{quote(model, safe='.-_')}:generateContent"
        return url, {"x-goog-api-key": str(self._api_key)}, body

    def _extract(self, payload: Any) -> Any:
        candidates = payload.get("candidates") or []
        if not candidates:
            raise ValueError("no candidates")  # blocked prompt: promptFeedback.blockReason, no candidates
        parts = candidates[0]["content"]["parts"]
        text = "".join(part["text"] for part in parts if isinstance(part.get("text"), str) and not part.get("thought"))
        if not text:
            raise ValueError("no text")
        return text
