"""Manifests: a namespace's configuration as code (seed 003; the SDK's manifest routes).

A manifest is one document (JSON or YAML):

    version: 1
    namespace: {description, auto_create_indexes, payload_indexes: [...], vector_configs: [...]}
    retrievers: [{retriever_name, description, input_schema, stages, tags, metadata, ...}]
    clusters:   [{cluster_name, description, vector_config, filters, llm_labeling, collection_ids, ...}]
    webhooks:   [{webhook_name, url, events, ...}]            (when the deployment has webhooks)

Resources are matched by name. `validate` checks all of it against the target namespace before anything changes;
`diff` says what `apply` would create, update, or (with prune) delete; `apply` validates the whole manifest first, then
makes the changes, and a second apply of the same manifest changes nothing. `export` writes the namespace's own
manifest, so export from one namespace and apply into another reproduces it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Protocol

import yaml

from openpeek.domain import clusters as cluster_rules
from openpeek.domain import manifest_lint as lint_rules
from openpeek.domain import retrievers as retriever_rules
from openpeek.domain.errors import BadRequest, DomainError
from openpeek.domain.namespace import Namespace, check_vector_configs
from openpeek.domain.payload_indexes import build_user_indexes
from openpeek.domain.tiering import TieringPolicy
from openpeek.services.clustering.clusters import ClusterService
from openpeek.services.namespaces import NamespaceService
from openpeek.services.organizations import Principal
from openpeek.services.retrievers import RetrieverService

VERSION = 1
MAX_MANIFEST_BYTES = 1_000_000
_RETRIEVER_FIELDS = ("retriever_name", "description", "input_schema", "stages", "tags", "metadata",
                     "display_config", "budget_limits", "collection_identifiers")
_CLUSTER_FIELDS = ("cluster_name", "description", "metadata", "vector_config", "filters", "llm_labeling",
                   "collection_ids", "source_cluster_ids", "enrich_source_collection")
_CLUSTER_PATCHABLE = ("description", "metadata", "filters", "llm_labeling")
_NAMESPACE_FIELDS = ("description", "auto_create_indexes", "payload_indexes", "vector_configs", "feature_extractors",
                     "tiering")


class ManifestInvalid(BadRequest):
    def __init__(self, errors: list[str]) -> None:
        super().__init__(f"the manifest is not valid: {'; '.join(errors[:5])}", code="invalid_manifest",
                         details={"errors": errors})


def parse(text: str | bytes) -> dict[str, Any]:
    """JSON or YAML → the manifest dict (400 when it is neither, or not an object)."""
    if isinstance(text, bytes):
        if len(text) > MAX_MANIFEST_BYTES:
            raise BadRequest(f"a manifest is at most {MAX_MANIFEST_BYTES:,} bytes", code="manifest_too_large")
        try:
            text = text.decode("utf-8")
        except UnicodeDecodeError:
            raise BadRequest("the manifest must be UTF-8 text (JSON or YAML)", code="invalid_manifest") from None
    try:
        document = yaml.safe_load(text) if text.strip() else None
    except yaml.YAMLError as error:
        raise BadRequest(f"the manifest is neither JSON nor YAML: {error}", code="invalid_manifest") from None
    if not isinstance(document, dict):
        raise BadRequest("a manifest is an object with version, namespace, retrievers, clusters, webhooks",
                         code="invalid_manifest")
    return document


def _declared(entry: dict[str, Any], fields: tuple[str, ...]) -> dict[str, Any]:
    return {key: entry[key] for key in fields if entry.get(key) is not None}


def _normal(value: Any) -> Any:
    """Comparable form (tuples and lists alike, key order ignored)."""
    return json.loads(json.dumps(value, sort_keys=True, default=list))


def _index_entries(indexes: Any) -> list[dict[str, Any]]:
    return [{"field_name": i.field_name, "type": i.type, **({"params": i.params} if i.params else {})}
            for i in indexes]


def _namespace_value(key: str, value: Any) -> Any:
    """A namespace setting as it would be stored (defaults filled in), comparable with the export."""
    if key == "payload_indexes":
        return _normal(_index_entries(build_user_indexes(value or [])))
    if key == "vector_configs":
        return _normal([config.public() for config in check_vector_configs(value or [])])
    if key == "feature_extractors":
        return _normal([{k: v for k, v in entry.items() if k in ("feature_extractor_name", "version", "params")
                         and v is not None} for entry in value or [] if isinstance(entry, dict)])
    if key == "tiering":  # the storage tiering policy, as the namespace stores it
        policy = TieringPolicy.parse(value)
        return None if policy is None else _normal(policy.public())
    return _normal(value)


class ResourceKind(Protocol):
    """One kind of resource a manifest carries (retrievers, clusters, webhooks)."""

    key: str  # the manifest's list key
    type_name: str  # DiffItem.resource_type

    def export(self, namespace: Namespace) -> list[dict[str, Any]]: ...

    def check(self, namespace: Namespace, entry: dict[str, Any]) -> None:
        """Raises DomainError when the entry could not be applied to this namespace."""

    def normalize(self, namespace: Namespace, entry: dict[str, Any]) -> dict[str, Any]:
        """The entry as it would be stored, comparable with export()'s entries."""

    def refused(self, fields: list[str]) -> list[str]:
        """Of these differing fields, those an update cannot change."""

    def create(self, namespace: Namespace, entry: dict[str, Any]) -> str: ...

    def update(self, namespace: Namespace, name: str, entry: dict[str, Any]) -> str: ...

    def delete(self, namespace: Namespace, name: str) -> None: ...


