"""The feature extractors a namespace can use (`/v1/namespaces/{namespace_id}/extractors`): the extractor catalogue
of this deployment, each entry with the namespace's collections that use it. Every extractor here is builtin (this
deployment runs no uploaded plugins); `include_disabled` adds the catalogue's extractors this deployment cannot run
now (with what would enable them), as Mixpeek adds undeployed plugins."""

from __future__ import annotations

from dataclasses import dataclass

from openpeek.domain.errors import NotFound
from openpeek.domain.namespace import Namespace
from openpeek.services.collections.collections import CatalogueEntry, CollectionService
from openpeek.services.namespaces import NamespaceService
from openpeek.services.organizations import Principal


@dataclass(frozen=True)
class NamespaceExtractor:
    entry: CatalogueEntry
    collections: tuple[tuple[str, str], ...]  # (collection_id, collection_name) of the namespace's users of it


@dataclass(frozen=True)
class NamespaceExtractorList:
    namespace: Namespace
    extractors: tuple[NamespaceExtractor, ...]


class NamespaceExtractors:
    def __init__(self, namespaces: NamespaceService, collections: CollectionService) -> None:
        self._namespaces = namespaces
        self._collections = collections

    def list(self, principal: Principal, namespace_identifier: str, *, source: str = "all",
             include_disabled: bool = False) -> NamespaceExtractorList:
        namespace = self._namespaces.resolve(principal, namespace_identifier)
        if source == "custom":  # no uploaded plugins run here
            return NamespaceExtractorList(namespace, ())
        users = self._users(namespace)
        found = tuple(NamespaceExtractor(entry, users.get(entry.spec.feature_extractor_id, ()))
                      for entry in self._collections.catalogue()
                      if entry.available or include_disabled or entry.spec.feature_extractor_id in users)
        return NamespaceExtractorList(namespace, found)

    def get(self, principal: Principal, namespace_identifier: str, extractor_id: str) -> NamespaceExtractor:
        namespace = self._namespaces.resolve(principal, namespace_identifier)
        for entry in self._collections.catalogue():
            if entry.spec.feature_extractor_id == extractor_id:
                return NamespaceExtractor(entry, self._users(namespace).get(extractor_id, ()))
        raise NotFound("feature_extractor", extractor_id, code="feature_extractor_not_found")

    def _users(self, namespace: Namespace) -> dict[str, tuple[tuple[str, str], ...]]:
        users: dict[str, tuple[tuple[str, str], ...]] = {}
        for collection in self._collections.list(namespace):
            key = collection.feature_extractor.feature_extractor_id
            users[key] = (*users.get(key, ()), (collection.collection_id, collection.collection_name))
        return users
