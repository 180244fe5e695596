"""The features menu (`GET /v1/collections/features`): what a collection can be made to search by, per kind of
input, from the extractor catalogue of this deployment; and, for a caller who names a namespace, the features its
collections (and its own bring-your-own vector indexes) can be searched by right now, each with the feature URI a
feature_search takes."""

from __future__ import annotations

from dataclasses import dataclass, field
from openpeek.domain.namespace import Namespace
from openpeek.services.collections.collections import CatalogueEntry, CollectionService

# An extractor input's accepted types, as the modality the menu lists them under.
_MODALITY = {"string": "text", "text": "text", "pdf": "pdf", "image": "image", "video": "video"}
# Rows that bring their own vectors (passthrough_extractor's vector_fields): no model reads them.
STRUCTURED = "structured"


@dataclass(frozen=True)
class Modality:
    modality: str
    features: tuple[CatalogueEntry, ...]


@dataclass(frozen=True)
class SearchableFeature:
    """One vector index of a namespace and the feature URI that searches it."""

    feature_uri: str
    vector_index: str
    dimensions: int
    distance: str
    inference_service: str | None
    feature_extractor_id: str | None
    collections: tuple[tuple[str, str], ...] = field(default=())  # (collection_id, collection_name)


@dataclass(frozen=True)
class FeatureMenuView:
    modalities: tuple[Modality, ...]
    namespace_features: tuple[SearchableFeature, ...]


class FeatureMenu:
    def __init__(self, collections: CollectionService) -> None:
        self._collections = collections

    def menu(self, namespace: Namespace | None) -> FeatureMenuView:
        entries = self._collections.catalogue()
        order: dict[str, list[CatalogueEntry]] = {}
        for entry in entries:
            kinds = [_MODALITY.get(kind, kind) for item in entry.spec.inputs for kind in item.accepted_types]
            for kind in dict.fromkeys(kinds or [STRUCTURED]):
                order.setdefault(kind, []).append(entry)
        modalities = tuple(Modality(kind, tuple(found)) for kind, found in order.items())
        return FeatureMenuView(modalities, self._searchable(namespace) if namespace is not None else ())

    def _searchable(self, namespace: Namespace) -> tuple[SearchableFeature, ...]:
        indexes = {spec.name: spec for spec in namespace.vector_indexes()}
        services = namespace.vector_inference_map()
        by_uri: dict[str, SearchableFeature] = {}
        written: set[str] = set()
        for collection in sorted(self._collections.list(namespace), key=lambda c: c.created_at):
            for index in collection.vector_indexes:
                written.add(index.vector_name)
                known = by_uri.get(index.feature_uri)
                named = (collection.collection_id, collection.collection_name)
                if known is not None:
                    by_uri[index.feature_uri] = SearchableFeature(
                        known.feature_uri, known.vector_index, known.dimensions, known.distance,
                        known.inference_service, known.feature_extractor_id, (*known.collections, named))
                    continue
                by_uri[index.feature_uri] = SearchableFeature(
                    index.feature_uri, index.vector_name, index.dimension, index.metric,
                    index.inference_service or services.get(index.vector_name),
                    collection.feature_extractor.feature_extractor_id, (named,))
        # The namespace's own indexes no collection writes (a standalone namespace's documents, upserted
        # directly): a search names them by their index name.
        for ref in namespace.feature_extractors:
            definition = ref.definition()
            name = definition.vector_index_name
            if name in indexes and name not in written:
                written.add(name)
                by_uri[definition.feature_uri] = SearchableFeature(
                    definition.feature_uri, name, definition.dimension, definition.metric,
                    definition.inference_service, definition.feature_extractor_id)
        for name, spec in indexes.items():
            if name not in written:
                by_uri[name] = SearchableFeature(name, name, spec.dimension, "dot" if spec.sparse else spec.metric,
                                                 services.get(name), None)
        return tuple(by_uri.values())

