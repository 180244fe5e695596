"""NamespaceInfrastructure tier rules (seed 000) and the document-authorization config rules."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from openpeek.domain.errors import BadRequest, Forbidden

DEDICATED_TIERS = ("dedicated_cpu", "dedicated_gpu")
_LOCAL_HOSTS = ("localhost", "127.0.0.1", "::1")
# Cloud metadata services: never a vector store, whoever chose the URL (the same names the webhook rules refuse).
_METADATA_HOSTS = frozenset({
    "metadata", "metadata.google.internal", "metadata.goog", "instance-data", "instance-data.ec2.internal",
    "metadata.azure.com", "metadata.packet.net",
})


@dataclass(frozen=True)
class DedicatedVectorStore:
    """A namespace's own Qdrant server (a dedicated tier with `qdrant_url`): where every vector operation of its
    collection goes instead of the deployment's shared store. The key never shows in a repr or a log line."""

    url: str
    api_key: str | None = field(default=None, repr=False)


class NoNamespace:
    """What a lookup of a collection's store answers when no namespace owns the collection (yet)."""


NO_NAMESPACE = NoNamespace()


def dedicated_vector_store(infrastructure: dict[str, Any] | None, api_key: str | None) -> DedicatedVectorStore | None:
    """The dedicated store an infrastructure block points at, or None when the namespace lives in the shared store."""
    infra = infrastructure or {}
    if infra.get("compute_tier") not in DEDICATED_TIERS or not infra.get("qdrant_url"):
        return None
    return DedicatedVectorStore(infra["qdrant_url"], api_key)


def forbidden_vector_store_address(address: str) -> str | None:
    """Why a dedicated Qdrant may not live at this IP address, or None. The store is chosen by the namespace's
    operator, so loopback and private networks are allowed (a Qdrant beside the server, or in the same VPC); what is
    never a vector store is refused: link-local (cloud metadata at 169.254.169.254), multicast, unspecified."""
    try:
        parsed = ipaddress.ip_address(address.strip("[]"))
    except ValueError:
        return None
    if isinstance(parsed, ipaddress.IPv6Address) and parsed.ipv4_mapped is not None:
        parsed = parsed.ipv4_mapped
    if parsed.is_link_local:
        return "link-local"
    if parsed.is_multicast:
        return "multicast"
    if parsed.is_unspecified:
        return "unspecified"
    return None


def _check_vector_store_url(value: str) -> None:
    """qdrant_url rules: http(s) with a host (and an optional port) and nothing else — no credentials (the key
    travels as `qdrant_api_key`, which is write-only), no query or fragment — and no metadata or link-local host."""
    _require_url(value, "qdrant_url", ("http", "https"))
    parts = urlsplit(value)
    try:
        parts.port
    except ValueError:
        raise BadRequest("infrastructure.qdrant_url has an invalid port", code="invalid_infrastructure",
                         details={"field": "qdrant_url"}) from None
    if parts.username is not None or parts.password is not None:
        raise BadRequest("infrastructure.qdrant_url may not carry credentials (user:password@); send the key as "
                         "qdrant_api_key", code="invalid_infrastructure", details={"field": "qdrant_url"})
    if parts.query or parts.fragment or any(ch in value for ch in " \r\n\t"):
        raise BadRequest("infrastructure.qdrant_url may not carry a query, a fragment or whitespace",
                         code="invalid_infrastructure", details={"field": "qdrant_url"})
    host = (parts.hostname or "").lower().rstrip(".")
    reason = "metadata" if host in _METADATA_HOSTS else forbidden_vector_store_address(host)
    if reason:
        raise BadRequest(f"infrastructure.qdrant_url host '{host}' is not allowed ({reason} address)",
                         code="invalid_infrastructure", details={"field": "qdrant_url", "reason": reason})


def _require_url(value: str, field_name: str, schemes: tuple[str, ...]) -> None:
    parts = urlsplit(value)
    if parts.scheme not in schemes or not parts.hostname:
        raise BadRequest(
            f"infrastructure.{field_name} must be a URL of the form {schemes[0]}://host:port",
            code="invalid_infrastructure",
            details={"field": field_name, "accepted_schemes": list(schemes)},
        )


