"""The Namespace entity and its rules (seeds 000 and 001): extractors, vector schema, payload indexes, expiry."""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any, Callable

from openpeek.domain import extractors
from openpeek.domain.clock import isoformat, parse
from openpeek.domain.errors import BadRequest
from openpeek.domain.ids import new_id
from openpeek.domain.payload_indexes import PROTECTED_INDEXES, PayloadIndex
from openpeek.domain.vectors import VectorIndexSpec

NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{2,63}$")
MODES = ("managed", "standalone")
PROMOTED_AT = "promoted_at"  # in `extra`: when a standalone namespace was promoted (its new objects auto-process)
METRICS = {"cosine": "cosine", "dot": "dot", "dot_product": "dot", "euclidean": "euclidean", "euclid": "euclidean"}


def check_name(name: str) -> str:
    """3–64 characters, letters, digits, '_', '-' and '.', starting with a letter or digit: the name travels in URL
    paths and in the X-Namespace header, so it must survive both unescaped."""
    if not NAME_PATTERN.match(name):
        raise BadRequest(
            "namespace_name must be 3-64 characters of letters, digits, '_', '-' or '.', starting with a letter "
            "or digit",
            code="invalid_namespace_name",
            details={"namespace_name": name},
        )
    return name


RELOCATED_PREFIX = "nsr_"
"""Starts every storage id made because the id a caller chose was taken (and only those, among server-made ids; a
caller may not choose such an id), so that presenting an answer can tell without a read that an id in it is not the
one the API shows."""


def relocated_storage_id() -> str:
    return new_id(RELOCATED_PREFIX.rstrip("_"))


def may_be_relocated(namespace_id: str) -> bool:
    """Whether `namespace_id` may be a storage id that differs from its namespace's public id."""
    return namespace_id.startswith(RELOCATED_PREFIX)


RELOCATED_ID = re.compile(rf"(?<![A-Za-z0-9]){RELOCATED_PREFIX}[a-z0-9]{{16}}(?![A-Za-z0-9])")
"""A relocated storage id wherever it stands in a text (relocated_storage_id's shape): a message, a task's error, a
cold index's name."""


def show_public_ids(document: Any, public_id_of: Callable[[str], str | None]) -> bool:
    """Replace, in place, every relocated storage id in `document`'s strings (at any depth: `*namespace_id` fields,
    lists of ids, and ids inside messages or names) with the public id `public_id_of` gives (None: leave it). True
    when something changed."""
    known: dict[str, str | None] = {}

    def public(match: re.Match) -> str:
        storage_id = match.group(0)
        if storage_id not in known:
            known[storage_id] = public_id_of(storage_id)
        return known[storage_id] or storage_id

    changed = False
    stack: list[Any] = [document]
    while stack:
        value = stack.pop()
        if isinstance(value, (dict, list)):
            for place, item in (value.items() if isinstance(value, dict) else enumerate(value)):
                if isinstance(item, (dict, list)):
                    stack.append(item)
                elif isinstance(item, str) and RELOCATED_PREFIX in item:
                    shown = RELOCATED_ID.sub(public, item)
                    if shown != item:
                        value[place] = shown
                        changed = True
    return changed


def collection_name(namespace_id: str) -> str:
    """The vector collection of a namespace (DESIGN.md: `ns_<id>`; ids already carry the `ns_` prefix)."""
    return namespace_id


def namespace_id_of(collection: str) -> str:
    """The namespace whose vector collection this is (collection_name's inverse)."""
    return collection


@dataclass(frozen=True)
class ExtractorRef:
    """A feature extractor configured on a namespace."""

    name: str
    version: str
    params: dict[str, Any] | None = None
    model: str | None = None  # the inference service of a model variant (None: the extractor's default model)

    @property
    def feature_extractor_id(self) -> str:
        return f"{self.name}_{self.version}"

    def definition(self) -> extractors.FeatureExtractor:
        return extractors.resolve(self.name, self.version, self.model)