class RetrieverKind:
    key, type_name = "retrievers", "retriever"

    def __init__(self, retrievers: RetrieverService) -> None:
        self._retrievers = retrievers

    def export(self, namespace: Namespace) -> list[dict[str, Any]]:
        found = []
        for retriever in self._retrievers.list(namespace):
            record = retriever.to_record()
            found.append(_normal(_declared({**record, "retriever_name": retriever.retriever_name},
                                           _RETRIEVER_FIELDS)))
        return found

    def check(self, namespace: Namespace, entry: dict[str, Any]) -> None:
        retriever_rules.check_name(entry.get("retriever_name"))
        schema = retriever_rules.check_input_schema(entry.get("input_schema") or {})
        if not isinstance(entry.get("stages"), list) or not entry["stages"]:
            raise BadRequest("a retriever needs stages", code="invalid_manifest")
        self._retrievers.check_stages(namespace, entry["stages"], schema)

    def normalize(self, namespace: Namespace, entry: dict[str, Any]) -> dict[str, Any]:
        """The entry as it would be stored (defaults filled in), for comparison with what exists."""
        schema = retriever_rules.check_input_schema(entry.get("input_schema") or {})
        return _normal({**_declared(entry, _RETRIEVER_FIELDS), "input_schema": schema,
                        "stages": self._retrievers.check_stages(namespace, entry["stages"], schema)})

    def refused(self, fields: list[str]) -> list[str]:
        return []

    def create(self, namespace: Namespace, entry: dict[str, Any]) -> str:
        return self._retrievers.create(namespace, _declared(entry, _RETRIEVER_FIELDS)).retriever_id

    def update(self, namespace: Namespace, name: str, entry: dict[str, Any]) -> str:
        return self._retrievers.patch(namespace, name, _declared(entry, _RETRIEVER_FIELDS)).retriever_id

    def delete(self, namespace: Namespace, name: str) -> None:
        self._retrievers.delete(namespace, name)


class ClusterKind:
    key, type_name = "clusters", "cluster"

    def __init__(self, clusters: ClusterService) -> None:
        self._clusters = clusters

    def export(self, namespace: Namespace) -> list[dict[str, Any]]:
        found = []
        for cluster in self._clusters.list(namespace):
            record = cluster.to_record()
            record["vector_config"] = {k: v for k, v in cluster.vector_config.items() if k != "method_params"}
            found.append(_normal(_declared(record, _CLUSTER_FIELDS)))
        return found

    def check(self, namespace: Namespace, entry: dict[str, Any]) -> None:
        cluster_rules.check_name(entry.get("cluster_name"))
        cluster_rules.check_vector_config(namespace, entry.get("vector_config"))
        cluster_rules.check_filters(entry.get("filters"))

    def normalize(self, namespace: Namespace, entry: dict[str, Any]) -> dict[str, Any]:
        config, _ = cluster_rules.check_vector_config(namespace, entry.get("vector_config"))
        config.pop("method_params", None)
        return _normal({**_declared(entry, _CLUSTER_FIELDS), "vector_config": config})

    def refused(self, fields: list[str]) -> list[str]:
        """What a PATCH cannot change: a cluster's features, method and sources are what its runs mean."""
        return [name for name in fields if name not in _CLUSTER_PATCHABLE]

    def create(self, namespace: Namespace, entry: dict[str, Any]) -> str:
        return self._clusters.create(namespace, _declared(entry, _CLUSTER_FIELDS)).cluster_id

    def update(self, namespace: Namespace, name: str, entry: dict[str, Any]) -> str:
        return self._clusters.patch(namespace, name, _declared(entry, _CLUSTER_PATCHABLE)).cluster_id

    def delete(self, namespace: Namespace, name: str) -> None:
        self._clusters.delete(namespace, name)


