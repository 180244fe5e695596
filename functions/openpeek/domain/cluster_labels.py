"""The rules of LLM cluster labeling (Mixpeek's `llm_labeling`, LLMLabelingInput), pure: the config and its checks,
the providers and their models, samples trimmed for the prompt, the prompt and the structured-output schema, reading
and validating an answer, the cache key, and making near-duplicate labels distinct. services/clustering/labeling.py
calls the providers and the cache with them."""

from __future__ import annotations

import hashlib
import json
import math
import re
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping, Sequence

from openpeek.domain.errors import BadRequest

PROVIDER_MODELS: dict[str, tuple[str, ...]] = {
    "openai": (
        "gpt-4o-2024-08-06", "gpt-4o-mini-2024-07-18", "gpt-4.1-2025-04-14", "gpt-4.1-mini-2025-04-14",
        "o3-mini-2025-01-31",
    ),
    "google": (
        "gemini-2.5-flash-lite", "gemini-2.5-flash", "gemini-2.5-pro", "gemini-3.1-flash-lite", "gemini-3.5-flash-lite",
    ),
    "anthropic": (
        "claude-sonnet-4-5-20250929", "claude-haiku-4-5-20251001", "claude-3-5-sonnet-20241022",
        "claude-3-5-haiku-20241022",
    ),
    "typesafe": ("jev-latest", "jev-preview", "jev-1.13.0"),
}  # fmt: skip
SUPPORTED_PROVIDERS = ("openai", "google", "anthropic")
DEFAULT_PROVIDER = "google"
DEFAULT_MODELS = {
    "google": "gemini-2.5-flash-lite",  # the spec's DEFAULT
    "openai": "gpt-4o-mini-2024-07-18",  # the spec's "recommended for most use cases"
    "anthropic": "claude-haiku-4-5-20251001",
}

BATCH_SIZE = 10  # clusters per LLM call
CACHE_FORMAT = 1  # part of the cache key: bump when the prompt or the stored shape changes meaningfully
DEFAULT_SAMPLES = 5  # when max_samples_per_cluster is null and the cluster's size is unknown
MAX_LABEL_CHARS = 200
MAX_KEYWORDS = 10

DEFAULTS: dict[str, Any] = {
    "include_summary": True,
    "include_keywords": True,
    "max_samples_per_cluster": None,
    "sample_text_max_length": 200,
    "use_embedding_dedup": True,
    "embedding_similarity_threshold": 0.8,
    "cache_ttl_seconds": 604800,
}
_STOPWORDS = frozenset({"a", "an", "and", "the", "of", "for", "in", "on", "with", "to", "or", "by", "at"})
_JSON_TYPES: dict[str, Callable[[Any], bool]] = {
    "string": lambda v: isinstance(v, str),
    "number": lambda v: isinstance(v, (int, float)) and not isinstance(v, bool),
    "integer": lambda v: isinstance(v, int) and not isinstance(v, bool),
    "boolean": lambda v: isinstance(v, bool),
    "array": lambda v: isinstance(v, list),
    "object": lambda v: isinstance(v, dict),
    "null": lambda v: v is None,
}


# -- data ------------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ClusterSample:
    """One cluster as the labeler sees it: its offline labels (the fallback) and its representative documents.

    `size` (member count), when known, scales the number of samples sent if max_samples_per_cluster is null."""

    cluster_id: str
    label: str | None
    keywords: Sequence[str]
    summary: str | None
    representative_ids: Sequence[str]
    representative_texts: Sequence[str]
    size: int | None = None


@dataclass
class ClusterLabel:
    label: str | None
    keywords: list[str]
    summary: str | None
    extra: dict[str, Any] = field(default_factory=dict)
    source: str = "fallback"  # "llm", "cache" or "fallback"


@dataclass
class LabelingOutcome:
    labels: dict[str, ClusterLabel]
    errors: list[str]  # JSON strings {"error": ..., "clusters": [...]}


