"""LLM labels for a finished clustering run (Mixpeek's `llm_labeling`, LLMLabelingInput); the rules are pure, in
domain/cluster_labels.py, and this service calls the provider and the cache with them.

Each cluster arrives with its offline c-TF-IDF label, keywords and summary, which stay as the fallback: labeling never
fails a run. With `enabled: true` the clusters' representative texts (trimmed to `max_samples_per_cluster` samples of
`sample_text_max_length` characters) go to the configured provider in batches of up to BATCH_SIZE clusters; the
answers are validated (label present, candidate_labels respected, response_shape schema followed), cached per
namespace for `cache_ttl_seconds` under a hash of everything that shapes the answer, and near-duplicate labels are
made distinct. Whatever goes wrong for some clusters becomes one `llm_labeling_errors` entry
(`{"error": ..., "clusters": [...]}` as a JSON string) and those clusters keep their fallback labels.

`sample_selection_strategy` and `labeling_inputs` are accepted but not acted on here: the representative documents
(and the text taken from them) are chosen upstream.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Callable, Mapping, Sequence

from openpeek.domain.cluster_labels import (BATCH_SIZE, ClusterLabel, ClusterSample, LabelingErrors, LabelingOutcome,
                                            LabelingSettings, answer_items, build_prompt, build_schema, cache_key,
                                            config_problems, cosine_similar, fallback_label, jaccard_similar,
                                            make_distinct, read_answer_item, trim_samples)
from openpeek.domain.clock import isoformat, utcnow
from openpeek.domain.failures import DependencyUnavailable
from openpeek.ports import LlmClient
from openpeek.repositories.label_cache import LabelCacheRepository


class ClusterLabeler:
    def __init__(
        self,
        cache: LabelCacheRepository,
        clients: Mapping[str, LlmClient],
        *,
        clock: Callable[[], datetime] = utcnow,
        embed_labels: Callable[[list[str]], list[list[float]]] | None = None,
        batch_size: int = BATCH_SIZE,
    ) -> None:
        self._cache = cache
        self._clients = dict(clients)
        self._clock = clock
        self._embed_labels = embed_labels
        self._batch_size = max(1, batch_size)

    def label(
        self, namespace_id: str, clusters: Sequence[ClusterSample], config: Mapping[str, Any] | None
    ) -> LabelingOutcome:
        labels = {cluster.cluster_id: fallback_label(cluster) for cluster in clusters}
        if not config or not config.get("enabled") or not clusters:
            return LabelingOutcome(labels, [])
        errors = LabelingErrors()
        problems = config_problems(config)
        if problems:
            errors.add("; ".join(problems), [cluster.cluster_id for cluster in clusters])
            return LabelingOutcome(labels, errors.render())
        settings = LabelingSettings.of(config)
        now = self._clock()
        pending: list[tuple[ClusterSample, list[str], str]] = []
        for cluster in clusters:
            samples = trim_samples(cluster, settings)
            if not samples:
                errors.add(f"No representative documents for cluster {cluster.cluster_id}", [cluster.cluster_id])
                continue
            key = cache_key(settings, samples)
            cached = self._cache_get(namespace_id, key, now, settings)
            if cached is not None:
                labels[cluster.cluster_id] = cached
            else:
                pending.append((cluster, samples, key))
        if pending:
            client = self._clients.get(settings.provider)
            if client is None or not getattr(client, "usable", True):
                how = getattr(client, "how_to_enable", None)
                message = f"LLM provider {settings.provider} is not configured" + (f": {how}" if how else "")
                errors.add(message, [cluster.cluster_id for cluster, _, _ in pending])
            else:
                used = [labels[cid].label for cid in labels if labels[cid].source == "cache" and labels[cid].label]
                for start in range(0, len(pending), self._batch_size):
                    batch = pending[start : start + self._batch_size]
                    produced = self._label_batch(client, settings, batch, used, errors)
                    for (cluster, _, key), result in zip(batch, produced):
                        if result is None:
                            continue
                        labels[cluster.cluster_id] = result
                        used.append(result.label or "")
                        self._cache_put(namespace_id, key, result, now, settings)
        if settings.candidates is None:  # chosen from a fixed vocabulary, repeats are legitimate
            self._dedupe([cluster.cluster_id for cluster in clusters], labels, settings)
        return LabelingOutcome(labels, errors.render())

    # -- one LLM call ------------------------------------------------------------------------------------------------

    def _label_batch(
        self,
        client: Any,
        settings: LabelingSettings,
        batch: list[tuple[ClusterSample, list[str], str]],
        used_labels: list[str],
        errors: LabelingErrors,
    ) -> list[ClusterLabel | None]:
        ids = [cluster.cluster_id for cluster, _, _ in batch]
        prompt = build_prompt(settings, [(cluster.cluster_id, samples) for cluster, samples, _ in batch], used_labels)
        schema = build_schema(settings, ids)
        try:
            answer = client.complete_json(prompt, model=settings.model, parameters=settings.parameters, schema=schema)
        except DependencyUnavailable as error:
            errors.add(f"LLM labeling failed for {len(ids)} clusters: {error}", ids)
            return [None] * len(batch)
        except Exception as error:  # noqa: BLE001 - labeling never fails the run
            errors.add(f"LLM labeling failed for {len(ids)} clusters: {type(error).__name__}", ids)
            return [None] * len(batch)
        items = answer_items(answer, ids)
        results: list[ClusterLabel | None] = []
        for cluster, _, _ in batch:
            item = items.get(cluster.cluster_id)
            if item is None:
                errors.add("LLM answer did not include these clusters", [cluster.cluster_id])
                results.append(None)
                continue
            result, problem = read_answer_item(item, cluster, settings)
            if problem:
                errors.add(problem, [cluster.cluster_id])
            results.append(result)
        return results

    # -- cache -------------------------------------------------------------------------------------------------------

    def _cache_get(self, namespace_id: str, key: str, now: datetime, settings: LabelingSettings) -> ClusterLabel | None:
        if settings.ttl <= 0:
            return None
        try:
            item = self._cache.get(namespace_id, key)
        except DependencyUnavailable:
            return None
        if item is None or not isinstance(item.get("expires_at"), int) or item["expires_at"] <= now.timestamp():
            return None  # the table's TTL sweep is lazy: an expired item may still be there
        return ClusterLabel(
            label=item.get("label"), keywords=list(item.get("keywords") or []), summary=item.get("summary"),
            extra=dict(item.get("extra") or {}), source="cache",
        )  # fmt: skip

    def _cache_put(self, namespace_id: str, key: str, result: ClusterLabel, now: datetime, settings: LabelingSettings) -> None:
        if settings.ttl <= 0:
            return
        entry = {
            "label": result.label, "keywords": result.keywords, "summary": result.summary, "extra": result.extra,
            "provider": settings.provider, "model": settings.model, "created_at": isoformat(now),
            "expires_at": int(now.timestamp()) + settings.ttl,
        }  # fmt: skip
        try:
            self._cache.put(namespace_id, key, entry)
        except DependencyUnavailable:
            pass  # a cache that cannot be written only costs a later LLM call

    # -- de-duplication ----------------------------------------------------------------------------------------------

    def _dedupe(self, order: list[str], labels: dict[str, ClusterLabel], settings: LabelingSettings) -> None:
        texts = [labels[cid].label or "" for cid in order]
        similar = jaccard_similar(texts, settings.threshold)
        if settings.use_embedding_dedup and self._embed_labels is not None and any(texts):
            try:
                similar = cosine_similar(self._embed_labels(texts), texts, settings.threshold)
            except Exception:  # noqa: BLE001 - fall back to token overlap
                pass
        kept: list[int] = []
        taken = {text.casefold() for text in texts if text}
        for index, cid in enumerate(order):
            if not texts[index]:
                continue
            if any(similar(index, other) for other in kept):
                current = labels[cid]
                distinct = make_distinct(texts[index], current.keywords, taken)
                taken.add(distinct.casefold())
                current.label = distinct
            kept.append(index)