class WebhookKind:
    key, type_name = "webhooks", "webhook"
    _FIELDS = ("webhook_name", "url", "events", "is_active")

    def __init__(self, webhooks: Any) -> None:
        self._webhooks = webhooks

    @staticmethod
    def _caller(namespace: Namespace) -> Principal:
        return Principal(namespace.org_id, "manifest")

    def export(self, namespace: Namespace) -> list[dict[str, Any]]:
        # Never the signing secret: a manifest is configuration, often kept in a repository.
        return [_normal({"webhook_name": w.webhook_name, "url": w.url, "events": sorted(w.event_types),
                         "is_active": w.is_active})
                for w in self._webhooks.list(self._caller(namespace), namespace)]

    def check(self, namespace: Namespace, entry: dict[str, Any]) -> None:
        from openpeek.domain import webhooks as webhook_rules
        from openpeek.domain.errors import Conflict, NotFound

        name = webhook_rules.check_name(entry.get("webhook_name"))
        webhook_rules.check_event_types(entry.get("events") or entry.get("event_types"))
        self._webhooks.check_target(entry.get("url"))
        try:
            existing = self._webhooks.get(self._caller(namespace), name, namespace)
        except NotFound:
            return  # names are per namespace: a sibling namespace's webhook of this name is no obstacle
        if existing.namespace_id != namespace.namespace_id:
            raise Conflict(f"webhook name '{name}' is used by another namespace of this organisation",
                           code="webhook_name_taken")

    def normalize(self, namespace: Namespace, entry: dict[str, Any]) -> dict[str, Any]:
        events = entry.get("events") or entry.get("event_types") or []
        return _normal({"webhook_name": entry.get("webhook_name"), "url": entry.get("url"),
                        "events": sorted(dict.fromkeys(events)), "is_active": entry.get("is_active", True)})

    def refused(self, fields: list[str]) -> list[str]:
        return []

    def create(self, namespace: Namespace, entry: dict[str, Any]) -> str:
        return self._webhooks.create(self._caller(namespace), _declared(entry, self._FIELDS), namespace).webhook_id

    def update(self, namespace: Namespace, name: str, entry: dict[str, Any]) -> str:
        return self._webhooks.update(self._caller(namespace), name, _declared(entry, self._FIELDS),
                                     namespace).webhook_id

    def delete(self, namespace: Namespace, name: str) -> None:
        self._webhooks.delete(self._caller(namespace), name, namespace)


@dataclass
class Plan:
    namespace_changes: dict[str, Any] = field(default_factory=dict)
    items: list[dict[str, Any]] = field(default_factory=list)  # {kind, name, action, fields, entry}