class LabelingConfigError(BadRequest, ValueError):
    """An llm_labeling config that cannot run; `problems` lists each reason."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__(
            "invalid llm_labeling: " + "; ".join(problems), code="invalid_llm_labeling", details={"problems": problems}
        )
        self.problems = problems


# -- config ----------------------------------------------------------------------------------------------------------


def provider_of_model(model: str) -> str | None:
    for provider, models in PROVIDER_MODELS.items():
        if model in models:
            return provider
    return None


def resolve_provider_and_model(config: Mapping[str, Any]) -> tuple[str, str]:
    """(provider, model): provider inferred from model_name when absent; defaults google / gemini-2.5-flash-lite."""
    model = config.get("model_name")
    provider = config.get("provider")
    if not provider:
        provider = (provider_of_model(model) if model else None) or DEFAULT_PROVIDER
    if not model:
        model = DEFAULT_MODELS.get(provider, "")
    return provider, model


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def config_problems(config: Any) -> list[str]:
    """Everything wrong with an llm_labeling config, as messages; [] when it can run (or is not enabled)."""
    if not isinstance(config, Mapping):
        return ["llm_labeling must be an object"]
    if not config.get("enabled"):
        return []
    problems: list[str] = []
    provider, model = config.get("provider"), config.get("model_name")
    if provider is not None and provider not in PROVIDER_MODELS:
        problems.append(f"provider must be one of {', '.join(PROVIDER_MODELS)}")
    if model is not None and (not isinstance(model, str) or provider_of_model(model) is None):
        problems.append(f"unknown model_name: {model}")
    elif model is not None and provider in PROVIDER_MODELS and model not in PROVIDER_MODELS[provider]:
        problems.append(f"model_name {model} is not a {provider} model")
    if "typesafe" in (provider, provider_of_model(model) if isinstance(model, str) else None):
        problems.append("provider 'typesafe' (Jev) is not supported by openpeek; use openai, google or anthropic")
    samples = config.get("max_samples_per_cluster")
    if samples is not None and (not _is_int(samples) or not 1 <= samples <= 20):
        problems.append("max_samples_per_cluster must be an integer from 1 to 20")
    length = config.get("sample_text_max_length")
    if length is not None and (not _is_int(length) or not 50 <= length <= 500):
        problems.append("sample_text_max_length must be an integer from 50 to 500")
    threshold = config.get("embedding_similarity_threshold")
    if threshold is not None and (
        isinstance(threshold, bool) or not isinstance(threshold, (int, float)) or not 0.5 <= threshold <= 1
    ):
        problems.append("embedding_similarity_threshold must be a number from 0.5 to 1")
    ttl = config.get("cache_ttl_seconds")
    if ttl is not None and (not _is_int(ttl) or not 0 <= ttl <= 2592000):
        problems.append("cache_ttl_seconds must be an integer from 0 to 2592000")
    context = config.get("labeling_context")
    if context is not None and (not isinstance(context, str) or len(context) > 2000):
        problems.append("labeling_context must be a string of at most 2000 characters")
    if config.get("custom_prompt") is not None and not isinstance(config["custom_prompt"], str):
        problems.append("custom_prompt must be a string")
    shape = config.get("response_shape")
    if shape is not None and not isinstance(shape, (str, dict)):
        problems.append("response_shape must be a string or a JSON schema object")
    if isinstance(shape, dict) and shape.get("type", "object") != "object":
        problems.append("response_shape schema must describe an object (type: object)")
    if config.get("parameters") is not None and not isinstance(config["parameters"], dict):
        problems.append("parameters must be an object")
    candidates = config.get("candidate_labels")
    if candidates is not None:
        names = list(candidates) if isinstance(candidates, (list, dict)) else None
        if (
            not names
            or len(names) > 255
            or not all(isinstance(name, str) and name.strip() for name in names)
            or (isinstance(candidates, dict) and not all(isinstance(v, str) for v in candidates.values()))
        ):
            problems.append(
                "candidate_labels must be a non-empty list of up to 255 labels or a map of label to description"
            )
    return problems


def validate_config(config: Any) -> None:
    """Create-time check; raises LabelingConfigError (a 400 BadRequest, also a ValueError) listing the problems."""
    problems = config_problems(config)
    if problems:
        raise LabelingConfigError(problems)


# -- the labeler -----------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class LabelingSettings:
    provider: str
    model: str
    include_summary: bool
    include_keywords: bool
    max_samples: int | None
    text_length: int
    use_embedding_dedup: bool
    threshold: float
    ttl: int
    context: str | None
    custom_prompt: str | None
    shape: str | dict[str, Any] | None
    parameters: dict[str, Any]
    candidates: dict[str, str] | None  # label -> description ("" when given as a list)

    @classmethod
    def of(cls, config: Mapping[str, Any]) -> LabelingSettings:
        merged = {**DEFAULTS, **{key: value for key, value in config.items() if value is not None}}
        provider, model = resolve_provider_and_model(config)
        candidates = config.get("candidate_labels")
        if isinstance(candidates, list):
            candidates = {name: "" for name in candidates}
        return cls(
            provider=provider,
            model=model,
            include_summary=bool(merged["include_summary"]),
            include_keywords=bool(merged["include_keywords"]),
            max_samples=merged["max_samples_per_cluster"],
            text_length=int(merged["sample_text_max_length"]),
            use_embedding_dedup=bool(merged["use_embedding_dedup"]),
            threshold=float(merged["embedding_similarity_threshold"]),
            ttl=int(merged["cache_ttl_seconds"]),
            context=config.get("labeling_context") or None,
            custom_prompt=config.get("custom_prompt") or None,
            shape=config.get("response_shape") or None,
            parameters=dict(config.get("parameters") or {}),
            candidates=dict(candidates) if candidates else None,
        )

    def cache_fields(self) -> dict[str, Any]:
        """Everything in the config that changes what the model is asked (the samples are added per cluster)."""
        return {
            "format": CACHE_FORMAT, "provider": self.provider, "model": self.model,
            "include_summary": self.include_summary, "include_keywords": self.include_keywords,
            "sample_text_max_length": self.text_length, "labeling_context": self.context,
            "custom_prompt": self.custom_prompt, "response_shape": self.shape, "parameters": self.parameters,
            "candidate_labels": self.candidates,
        }  # fmt: skip


def sample_count(config_value: int | None, size: int | None) -> int:
    """max_samples_per_cluster, or when null: about sqrt(size) within 3..20, DEFAULT_SAMPLES without a size."""
    if config_value is not None:
        return config_value
    if size is None or size <= 0:
        return DEFAULT_SAMPLES
    return max(3, min(20, round(math.sqrt(size))))


def trim_samples(cluster: ClusterSample, settings: LabelingSettings) -> list[str]:
    texts = [" ".join(str(text).split()) for text in cluster.representative_texts if text is not None]
    texts = [text for text in texts if text]
    return [text[: settings.text_length] for text in texts[: sample_count(settings.max_samples, cluster.size)]]


def fallback_label(cluster: ClusterSample) -> ClusterLabel:
    return ClusterLabel(label=cluster.label, keywords=list(cluster.keywords or []), summary=cluster.summary)


# -- prompt and schema -----------------------------------------------------------------------------------------------


def build_prompt(settings: LabelingSettings, clusters: list[tuple[str, list[str]]], used_labels: Sequence[str] = ()) -> str:
    parts: list[str] = []
    if settings.custom_prompt:
        parts.append(settings.custom_prompt.strip())
    else:
        fields = ['"cluster_id"', '"label"']
        lines = [
            "You are naming the clusters of a document clustering run. For each cluster below, read its sample "
            "documents and write a short, specific label (2-5 words) naming what its documents have in common and "
            "what sets them apart from the other clusters.",
            "Every label must be distinct from the other clusters' labels. Do not use generic labels such as "
            '"Cluster 1", "Miscellaneous", "Various Topics" or "General Content".',
        ]
        if settings.include_summary:
            lines.append('Also write a one-sentence "summary" of each cluster.')
            fields.append('"summary"')
        if settings.include_keywords:
            lines.append('Also give 3-5 "keywords" (short phrases) that characterise each cluster.')
            fields.append('"keywords"')
        lines.append(
            "Answer with JSON only: an object whose \"clusters\" member is a JSON array with one object per "
            f"cluster, each with {', '.join(fields)}"
            + (", plus the fields described below" if settings.shape else "")
            + '. Example: {"clusters": [{"cluster_id": "cl_0", "label": "..."}]}'
        )
        if used_labels:
            lines.append("Labels already used by other clusters (do not reuse them): " + json.dumps(list(used_labels)))
        parts.append("\n".join(lines))
    if settings.context:
        parts.append(
            "<<< Domain context provided by the user\n" + settings.context.strip() + "\n>>> End of domain context"
        )
    if settings.candidates:
        listing = "\n".join(f"- {name}" + (f": {note}" if note else "") for name, note in settings.candidates.items())
        parts.append(
            "Choose each cluster's label from these candidate labels only, copying one exactly (several clusters may "
            "share a label):\n" + listing
        )
    if isinstance(settings.shape, str):
        parts.append("Each cluster's object must also contain: " + settings.shape.strip())
    elif isinstance(settings.shape, dict):
        parts.append(
            'Each cluster\'s object must follow this JSON schema (and carry its "cluster_id"):\n'
            + json.dumps(settings.shape, ensure_ascii=False)
        )
    data = [{"cluster_id": cid, "samples": samples} for cid, samples in clusters]
    parts.append("Clusters (JSON, each with its sample documents):\n" + json.dumps(data, ensure_ascii=False, indent=1))
    return "\n\n".join(parts)


def build_schema(settings: LabelingSettings, cluster_ids: list[str]) -> dict[str, Any] | None:
    """The structured-output schema passed to the provider: {"clusters": [item, ...]}.

    None for a custom prompt without a schema-shaped response_shape (the user chose the format)."""
    if isinstance(settings.shape, dict):
        item = json.loads(json.dumps(settings.shape))
        item.setdefault("type", "object")
        item["properties"] = {"cluster_id": {"type": "string", "enum": cluster_ids}, **(item.get("properties") or {})}
        item["required"] = ["cluster_id", *[name for name in item.get("required") or [] if name != "cluster_id"]]
        item.pop("$schema", None)
    elif settings.custom_prompt:
        return None
    else:
        properties: dict[str, Any] = {
            "cluster_id": {"type": "string", "enum": cluster_ids},
            "label": {"type": "string"},
        }
        if settings.include_summary:
            properties["summary"] = {"type": "string"}
        if settings.include_keywords:
            properties["keywords"] = {"type": "array", "items": {"type": "string"}}
        item = {"type": "object", "properties": properties, "required": list(properties)}
    if settings.candidates and "label" in item["properties"]:
        item["properties"]["label"] = {"type": "string", "enum": list(settings.candidates)}
    return {"type": "object", "properties": {"clusters": {"type": "array", "items": item}}, "required": ["clusters"]}


# -- reading the answer ----------------------------------------------------------------------------------------------


def answer_items(answer: Any, ids: list[str]) -> dict[str, dict[str, Any]]:
    """The answer's per-cluster objects by cluster id, whatever wrapper the model chose."""
    items: Any = answer
    if isinstance(answer, dict):
        if isinstance(answer.get("clusters"), list):
            items = answer["clusters"]
        elif "cluster_id" in answer:
            items = [answer]
        elif answer and all(key in ids and isinstance(value, dict) for key, value in answer.items()):
            items = [{"cluster_id": key, **value} for key, value in answer.items()]
        else:
            items = next((value for value in answer.values() if isinstance(value, list)), [])
    if not isinstance(items, list):
        return {}
    items = [item for item in items if isinstance(item, dict)]
    found: dict[str, dict[str, Any]] = {}
    for item in items:
        cid = item.get("cluster_id")
        if cid is not None and str(cid) in ids:
            found.setdefault(str(cid), item)
    if not found and len(items) == len(ids) and not any("cluster_id" in item for item in items):
        found = dict(zip(ids, items))  # no ids at all but one answer per cluster, in order
    return found