@dataclass(frozen=True)
class VectorConfig:
    """A bring-your-own vector index of a standalone (or promoted) namespace."""

    name: str
    dimension: int
    metric: str = "cosine"
    inference_service: str | None = None  # set by promotion: the service that embeds text queries for this index
    sparse: bool = False  # sparse indexes take {indices, values}; dimension 0, dot product

    def spec(self) -> VectorIndexSpec:
        if self.sparse:
            return VectorIndexSpec(self.name, 0, "dot", sparse=True)
        return VectorIndexSpec(self.name, self.dimension, self.metric)  # type: ignore[arg-type]

    def public(self) -> dict[str, Any]:
        """As the API shows it (seed 002): name, dimension, metric; sparse indexes say so."""
        model: dict[str, Any] = {"name": self.name, "dimension": self.dimension, "metric": self.metric}
        if self.sparse:
            model["type"] = "sparse"
        return model

    def to_record(self) -> dict[str, Any]:
        record: dict[str, Any] = {"name": self.name, "dimension": self.dimension, "metric": self.metric}
        if self.inference_service:
            record["inference_service"] = self.inference_service
        if self.sparse:
            record["sparse"] = True
        return record

    @classmethod
    def from_record(cls, record: dict[str, Any]) -> "VectorConfig":
        return cls(
            record["name"],
            int(record["dimension"]),
            record.get("metric", "cosine"),
            record.get("inference_service"),
            bool(record.get("sparse")),
        )