class ManifestService:
    def __init__(self, namespaces: NamespaceService, kinds: list[Any]) -> None:
        self._namespaces = namespaces
        self._kinds = kinds

    # -- which namespace -----------------------------------------------------------------------------------------

    def target(self, principal: Principal, header: str | None, manifest: dict[str, Any]) -> Namespace | None:
        """The namespace a manifest is for: X-Namespace when sent (it must exist), else the one the manifest names
        (None when it does not exist yet: apply creates it)."""
        if header:
            return self._namespaces.resolve(principal, header)
        section = manifest.get("namespace") if isinstance(manifest.get("namespace"), dict) else {}
        name = section.get("namespace_id") or section.get("namespace_name")
        if not isinstance(name, str) or not name.strip():
            raise BadRequest("send X-Namespace, or name the namespace in the manifest (namespace.namespace_name)",
                             code="missing_namespace")
        try:
            return self._namespaces.resolve(principal, name.strip())
        except DomainError:
            return None

    @staticmethod
    def _creation_request(manifest: dict[str, Any]) -> dict[str, Any]:
        section = dict(manifest.get("namespace") or {})
        request = {key: section[key] for key in ("namespace_name", "description", "auto_create_indexes",
                                                 "payload_indexes", "vector_configs", "feature_extractors", "mode",
                                                 "tiering")
                   if section.get(key) is not None}
        if section.get("vector_configs") and "mode" not in request:
            request["mode"] = "standalone"
        return request

    def _draft(self, principal: Principal, manifest: dict[str, Any]) -> Namespace:
        """The namespace apply would create, unsaved, to check the resources against."""
        request = self._creation_request(manifest)
        try:
            configs = tuple(check_vector_configs(request.get("vector_configs") or []))
        except DomainError:
            configs = ()
        return Namespace(namespace_id="(new)", org_id=principal.org_id,
                         namespace_name=str(request.get("namespace_name", "(new)")),
                         mode=request.get("mode", "managed"), vector_configs=configs)

    # -- export ------------------------------------------------------------------------------------------------------

    def export(self, namespace: Namespace) -> dict[str, Any]:
        manifest: dict[str, Any] = {"version": VERSION, "namespace": self._namespace_section(namespace)}
        for kind in self._kinds:
            exported = kind.export(namespace)
            # A kind whose entries depend on each other (collections reading from collections) gives its own order.
            manifest[kind.key] = exported if getattr(kind, "keeps_order", False) else sorted(
                exported, key=lambda e: str(e.get(self._name_key(kind))))
        return manifest

    @staticmethod
    def _namespace_section(namespace: Namespace) -> dict[str, Any]:
        return _normal({
            "namespace_name": namespace.namespace_name,
            "description": namespace.description,
            "auto_create_indexes": namespace.auto_create_indexes,
            "payload_indexes": _index_entries(i for i in namespace.user_payload_indexes() if not i.automatic),
            "vector_configs": [config.public() for config in namespace.vector_configs],
            "feature_extractors": [{"feature_extractor_name": ref.name, "version": ref.version,
                                    **({"params": ref.params} if ref.params else {})}
                                   for ref in namespace.feature_extractors],
            **({"tiering": namespace.extra["tiering"]} if namespace.extra.get("tiering") else {}),
        })

    @staticmethod
    def _name_key(kind: Any) -> str:
        return getattr(kind, "name_key", None) or {"retrievers": "retriever_name", "clusters": "cluster_name",
                                                   "webhooks": "webhook_name"}[kind.key]

    # -- validate / diff ---------------------------------------------------------------------------------------------

    def validate(self, principal: Principal, namespace: Namespace | None, manifest: dict[str, Any]) -> dict[str, Any]:
        errors, warnings, counts = self._check(namespace or self._draft(principal, manifest), manifest)
        return {"valid": not errors, "resources": counts, "errors": errors, "warnings": warnings,
                "missing_secrets": [], "parameters": []}

    def lint(self, principal: Principal, header: str | None, manifest: dict[str, Any], shape: list[str], *,
             skip_rules: list[str] | None = None) -> dict[str, Any]:
        """LintResponse: validation's errors (severity error: apply would refuse the manifest) and the best-practice
        findings of domain/manifest_lint.py, without changing anything. `shape`: the manifest's shape errors, found
        by the caller; with any, only they are reported. The namespace checked against: X-Namespace, else the one
        the manifest names, else (none named, or not made yet) the one apply would create."""
        unknown = sorted(set(skip_rules or []) - set(lint_rules.RULES))
        if unknown:
            raise BadRequest(f"unknown lint rules: {', '.join(unknown)}; the rules are "
                             f"{', '.join(sorted(lint_rules.RULES))}", code="invalid_skip_rules",
                             details={"unknown": unknown, "rules": sorted(lint_rules.RULES)})
        if shape:
            errors = [(message.split(":", 1)[0], message) for message in shape]
            findings: list[lint_rules.Finding] = []
        else:
            section = manifest.get("namespace") if isinstance(manifest.get("namespace"), dict) else {}
            named = header or section.get("namespace_id") or section.get("namespace_name")
            namespace = self.target(principal, header, manifest) if named else None
            checked, _, _ = self._check(namespace or self._draft(principal, manifest), manifest)
            errors = [(self._location(manifest, message), message) for message in checked]
            findings = [f for f in lint_rules.lint(manifest) if f.code not in set(skip_rules or [])]
        results = [lint_rules.Finding("VALIDATION_ERROR", lint_rules.ERROR, message, location,
                                      "Fix this before applying: apply refuses a manifest with errors").public()
                   for location, message in errors] + [finding.public() for finding in findings]
        summary = {severity: sum(1 for r in results if r["severity"] == severity)
                   for severity in (lint_rules.ERROR, lint_rules.WARNING, lint_rules.INFO)}
        return {"valid": not errors, "results": results, "summary": summary}

    def _location(self, manifest: dict[str, Any], message: str) -> str:
        """Where a validation error is, from the way _check words it ("retriever 'x': ...", "namespace: ...")."""
        if message.startswith("namespace"):
            return "namespace"
        for kind in self._kinds:
            prefix = f"{kind.type_name} '"
            if message.startswith(prefix):
                name = message[len(prefix):].split("'", 1)[0]
                entries = manifest.get(kind.key) or []
                for index, entry in enumerate(entries):
                    if isinstance(entry, dict) and str(entry.get(self._name_key(kind))) == name:
                        return f"{kind.key}[{index}]"
                return kind.key
            if message.startswith(f"{kind.key} "):
                return kind.key
        return "manifest"

    def _check(self, namespace: Namespace, manifest: dict[str, Any]) -> tuple[list[str], list[str], dict[str, int]]:
        errors: list[str] = []
        warnings: list[str] = []
        counts: dict[str, int] = {}
        known = {"version", "namespace", *(kind.key for kind in self._kinds)}
        for key in sorted(set(manifest) - known):
            # Refused, not dropped: an apply that answered success while leaving a section out would lie.
            errors.append(f"'{key}' is not a section this deployment supports (supported: "
                          f"{', '.join(sorted(known))}); remove it or apply it elsewhere")
        if manifest.get("version", VERSION) != VERSION:
            errors.append(f"version must be {VERSION}")
        section = manifest.get("namespace") or {}
        if not isinstance(section, dict):
            errors.append("namespace must be an object")
            section = {}
        target = namespace
        try:
            if section.get("payload_indexes") is not None:
                build_user_indexes(section["payload_indexes"])
            if section.get("vector_configs"):
                configs = check_vector_configs(section["vector_configs"])
                target = self._with_vector_configs(namespace, configs, errors)
            if section.get("feature_extractors"):
                target = self._with_extractors(target, section["feature_extractors"], errors)
        except DomainError as error:
            errors.append(f"namespace: {error.message}")
        counts["namespace"] = 1 if section else 0
        for kind in self._kinds:
            entries = manifest.get(kind.key) or []
            if not isinstance(entries, list) or not all(isinstance(e, dict) for e in entries):
                errors.append(f"{kind.key} must be a list of objects")
                continue
            names = [e.get(self._name_key(kind)) for e in entries]
            duplicates = sorted({str(n) for n in names if names.count(n) > 1})
            if duplicates:
                errors.append(f"{kind.key}: names used twice: {', '.join(duplicates)}")
            for entry in entries:
                try:
                    kind.check(target, entry)
                except DomainError as error:
                    errors.append(f"{kind.type_name} '{entry.get(self._name_key(kind))}': {error.message}")
            counts[kind.key] = len(entries)
        return errors, warnings, counts

    @staticmethod
    def _with_vector_configs(namespace: Namespace, configs: list, errors: list[str]) -> Namespace:
        """The namespace as it will be once apply adds the manifest's missing bring-your-own indexes."""
        from dataclasses import replace

        present = {c.name: c for c in namespace.vector_configs}
        for config in configs:
            if config.name in present and (present[config.name].dimension, present[config.name].metric) != (
                    config.dimension, config.metric):
                errors.append(f"namespace: vector index '{config.name}' exists with another dimension or metric")
        missing = tuple(c for c in configs if c.name not in present)
        if missing and namespace.mode != "standalone":
            errors.append("namespace: vector_configs can only be added to a standalone namespace")
            return namespace
        return replace(namespace, vector_configs=namespace.vector_configs + missing)

    @staticmethod
    def _with_extractors(namespace: Namespace, entries: Any, errors: list[str]) -> Namespace:
        """The namespace with the manifest's extractors (unknown ones are errors), so retrievers naming their feature
        URIs check out."""
        from openpeek.domain import extractors as extractor_rules
        from openpeek.domain.namespace import ExtractorRef

        refs = []
        for entry in entries if isinstance(entries, list) else []:
            try:
                extractor_rules.resolve(entry.get("feature_extractor_name"), entry.get("version"))
            except (DomainError, AttributeError, KeyError) as error:
                errors.append(f"namespace: feature extractor {entry!r}: {getattr(error, 'message', error)}")
                continue
            refs.append(ExtractorRef(entry["feature_extractor_name"], entry["version"], entry.get("params")))
        if refs and namespace.mode == "standalone":
            errors.append("namespace: a standalone namespace has no feature extractors")
            return namespace
        return namespace.with_extractors_appended(refs)[0] if refs else namespace

    def diff(self, principal: Principal, namespace: Namespace | None, manifest: dict[str, Any], *,
             prune: bool = False) -> dict[str, Any]:
        result: dict[str, list[dict[str, Any]]] = {"to_create": [], "in_system_only": [], "differences": []}
        if namespace is None:
            draft = self._draft(principal, manifest)
            result["to_create"].append({"resource_type": "namespace", "name": draft.namespace_name,
                                        "action": "create", "details": None})
            for kind in self._kinds:
                result["to_create"].extend({"resource_type": kind.type_name, "name": str(e.get(self._name_key(kind))),
                                            "action": "create", "details": None}
                                           for e in manifest.get(kind.key) or [] if isinstance(e, dict))
            return result
        plan = self._plan(namespace, manifest, prune=True)
        if plan.namespace_changes:
            result["differences"].append({"resource_type": "namespace", "name": namespace.namespace_name,
                                          "action": "update", "details": "differs: " + ", ".join(
                                              sorted(plan.namespace_changes))})
        bucket = {"create": "to_create", "delete": "in_system_only", "update": "differences"}
        for item in plan.items:
            if item["action"] in bucket:
                details = ("differs: " + ", ".join(item["fields"])) if item["action"] == "update" else None
                result[bucket[item["action"]]].append({"resource_type": item["type"], "name": item["name"],
                                                       "action": item["action"], "details": details})
        return result

    def _plan(self, namespace: Namespace, manifest: dict[str, Any], *, prune: bool) -> Plan:
        plan = Plan()
        current = self._namespace_section(namespace)
        wanted = manifest.get("namespace") or {}
        for key in _NAMESPACE_FIELDS:
            if key in wanted and _namespace_value(key, wanted[key]) != current.get(key):
                if key == "vector_configs":
                    present = {c["name"] for c in current["vector_configs"]}
                    if all(c.get("name") in present for c in wanted[key]):
                        continue  # only adding is meaningful: indexes the manifest leaves out stay
                if key == "feature_extractors":
                    present = {(e["feature_extractor_name"], e["version"]) for e in current["feature_extractors"]}
                    missing = [e for e in wanted[key] if isinstance(e, dict)
                               and (e.get("feature_extractor_name"), e.get("version")) not in present]
                    if not missing:
                        continue  # extractors are only ever added
                    plan.namespace_changes[key] = missing
                    continue
                plan.namespace_changes[key] = wanted[key]
        for kind in self._kinds:
            name_key = self._name_key(kind)
            existing = {e[name_key]: e for e in kind.export(namespace)}
            declared = {e[name_key]: e for e in manifest.get(kind.key) or []}
            for name, entry in declared.items():
                if name not in existing:
                    plan.items.append({"kind": kind, "type": kind.type_name, "name": name, "action": "create",
                                       "fields": [], "entry": entry})
                    continue
                normalized = kind.normalize(namespace, entry)
                differing = sorted(key for key, value in normalized.items()
                                   if value != existing[name].get(key))
                plan.items.append({"kind": kind, "type": kind.type_name, "name": name,
                                   "action": "update" if differing else "unchanged", "fields": differing,
                                   "entry": entry})
            if prune:
                plan.items.extend({"kind": kind, "type": kind.type_name, "name": name, "action": "delete",
                                   "fields": [], "entry": None} for name in existing if name not in declared)
        return plan

    # -- apply -------------------------------------------------------------------------------------------------------

    def apply(self, principal: Principal, namespace: Namespace | None, manifest: dict[str, Any], *,
              mode: str = "upsert", dry_run: bool = False, prune: bool = False) -> dict[str, Any]:
        if mode not in ("create_only", "create_missing", "upsert"):
            raise BadRequest("mode must be create_only, create_missing or upsert", code="invalid_apply_mode")
        errors, warnings, _ = self._check(namespace or self._draft(principal, manifest), manifest)
        if errors:
            raise ManifestInvalid(errors)
        created_namespace: list[dict[str, Any]] = []
        if namespace is None:
            if dry_run:
                return {"success": True, "dry_run": True, "warnings": warnings, "errors": [],
                        "resources": [{"resource_type": "namespace", "name": self._draft(principal, manifest)
                                       .namespace_name, "status": "would_create"}],
                        "would_create_count": 1 + sum(len(manifest.get(k.key) or []) for k in self._kinds)}
            namespace = self._namespaces.create(principal, self._creation_request(manifest)).namespace
            created_namespace.append({"resource_type": "namespace", "name": namespace.namespace_name,
                                      "resource_id": namespace.public_id, "status": "created"})
        plan = self._plan(namespace, manifest, prune=prune)
        refused = [f"{i['type']} '{i['name']}' cannot change {', '.join(i['kind'].refused(i['fields']))} in place"
                   for i in plan.items if i["action"] == "update" and i["kind"].refused(i["fields"])]
        if refused and mode == "upsert":
            raise ManifestInvalid(refused)
        if mode == "create_only":
            existing = [f"{i['type']} '{i['name']}'" for i in plan.items if i["action"] in ("update", "unchanged")]
            if existing:
                raise BadRequest(f"mode create_only: these exist already: {', '.join(existing)}",
                                 code="resources_exist", details={"existing": existing})
        results: list[dict[str, Any]] = list(created_namespace)
        counts = {"created": len(created_namespace), "updated": 0, "skipped": 0}
        if dry_run:
            for item in plan.items:
                status = "would_create" if item["action"] == "create" else "exists"
                results.append({"resource_type": item["type"], "name": item["name"], "status": status})
            return {"success": True, "dry_run": True, "resources": results, "warnings": warnings, "errors": [],
                    "would_create_count": sum(1 for i in plan.items if i["action"] == "create")}
        if plan.namespace_changes and mode == "upsert":
            namespace = self._apply_namespace(principal, namespace, plan.namespace_changes)
            results.append({"resource_type": "namespace", "name": namespace.namespace_name, "status": "updated",
                            "resource_id": namespace.public_id, "drift": sorted(plan.namespace_changes)})
            counts["updated"] += 1
        for item in plan.items:
            kind, name, action = item["kind"], item["name"], item["action"]
            if action == "create":
                resource_id = kind.create(namespace, item["entry"])
                status = "created"
            elif action == "update" and mode == "upsert":
                resource_id = kind.update(namespace, name, item["entry"])
                status = "updated"
            elif action == "delete":
                kind.delete(namespace, name)
                resource_id, status = None, "updated"
            else:
                resource_id, status = None, "exists" if action == "unchanged" else "skipped"
            counts[{"created": "created", "updated": "updated"}.get(status, "skipped")] += 1
            results.append({"resource_type": item["type"], "name": name, "resource_id": resource_id,
                            "status": status, **({"drift": item["fields"]} if item["fields"] else {})})
        return {"success": True, "dry_run": False, "resources": results, "created_count": counts["created"],
                "updated_count": counts["updated"], "skipped_count": counts["skipped"], "failed_count": 0,
                "errors": [], "warnings": warnings}

    def _apply_namespace(self, principal: Principal, namespace: Namespace, changes: dict[str, Any]) -> Namespace:
        if "vector_configs" in changes:
            configs = check_vector_configs(changes["vector_configs"])
            namespace = self._namespaces.add_vector_configs(namespace, configs)
        patch = {key: value for key, value in changes.items() if key != "vector_configs"}
        if patch:
            namespace = self._namespaces.patch(principal, namespace.public_id, patch).namespace
        return namespace


def render(manifest: dict[str, Any], fmt: str) -> tuple[str, str]:
    """(body, media type) of an exported manifest."""
    if fmt == "yaml":
        return yaml.safe_dump(manifest, sort_keys=False), "application/yaml"
    return json.dumps(manifest, indent=2), "application/json"