def read_answer_item(item: dict[str, Any], cluster: ClusterSample, settings: LabelingSettings) -> tuple[ClusterLabel | None, str]:
    schema = settings.shape if isinstance(settings.shape, dict) else None
    if schema is not None:
        problem = _schema_problem(item, schema)
        if problem:
            return None, f"LLM answer does not follow response_shape: {problem}"
    label = item.get("label")
    if not (isinstance(label, str) and label.strip()) and schema is not None:
        label = _label_from_schema(item, schema)
    if not (isinstance(label, str) and label.strip()):
        return None, "LLM answer has no label"
    label = " ".join(label.split())[:MAX_LABEL_CHARS]
    if settings.candidates is not None:
        canonical = {name.strip().casefold(): name for name in settings.candidates}
        chosen = canonical.get(label.casefold())
        if chosen is None:
            return None, f"LLM label is not one of candidate_labels: {label[:60]}"
        label = chosen
    keywords = list(cluster.keywords or [])
    if settings.include_keywords and isinstance(item.get("keywords"), list):
        given = [" ".join(str(word).split()) for word in item["keywords"] if isinstance(word, (str, int, float))]
        if any(given):
            keywords = [word for word in given if word][:MAX_KEYWORDS]
    summary = cluster.summary
    if settings.include_summary and isinstance(item.get("summary"), str) and item["summary"].strip():
        summary = item["summary"].strip()
    extra: dict[str, Any] = {}
    if settings.shape is not None:
        own = set((schema or {}).get("properties") or {})
        extra = {
            key: value
            for key, value in item.items()
            if key != "cluster_id" and (key in own or key not in ("label", "summary", "keywords"))
        }
    return ClusterLabel(label=label, keywords=keywords, summary=summary, extra=extra, source="llm"), ""


