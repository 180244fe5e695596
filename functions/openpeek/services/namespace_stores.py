"""Where a namespace's vectors live: the deployment's shared store, or its own Qdrant on a dedicated tier."""

from __future__ import annotations

from openpeek.domain.infrastructure import NO_NAMESPACE, DedicatedVectorStore, NoNamespace, dedicated_vector_store
from openpeek.domain.namespace import Namespace, namespace_id_of
from openpeek.repositories.namespaces import NamespaceRepository


def vector_store_of(namespace: Namespace) -> DedicatedVectorStore | None:
    """The namespace's dedicated Qdrant (URL and key), or None for the shared store. The one place that reads the
    namespace's Qdrant key."""
    return dedicated_vector_store(namespace.infrastructure, namespace.vector_store_api_key)


class NamespaceStoreLocator:
    """The vector-store router's lookup: the store of the namespace a collection belongs to, read from its record."""

    def __init__(self, repository: NamespaceRepository) -> None:
        self._repository = repository

    def __call__(self, collection: str) -> DedicatedVectorStore | None | NoNamespace:
        namespace = self._repository.get_by_id(namespace_id_of(collection))
        return NO_NAMESPACE if namespace is None else vector_store_of(namespace)
