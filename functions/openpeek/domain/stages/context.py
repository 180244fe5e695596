"""Text assembly for stages that hand documents to a reader (rag_prepare, summarize, the LLM stages): document
templates with `{{DOC.path}}` / `{{CONTEXT.INDEX}}` placeholders, a token estimate, and fitting a token budget.

Token counts are estimates (about four characters per token, the ratio of OpenAI's cl100k_base on English prose): no
tokenizer tables ship with openpeek and none may be downloaded at run time. Budgets are therefore approximate, and the
stages say so in their statistics."""

from __future__ import annotations

import json
import math
import re
from typing import Any, Callable

CHARS_PER_TOKEN = 4
PLACEHOLDER = re.compile(r"\{\{\s*([A-Za-z_][A-Za-z0-9_]*)(?:\.([A-Za-z0-9_.\-]+))?\s*\}\}")


def estimate_tokens(text: str) -> int:
    return math.ceil(len(text) / CHARS_PER_TOKEN)


def truncate_to_tokens(text: str, tokens: int) -> str:
    return text[: max(0, tokens) * CHARS_PER_TOKEN]


def as_text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False, default=str)


def render(template: str, lookup: Callable[[str, str | None], Any]) -> str:
    """Replace every `{{SCOPE}}` / `{{SCOPE.path}}`; `lookup(scope, path)` gives the value (None → empty)."""
    return PLACEHOLDER.sub(lambda match: as_text(lookup(match.group(1), match.group(2))), template)


def placeholders(template: str) -> list[tuple[str, str | None]]:
    return [(match.group(1), match.group(2)) for match in PLACEHOLDER.finditer(template)]


def fit_budget(texts: list[str], budget: int, strategy: str) -> tuple[list[str], int]:
    """Texts cut to fit `budget` tokens in all, and how many were dropped entirely.

    priority_truncate / smart: in order, whole while they fit, the first that does not fit is cut, the rest dropped;
    drop_last: whole texts in order until one does not fit; proportional / truncate_each: an equal share each."""
    if strategy in ("proportional", "truncate_each"):
        share = budget // max(1, len(texts))
        return [t if estimate_tokens(t) <= share else truncate_to_tokens(t, share) for t in texts], 0
    kept: list[str] = []
    used = 0
    for text in texts:
        cost = estimate_tokens(text)
        if used + cost <= budget:
            kept.append(text)
            used += cost
            continue
        if strategy != "drop_last" and budget - used > 0:
            kept.append(truncate_to_tokens(text, budget - used))
        break
    return kept, len(texts) - len(kept)