def _label_from_schema(item: dict[str, Any], schema: dict[str, Any]) -> Any:
    """A schema without `label` (e.g. {category, confidence}): its first required, else first, string field."""
    properties = schema.get("properties") or {}
    names = [*(schema.get("required") or []), *properties]
    for name in names:
        if (properties.get(name) or {}).get("type") == "string" and isinstance(item.get(name), str):
            return item[name]
    return None


def _schema_problem(value: Any, schema: Any, path: str = "") -> str:
    """A small JSON-schema check (type, enum, required, properties, items, min/max): the first problem, or ""."""
    if not isinstance(schema, dict):
        return ""
    where = path or "the object"
    kinds = schema.get("type")
    if kinds is not None:
        kinds = kinds if isinstance(kinds, list) else [kinds]
        if not any(_JSON_TYPES.get(kind, lambda _: True)(value) for kind in kinds):
            return f"{where} must be {' or '.join(map(str, kinds))}"
    if "enum" in schema and isinstance(schema["enum"], list) and value not in schema["enum"]:
        return f"{where} must be one of {schema['enum']}"
    number = isinstance(value, (int, float)) and not isinstance(value, bool)
    if number and "minimum" in schema and value < schema["minimum"]:
        return f"{where} must be at least {schema['minimum']}"
    if number and "maximum" in schema and value > schema["maximum"]:
        return f"{where} must be at most {schema['maximum']}"
    if isinstance(value, dict):
        for name in schema.get("required") or []:
            if name not in value:
                return f"{path + '.' if path else ''}{name} is required"
        for name, sub in (schema.get("properties") or {}).items():
            if name in value:
                problem = _schema_problem(value[name], sub, f"{path + '.' if path else ''}{name}")
                if problem:
                    return problem
    if isinstance(value, list):
        if "maxItems" in schema and len(value) > schema["maxItems"]:
            return f"{where} must have at most {schema['maxItems']} items"
        if "minItems" in schema and len(value) < schema["minItems"]:
            return f"{where} must have at least {schema['minItems']} items"
        for index, element in enumerate(value):
            problem = _schema_problem(element, schema.get("items"), f"{path}[{index}]")
            if problem:
                return problem
    return ""