def normalize_infrastructure(
    requested: dict[str, Any], *, enterprise: bool, own_collection: str, stored_api_key: str | None
) -> tuple[dict[str, Any], str | None]:
    """Check an infrastructure block and return (what is stored and shown, the write-only vector-store key).

    The API key never goes into the first value; `qdrant_api_key_provided` says whether one is configured."""
    infra = {key: value for key, value in requested.items() if key not in ("qdrant_api_key", "qdrant_api_key_provided")}
    api_key = requested.get("qdrant_api_key") or stored_api_key
    tier = infra.get("compute_tier") or "shared"
    infra["compute_tier"] = tier

    if tier in DEDICATED_TIERS:
        if not enterprise:
            raise Forbidden(
                f"compute_tier '{tier}' needs an Enterprise organisation",
                code="enterprise_required",
                details={"compute_tier": tier},
            )
        missing = [name for name in ("qdrant_url", "ray_head_node_url") if not infra.get(name)]
        if not api_key:
            missing.append("qdrant_api_key")
        if tier == "dedicated_gpu" and not infra.get("gpu_type"):
            missing.append("gpu_type")
        if missing:
            # openpeek does not provision Qdrant servers: a dedicated tier runs on one its operator gives.
            provision = "; this deployment does not provision dedicated vector stores, give your own Qdrant's URL" \
                if "qdrant_url" in missing else ""
            raise BadRequest(
                f"compute_tier '{tier}' requires {', '.join(missing)}{provision}",
                code="infrastructure_incomplete",
                details={"compute_tier": tier, "missing": missing},
            )
        # The collection keeps the namespace's own name on its dedicated server too: the name is the namespace's,
        # so two namespaces (a clone, a sibling) never share one, wherever their store is.
        collection = infra.get("qdrant_collection")
        if collection not in (None, own_collection):
            raise BadRequest(
                f"qdrant_collection of this namespace is '{own_collection}' and cannot be changed",
                code="invalid_infrastructure",
                details={"field": "qdrant_collection", "expected": own_collection},
            )
        infra["qdrant_collection"] = own_collection
    else:
        if infra.get("qdrant_url"):
            raise BadRequest(
                f"infrastructure.qdrant_url is used only by the dedicated tiers ({', '.join(DEDICATED_TIERS)}); "
                "a shared-tier namespace lives in this deployment's vector store",
                code="invalid_infrastructure",
                details={"field": "qdrant_url", "compute_tier": tier},
            )
        # The shared tier runs on this deployment's vector store: a namespace may not point at another collection.
        collection = infra.get("qdrant_collection")
        if collection not in (None, own_collection):
            raise BadRequest(
                f"qdrant_collection of a shared-tier namespace is '{own_collection}' and cannot be changed",
                code="invalid_infrastructure",
                details={"field": "qdrant_collection", "expected": own_collection},
            )
        infra["qdrant_collection"] = own_collection
    if infra.get("qdrant_url"):
        _check_vector_store_url(infra["qdrant_url"])
    if infra.get("ray_head_node_url"):
        _require_url(infra["ray_head_node_url"], "ray_head_node_url", ("ray", "http", "https"))
    if infra.get("ray_dashboard_url"):
        _require_url(infra["ray_dashboard_url"], "ray_dashboard_url", ("http", "https"))
    if api_key and not infra.get("qdrant_url") and requested.get("qdrant_api_key"):
        raise BadRequest(
            "qdrant_api_key is only meaningful with qdrant_url",
            code="invalid_infrastructure",
            details={"field": "qdrant_api_key"},
        )
    min_workers, max_workers = infra.get("min_workers"), infra.get("max_workers")
    if min_workers is not None and max_workers is not None and min_workers > max_workers:
        raise BadRequest(
            "infrastructure.min_workers must not exceed max_workers",
            code="invalid_infrastructure",
            details={"min_workers": min_workers, "max_workers": max_workers},
        )
    if infra.get("authorization") is not None:
        infra["authorization"] = check_authorization(infra["authorization"])
    return infra, (api_key if infra.get("qdrant_url") else None)


def check_authorization(config: dict[str, Any]) -> dict[str, Any]:
    """NamespaceAuthorizationConfig: the pull modes (pull_list_objects, pull_batch_check, auto — the default) need an
    OpenFGA endpoint and store; push mode filters on the documents' own ACLs and needs neither. Whatever the mode, a
    plaintext api_token is only accepted for a local (http or localhost) OpenFGA; elsewhere use
    api_token_secret_ref."""
    if not config.get("enabled"):
        return config
    push = config.get("mode") == "push"
    missing = [] if push else [name for name in ("api_url", "store_id") if not config.get(name)]
    if missing:
        raise BadRequest(
            f"authorization.enabled requires {', '.join(missing)}",
            code="invalid_authorization",
            details={"missing": missing},
        )
    if not config.get("api_url"):
        if config.get("api_token"):
            raise BadRequest(
                "authorization.api_token is accepted only for a local OpenFGA api_url",
                code="invalid_authorization",
                details={"field": "api_token"},
            )
        return config
    parts = urlsplit(config["api_url"])
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise BadRequest(
            "authorization.api_url must be an http(s) URL",
            code="invalid_authorization",
            details={"field": "api_url"},
        )
    local = parts.scheme == "http" or parts.hostname in _LOCAL_HOSTS
    if config.get("api_token") and not local:
        raise BadRequest(
            "authorization.api_token is accepted only for a local OpenFGA; use api_token_secret_ref",
            code="invalid_authorization",
            details={"field": "api_token"},
        )
    return config


def without_token(infrastructure: dict[str, Any] | None) -> dict[str, Any] | None:
    """The infrastructure block as it may be shown or copied: the OpenFGA `authorization.api_token` is write-only, like
    the vector store's key (a clone does not inherit it either; `api_token_secret_ref` is the form that travels)."""
    if not infrastructure or not isinstance(infrastructure.get("authorization"), dict):
        return infrastructure
    if infrastructure["authorization"].get("api_token") is None:
        return infrastructure
    return {**infrastructure, "authorization": {**infrastructure["authorization"], "api_token": None}}


def keeping_stored_token(requested: dict[str, Any], stored: dict[str, Any] | None) -> dict[str, Any]:
    """An update that sends back the authorization block GET showed (its api_token null) keeps the stored token, as
    long as it still points at the same OpenFGA."""
    wanted, current = requested.get("authorization"), (stored or {}).get("authorization")
    if not isinstance(wanted, dict) or not isinstance(current, dict) or wanted.get("api_token") is not None:
        return requested
    if not current.get("api_token") or wanted.get("api_url") != current.get("api_url"):
        return requested
    return {**requested, "authorization": {**wanted, "api_token": current["api_token"]}}