def check_vector_configs(configs: list[dict[str, Any]]) -> list[VectorConfig]:
    result: list[VectorConfig] = []
    seen: set[str] = set()
    for config in configs:
        name = config["name"]
        if not re.match(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$", name):
            raise BadRequest(
                f"vector_configs name '{name}' must be 1-128 characters of letters, digits, '_', '-' or '.'",
                code="invalid_vector_config",
                details={"name": name},
            )
        if name in seen:
            raise BadRequest(
                f"vector_configs name '{name}' appears more than once",
                code="invalid_vector_config",
                details={"name": name},
            )
        seen.add(name)
        if config.get("type") == "sparse":
            result.append(VectorConfig(name, 0, "dot", sparse=True))
            continue
        metric = METRICS.get(str(config.get("metric") or "cosine").lower())
        if metric is None:
            raise BadRequest(
                f"vector_configs '{name}': metric must be one of cosine, dot, euclidean",
                code="invalid_vector_config",
                details={"name": name, "metric": config.get("metric")},
            )
        dimension = config.get("dimension")
        if dimension is None or not 1 <= dimension <= 65536:
            raise BadRequest(
                f"vector_configs '{name}': dimension must be between 1 and 65536",
                code="invalid_vector_config",
                details={"name": name, "dimension": dimension},
            )
        _check_not_an_extractor_index(name, dimension, metric)
        result.append(VectorConfig(name, dimension, metric))
    return result


def _check_not_an_extractor_index(name: str, dimension: int, metric: str) -> None:
    """A builtin extractor's index name means that extractor's vectors: a namespace promoted later, or one that adds
    the extractor, would otherwise hold two incompatible indexes under one name."""
    for extractor in extractors.every_index():
        if extractor.vector_index_name == name and (extractor.dimension, extractor.metric) != (dimension, metric):
            raise BadRequest(
                f"vector_configs name '{name}' is the index of feature extractor {extractor.feature_extractor_id} "
                f"({extractor.dimension}-d {extractor.metric}); use that dimension and metric or another name",
                code="reserved_vector_name",
                details={"name": name, "expected_dimension": extractor.dimension, "got_dimension": dimension},
            )


@dataclass(frozen=True)
class Namespace:
    """`namespace_id` is the namespace's storage identity, unique across every organisation: it names its vector
    collection, its owned partition, its blob prefix, its cold tier and its secrets, and every record the namespace
    owns refers to it. `public_id` is the id the API shows and accepts, unique within the organisation only. They
    are the same unless a caller chose an id whose storage identity was already taken (by another organisation, or
    as another namespace's storage identity): then the namespace was stored under a fresh, server-made id, so
    nobody learns that the other exists."""

    namespace_id: str
    org_id: str
    namespace_name: str
    mode: str = "managed"
    namespace_type: str = "standard"
    scope: str = "org"
    description: str | None = None
    feature_extractors: tuple[ExtractorRef, ...] = ()
    vector_configs: tuple[VectorConfig, ...] = ()
    payload_indexes: tuple[PayloadIndex, ...] = PROTECTED_INDEXES
    auto_create_indexes: bool = False
    infrastructure: dict[str, Any] | None = None
    vector_store_api_key: str | None = None  # write-only: never leaves the service layer
    created_at: str = ""
    updated_at: str = ""
    expires_at: str | None = None
    source_namespace_id: str | None = None
    version: int = 1
    extra: dict[str, Any] = field(default_factory=dict)
    # Where the record's secrets are kept in the secret store (repositories/secrets.py); None: it has none, or it was
    # written before secrets left the table and still holds them in plaintext.
    secret_reference: dict[str, str] | None = None
    public_id: str = ""  # "": the storage identity (every namespace whose id was free when it was made)

    def __post_init__(self) -> None:
        if not self.public_id:
            object.__setattr__(self, "public_id", self.namespace_id)

    @property
    def collection(self) -> str:
        return collection_name(self.namespace_id)

    @property
    def processes_new_content(self) -> bool:
        """Promoted to managed mode (seed 002: "new content: collections + extractors auto-process"): a new object
        goes through the collections that read its bucket without anyone submitting a batch."""
        return self.mode == "managed" and bool(self.extra.get(PROMOTED_AT))

    # -- derived schema -------------------------------------------------------------------------------------------

    def vector_indexes(self) -> list[VectorIndexSpec]:
        """Every vector index the namespace's vector collection must have."""
        specs = [ref.definition().vector_index() for ref in self.feature_extractors]
        specs += [config.spec() for config in self.vector_configs]
        return specs

    def vector_inference_map(self) -> dict[str, str]:
        """Index name → the inference service that embeds text queries for it (extractor indexes, and
        bring-your-own indexes mapped by promotion)."""
        mapping = {
            ref.definition().vector_index_name: ref.definition().inference_service for ref in self.feature_extractors
        }
        mapping.update({config.name: config.inference_service for config in self.vector_configs
                        if config.inference_service})
        return mapping

    def user_payload_indexes(self) -> list[PayloadIndex]:
        return [index for index in self.payload_indexes if not index.is_protected]

    # -- changes --------------------------------------------------------------------------------------------------

    def with_extractors_appended(self, requested: list[ExtractorRef]) -> tuple["Namespace", list[ExtractorRef]]:
        """PATCH feature_extractors: existing ones are kept, duplicates ignored, unknown ones refused."""
        # One entry per index: the same extractor on another model writes another index, so it joins too.
        present = {ref.definition().vector_index_name for ref in self.feature_extractors}
        added: list[ExtractorRef] = []
        for ref in requested:
            index = ref.definition().vector_index_name  # raises feature_extractor_not_found
            if index in present:
                continue
            present.add(index)
            added.append(ref)
        return replace(self, feature_extractors=self.feature_extractors + tuple(added)), added

    def with_user_indexes(self, user_indexes: list[PayloadIndex]) -> "Namespace":
        """PATCH/PUT payload_indexes replace the user-managed set; protected indexes stay as they are."""
        protected = tuple(index for index in self.payload_indexes if index.is_protected)
        return replace(self, payload_indexes=protected + tuple(user_indexes))

    # -- secrets --------------------------------------------------------------------------------------------------

    def secret_values(self) -> dict[str, str]:
        """The values that never go into the table: the vector-store key and the OpenFGA token."""
        authorization = (self.infrastructure or {}).get("authorization")
        token = authorization.get("api_token") if isinstance(authorization, dict) else None
        return {name: value for name, value in ((SECRET_API_KEY, self.vector_store_api_key),
                                                (SECRET_OPENFGA_TOKEN, token)) if value}

    def with_secret_values(self, values: dict[str, str]) -> "Namespace":
        """The namespace holding exactly `values` as its secrets ({} strips them: what the table may hold)."""
        infrastructure = self.infrastructure
        authorization = (infrastructure or {}).get("authorization")
        if isinstance(authorization, dict) and (authorization.get("api_token") or values.get(SECRET_OPENFGA_TOKEN)):
            infrastructure = {**(infrastructure or {}),
                              "authorization": {**authorization, "api_token": values.get(SECRET_OPENFGA_TOKEN)}}
        return replace(self, vector_store_api_key=values.get(SECRET_API_KEY), infrastructure=infrastructure)

    def is_expired(self, now: datetime) -> bool:
        return self.expires_at is not None and parse(self.expires_at) <= now

    # -- persistence ----------------------------------------------------------------------------------------------

    def to_record(self) -> dict[str, Any]:
        return {
            "namespace_id": self.public_id,
            "storage_id": self.namespace_id,
            "org_id": self.org_id,
            "namespace_name": self.namespace_name,
            "mode": self.mode,
            "namespace_type": self.namespace_type,
            "scope": self.scope,
            "description": self.description,
            "feature_extractors": [
                {"feature_extractor_name": ref.name, "version": ref.version, "params": ref.params,
                 **({"model": ref.model} if ref.model else {})}
                for ref in self.feature_extractors
            ],
            "vector_configs": [config.to_record() for config in self.vector_configs],
            "payload_indexes": [index.to_record() for index in self.payload_indexes],
            "auto_create_indexes": self.auto_create_indexes,
            "infrastructure": self.infrastructure,
            "vector_store_api_key": self.vector_store_api_key,
            "created_at": self.created_at,
            "updated_at": self.updated_at,
            "expires_at_iso": self.expires_at,
            "source_namespace_id": self.source_namespace_id,
            "extra": self.extra,
            "secrets": self.secret_reference,
        }

    @classmethod
    def from_record(cls, record: dict[str, Any], version: int) -> "Namespace":
        return cls(
            # A record written before public and storage ids could differ holds one id, which is both.
            namespace_id=record.get("storage_id") or record["namespace_id"],
            public_id=record["namespace_id"],
            org_id=record["org_id"],
            namespace_name=record["namespace_name"],
            mode=record.get("mode") or "managed",
            namespace_type=record.get("namespace_type") or "standard",
            scope=record.get("scope") or "org",
            description=record.get("description"),
            feature_extractors=tuple(
                ExtractorRef(ref["feature_extractor_name"], ref["version"], ref.get("params"), ref.get("model"))
                for ref in record.get("feature_extractors") or []
            ),
            vector_configs=tuple(VectorConfig.from_record(config) for config in record.get("vector_configs") or []),
            payload_indexes=tuple(PayloadIndex.from_record(index) for index in record.get("payload_indexes") or []),
            auto_create_indexes=bool(record.get("auto_create_indexes")),
            infrastructure=record.get("infrastructure"),
            vector_store_api_key=record.get("vector_store_api_key"),
            created_at=record.get("created_at") or "",
            updated_at=record.get("updated_at") or "",
            expires_at=record.get("expires_at_iso"),
            source_namespace_id=record.get("source_namespace_id"),
            version=version,
            extra=dict(record.get("extra") or {}),
            secret_reference=record.get("secrets"),
        )


SECRET_API_KEY = "vector_store_api_key"
SECRET_OPENFGA_TOKEN = "authorization.api_token"


def expiry_from_ttl(now: datetime, ttl_seconds: int | None) -> str | None:
    return isoformat(now + timedelta(seconds=ttl_seconds)) if ttl_seconds else None