# -- cache key, errors, similarity -----------------------------------------------------------------------------------


def cache_key(settings: LabelingSettings, samples: list[str]) -> str:
    material = json.dumps({**settings.cache_fields(), "samples": samples}, sort_keys=True, ensure_ascii=False)
    return hashlib.sha256(material.encode("utf-8")).hexdigest()


class LabelingErrors:
    """Errors grouped by message, each naming its clusters, in first-seen order."""

    def __init__(self) -> None:
        self._by_message: dict[str, list[str]] = {}

    def add(self, message: str, clusters: list[str]) -> None:
        self._by_message.setdefault(message, []).extend(clusters)

    def render(self) -> list[str]:
        return [json.dumps({"error": message, "clusters": ids}) for message, ids in self._by_message.items()]


def _tokens(text: str) -> frozenset[str]:
    words = re.findall(r"[^\W_]+", text.casefold())
    return frozenset(
        word[:-1] if len(word) > 3 and word.endswith("s") and not word.endswith("ss") else word
        for word in words
        if word not in _STOPWORDS
    )


def jaccard_similar(texts: list[str], threshold: float) -> Callable[[int, int], bool]:
    tokens = [_tokens(text) for text in texts]

    def similar(a: int, b: int) -> bool:
        if texts[a].casefold() == texts[b].casefold():
            return True
        union = tokens[a] | tokens[b]
        return bool(union) and len(tokens[a] & tokens[b]) / len(union) >= threshold

    return similar


def cosine_similar(vectors: list[list[float]], texts: list[str], threshold: float) -> Callable[[int, int], bool]:
    if len(vectors) != len(texts):
        raise ValueError("one vector per label expected")
    norms = [math.sqrt(sum(x * x for x in vector)) for vector in vectors]

    def similar(a: int, b: int) -> bool:
        if texts[a].casefold() == texts[b].casefold():
            return True
        if not norms[a] or not norms[b]:
            return False
        dot = sum(x * y for x, y in zip(vectors[a], vectors[b]))
        return dot / (norms[a] * norms[b]) >= threshold

    return similar


def make_distinct(label: str, keywords: Sequence[str], taken: set[str]) -> str:
    """The label plus its first keyword not already in it, else a number: "Gaming Laptops (RGB)", "... (2)"."""
    have = _tokens(label)
    for keyword in keywords:
        keyword = " ".join(str(keyword).split())
        if not keyword or _tokens(keyword) <= have:
            continue
        candidate = f"{label} ({keyword})"
        if candidate.casefold() not in taken:
            return candidate
    number = 2
    while f"{label} ({number})".casefold() in taken:
        number += 1
    return f"{label} ({number})"
