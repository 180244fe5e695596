"""Webhook rules: what a subscription may say (event types, target URL), the signature receivers check, and which
events a webhook gets. Pure functions and values, no I/O: `check_url` resolves host names through the resolver it is
given.

Target URLs (SSRF): in the deployed runtime (`aws`) a webhook must be https and every address its host resolves to
must be public: loopback, link-local (169.254/16, fe80::/10: the instance-metadata service lives there), RFC 1918 and
unique-local (fc00::/7), carrier-grade NAT, unspecified (0.0.0.0, ::), multicast and reserved ranges are refused,
and so are the metadata host names. The check runs again at delivery time against a fresh resolution (a host name
can be re-pointed after creation: DNS rebinding), and the delivery connects to an address it checked. The embedded
runtime (a laptop, a test) also accepts http and loopback targets (http://localhost, http://127.0.0.1); everything
else stays refused there too.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import re
import secrets
import time
from dataclasses import dataclass, field, replace
from typing import Any, Callable, Iterable, Sequence
from urllib.parse import urlsplit

from openpeek.domain.errors import BadRequest

# The SDK's WebhookEventType, copied (tests/unit/test_webhook_rules.py checks it still equals the SDK's enum; the
# SDK is a development dependency only, never in a Lambda bundle).
SDK_EVENT_TYPES: frozenset[str] = frozenset({
    "object.created", "objects.created.batch", "object.updated", "object.deleted", "document.created",
    "document.updated", "document.deleted", "documents.updated.batch", "documents.deleted.batch",
    "collection.created", "collection.updated", "collection.deleted", "collection.documents.written",
    "collection.documents.batch_completed", "cluster.created", "cluster.updated", "cluster.deleted",
    "cluster.execution.started", "cluster.execution.completed", "cluster.execution.failed", "trigger.created",
    "trigger.updated", "trigger.deleted", "trigger.paused", "trigger.resumed", "trigger.fired",
    "trigger.execution.completed", "trigger.execution.failed", "taxonomy.created", "taxonomy.updated",
    "taxonomy.deleted", "alert.created", "alert.updated", "alert.deleted", "alert.triggered",
    "alert.execution.completed", "alert.execution.failed", "annotation.created", "annotation.updated",
    "annotation.deleted", "resource.executed", "resource.execution_failed", "manifest.apply.resource_state",
})
# Events the seeds name that the SDK's enum lacks: seed 003's webhook example subscribes to batch.completed /
# batch.failed, and the namespace lifecycle events (seed 000's TTL expiry among them) are ours to announce.
SEED_EVENT_TYPES: frozenset[str] = frozenset({
    "batch.completed", "batch.failed", "namespace.created", "namespace.updated", "namespace.deleted",
    "namespace.expired",
})
# What this deployment publishes beyond both lists: every event it announces can be subscribed to.
ANNOUNCED_EVENT_TYPES: frozenset[str] = frozenset({
    "retriever.created", "retriever.updated", "retriever.deleted", "namespace.promoted",
    "cluster.execution.canceled", "webhook.created", "webhook.updated", "webhook.deleted",
    "bucket.created", "bucket.updated", "bucket.deleted",
})
EVENT_TYPES: frozenset[str] = SDK_EVENT_TYPES | SEED_EVENT_TYPES | ANNOUNCED_EVENT_TYPES

SECRET_PREFIX = "whsec_"
_SIGNING_SECRET = "signing_secret"
_HEADER_SECRET = "header:"
REDACTED = "redacted"
MAX_NAME_LENGTH = 200
MAX_URL_LENGTH = 2048
DEFAULT_TIMEOUT_S = 10.0
MAX_TIMEOUT_S = 10.0
SIGNATURE_HEADER = "X-Openpeek-Signature"
EVENT_HEADER = "X-Openpeek-Event"
DELIVERY_HEADER = "X-Openpeek-Delivery"
# Headers the caller may not set on a webhook: ours, and those the HTTP client owns.
RESERVED_HEADERS = frozenset({
    SIGNATURE_HEADER.lower(), EVENT_HEADER.lower(), DELIVERY_HEADER.lower(), "content-type", "content-length",
    "host", "transfer-encoding", "connection",
})
METADATA_HOSTS = frozenset({
    "metadata", "metadata.google.internal", "metadata.goog", "instance-data", "instance-data.ec2.internal",
    "metadata.azure.com", "metadata.packet.net",
})
LOOPBACK_NAMES = frozenset({"localhost", "localhost.localdomain", "ip6-localhost", "ip6-loopback"})
# Ranges ipaddress does not flag as private on every Python version, refused explicitly.
_EXTRA_BLOCKED = tuple(ipaddress.ip_network(net) for net in (
    "0.0.0.0/8", "10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "100.64.0.0/10", "fc00::/7", "64:ff9b::/96",
))

# IPv6 ranges that carry an IPv4 address a router or relay will reach (6to4, Teredo, IPv4-compatible, local-use
# NAT64): a target there can be any IPv4 host, private ones included, so none is accepted.
_IPV4_EMBEDDING = tuple(ipaddress.ip_network(net) for net in ("2002::/16", "2001::/32", "::/96", "64:ff9b:1::/48"))

Resolver = Callable[[str, int], Sequence[str]]




# --------------------------------------------------------------------------------------------------------------------
# The webhook
# --------------------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Webhook:
    """One subscription. `secret` signs every delivery: it is kept whole (a hash could not sign), in the secret store
    with the header values, and is shown to the caller only in the answer to the create call; every later read
    presents it as 'redacted'."""

    webhook_id: str
    org_id: str
    webhook_name: str
    url: str
    secret: str
    event_types: tuple[str, ...]
    namespace_id: str | None = None  # None: every namespace of the organisation
    resource_types: tuple[str, ...] | None = None
    headers: dict[str, str] = field(default_factory=dict)
    timeout_s: float = DEFAULT_TIMEOUT_S
    is_active: bool = True
    created_at: str = ""
    updated_at: str = ""
    version: int = 1
    # Where the signing secret and the header values are kept in the secret store (repositories/secrets.py); None for
    # a record written before they left the table (it holds them in plaintext).
    secret_reference: dict[str, str] | None = None

    def secret_values(self) -> dict[str, str]:
        """The values that never go into the table: the signing secret and every custom header's value."""
        values = {_HEADER_SECRET + name: value for name, value in self.headers.items()}
        return {_SIGNING_SECRET: self.secret, **values} if self.secret else values

    def with_secret_values(self, values: dict[str, str]) -> "Webhook":
        """The webhook holding `values` as its secrets ({} strips them: the header names stay, their values are
        'redacted')."""
        return replace(self, secret=values.get(_SIGNING_SECRET, ""),
                       headers={name: values.get(_HEADER_SECRET + name, REDACTED) for name in self.headers})

    def to_record(self) -> dict[str, Any]:
        return {
            "webhook_id": self.webhook_id, "org_id": self.org_id, "webhook_name": self.webhook_name,
            "url": self.url, "secret": self.secret, "event_types": list(self.event_types),
            "namespace_id": self.namespace_id,
            "resource_types": None if self.resource_types is None else list(self.resource_types),
            "headers": dict(self.headers), "timeout_s": self.timeout_s, "is_active": self.is_active,
            "created_at": self.created_at, "updated_at": self.updated_at, "secrets": self.secret_reference,
        }

    @classmethod
    def from_record(cls, record: dict[str, Any], version: int) -> "Webhook":
        resource_types = record.get("resource_types")
        return cls(
            webhook_id=record["webhook_id"], org_id=record["org_id"], webhook_name=record["webhook_name"],
            url=record["url"], secret=record["secret"], event_types=tuple(record["event_types"]),
            namespace_id=record.get("namespace_id"),
            resource_types=None if resource_types is None else tuple(resource_types),
            headers=dict(record.get("headers") or {}), timeout_s=float(record.get("timeout_s", DEFAULT_TIMEOUT_S)),
            is_active=bool(record.get("is_active", True)), created_at=record.get("created_at", ""),
            updated_at=record.get("updated_at", ""), version=version, secret_reference=record.get("secrets"),
        )

    def with_changes(self, **changes: Any) -> "Webhook":
        return replace(self, **changes)


def new_webhook_id() -> str:
    """The SDK's format: wh_ and 16 hex digits."""
    return "wh_" + secrets.token_hex(8)


def new_secret() -> str:
    return SECRET_PREFIX + secrets.token_urlsafe(32)


# --------------------------------------------------------------------------------------------------------------------
# Input rules
# --------------------------------------------------------------------------------------------------------------------


def check_name(name: Any) -> str:
    if not isinstance(name, str) or not name.strip():
        raise BadRequest("webhook_name must be a non-empty string", code="invalid_webhook_name")
    name = name.strip()
    if len(name) > MAX_NAME_LENGTH:
        raise BadRequest(f"webhook_name is at most {MAX_NAME_LENGTH} characters", code="invalid_webhook_name")
    if name.startswith("wh_"):
        raise BadRequest("webhook_name may not start with 'wh_' (that prefix names webhook ids)",
                         code="invalid_webhook_name")
    return name


def check_event_types(events: Any) -> tuple[str, ...]:
    """At least one, each a WebhookEventType of the SDK; duplicates dropped, order kept."""
    if not isinstance(events, (list, tuple)) or not events:
        raise BadRequest("events must name at least one event type", code="invalid_event_types",
                         details={"allowed": sorted(EVENT_TYPES)})
    unknown = [event for event in events if not isinstance(event, str) or event not in EVENT_TYPES]
    if unknown:
        raise BadRequest(f"unknown event type(s): {', '.join(map(str, unknown))}", code="unknown_event_type",
                         details={"unknown": [str(event) for event in unknown], "allowed": sorted(EVENT_TYPES)})
    return tuple(dict.fromkeys(events))


def check_resource_types(values: Any) -> tuple[str, ...] | None:
    if values is None:
        return None
    if not isinstance(values, (list, tuple)) or not all(isinstance(v, str) and v for v in values):
        raise BadRequest("resource_types must be a list of non-empty strings", code="invalid_resource_types")
    return tuple(dict.fromkeys(values)) or None


_HEADER_TEXT = re.compile(r"[\x20-\x7e\t]*")


def check_headers(headers: Any) -> dict[str, str]:
    if headers is None:
        return {}
    if not isinstance(headers, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in headers.items()):
        raise BadRequest("headers must map header names to string values", code="invalid_webhook_headers")
    reserved = sorted(name for name in headers if name.lower() in RESERVED_HEADERS)
    if reserved:
        raise BadRequest(f"these headers are set by the delivery and cannot be configured: {', '.join(reserved)}",
                         code="reserved_webhook_header", details={"headers": reserved})
    for name, value in headers.items():
        if not name or any(ch in name for ch in " :\r\n\t") or any(ch in value for ch in "\r\n"):
            raise BadRequest(f"invalid header '{name[:100]}'", code="invalid_webhook_headers")
        # What an HTTP client can send: visible ASCII (and spaces) only, else every delivery would fail.
        if not _HEADER_TEXT.fullmatch(name) or not _HEADER_TEXT.fullmatch(value) or len(value) > 8192:
            raise BadRequest(f"header '{name[:100]}': names and values are printable ASCII (values up to 8192)",
                             code="invalid_webhook_headers")
    return dict(headers)


def check_timeout(timeout: Any) -> float:
    if timeout is None:
        return DEFAULT_TIMEOUT_S
    if isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or not 0 < timeout <= MAX_TIMEOUT_S:
        raise BadRequest(f"timeout must be a number of seconds in (0, {MAX_TIMEOUT_S:g}]",
                         code="invalid_webhook_timeout")
    return float(timeout)


def check_secret(secret: Any) -> str | None:
    """A caller-chosen signing secret (the SDK's WebhookConfig.signing_secret). None, '' and 'redacted' mean 'keep
    (or generate) ours'."""
    if secret is None or secret == "" or secret == REDACTED:
        return None
    if not isinstance(secret, str) or len(secret) < 16 or len(secret) > 256:
        raise BadRequest("signing_secret must be 16 to 256 characters", code="invalid_signing_secret")
    return secret


@dataclass(frozen=True)
class Target:
    """The delivery target of a request body: the SDK's single WEBHOOK channel or the seed's `url`."""

    url: str
    headers: dict[str, str]
    timeout_s: float
    secret: str | None


def target_from_request(body: dict[str, Any]) -> Target | None:
    """Reads `url` (seed shape) or `channels` (SDK shape: exactly one channel of type 'webhook'). None when the body
    names neither (an update that keeps the target)."""
    url = body.get("url")
    channels = body.get("channels")
    if url is not None and channels:
        raise BadRequest("give either url or channels, not both", code="ambiguous_webhook_target")
    if url is not None:
        return Target(url, check_headers(body.get("headers")), check_timeout(body.get("timeout")),
                      check_secret(body.get("signing_secret")))
    if channels is None:
        return None
    if not isinstance(channels, list) or len(channels) != 1:
        raise BadRequest("exactly one channel is supported, of type 'webhook'", code="unsupported_channel")
    channel = channels[0] if isinstance(channels[0], dict) else {}
    kind = str(channel.get("channel", "")).lower()
    configs = channel.get("configs")
    if kind != "webhook":
        raise BadRequest(f"channel '{kind or channel.get('channel')}' is not supported by this deployment; "
                         "use a 'webhook' channel (HTTP POST)", code="unsupported_channel",
                         details={"channel": channel.get("channel")})
    if not isinstance(configs, dict) or not isinstance(configs.get("url"), str):
        raise BadRequest("a webhook channel needs configs.url", code="invalid_webhook_url")
    if configs.get("payload_template"):
        raise BadRequest("payload_template is not supported by this deployment; omit it",
                         code="unsupported_field", details={"field": "payload_template"})
    return Target(configs["url"], check_headers(configs.get("headers")), check_timeout(configs.get("timeout")),
                  check_secret(configs.get("signing_secret")))


# --------------------------------------------------------------------------------------------------------------------
# URL rules (SSRF)
# --------------------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class CheckedUrl:
    url: str
    scheme: str
    host: str  # as written (lower case), without brackets
    port: int
    addresses: tuple[str, ...]  # every address the host resolved to, all allowed


def _forbidden_address(address: ipaddress.IPv4Address | ipaddress.IPv6Address, *, allow_loopback: bool) -> str | None:
    """Why an address may not be a webhook target, or None when it may."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return _forbidden_address(address.ipv4_mapped, allow_loopback=allow_loopback)
    if address.is_loopback:
        return None if allow_loopback else "loopback"
    if address.is_unspecified:
        return "unspecified"
    if address.is_link_local:
        return "link-local"
    if address.is_multicast:
        return "multicast"
    if isinstance(address, ipaddress.IPv6Address) and any(address in net for net in _IPV4_EMBEDDING):
        return "IPv4-embedding IPv6"
    if address.is_private or any(address in net for net in _EXTRA_BLOCKED if net.version == address.version):
        return "private"
    if address.is_reserved or not address.is_global:
        return "reserved"
    return None


def check_url(url: Any, *, deployed: bool, resolver: Resolver) -> CheckedUrl:
    """Raise BadRequest (code invalid_webhook_url, webhook_url_not_https, webhook_url_forbidden_host or
    webhook_url_unresolvable) unless `url` is an allowed target; resolve its host with `resolver` (host, port →
    addresses; adapters/dns_resolver.py asks the system) and check every address."""
    if not isinstance(url, str) or not url or len(url) > MAX_URL_LENGTH:
        raise BadRequest(f"url must be an absolute http(s) URL of at most {MAX_URL_LENGTH} characters",
                         code="invalid_webhook_url")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        raise BadRequest(f"url '{url}' is not a valid URL", code="invalid_webhook_url") from None
    scheme = parts.scheme.lower()
    host = (parts.hostname or "").lower().rstrip(".")
    if scheme not in ("http", "https") or not host:
        raise BadRequest("url must be an absolute http(s) URL", code="invalid_webhook_url", details={"url": url})
    if parts.username is not None or parts.password is not None:
        raise BadRequest("url may not carry credentials (user:password@); use headers instead",
                         code="invalid_webhook_url")
    if any(ch in url for ch in " \r\n\t"):
        raise BadRequest("url may not contain whitespace", code="invalid_webhook_url")
    if deployed and scheme != "https":
        raise BadRequest("webhook urls must use https", code="webhook_url_not_https", details={"url": url})
    if port is None:
        port = 443 if scheme == "https" else 80
    allow_loopback = not deployed

    def forbidden(reason: str) -> BadRequest:
        return BadRequest(f"webhook url host '{host}' is not allowed ({reason} address); webhooks must target a "
                          "public host", code="webhook_url_forbidden_host", details={"host": host, "reason": reason})

    if host in METADATA_HOSTS or (deployed and host.endswith(".internal")):
        raise forbidden("metadata")
    literal: ipaddress.IPv4Address | ipaddress.IPv6Address | None
    try:
        literal = ipaddress.ip_address(host)
    except ValueError:
        literal = None
    if literal is not None:
        addresses: list[str] = [str(literal)]
    elif host in LOOPBACK_NAMES or host.endswith(".localhost"):
        if not allow_loopback:
            raise forbidden("loopback")
        addresses = ["127.0.0.1"]
    else:
        if not _valid_hostname(host):
            raise BadRequest(f"url host '{host}' is not a valid host name", code="invalid_webhook_url")
        try:
            addresses = list(resolver(host, port))
        except (OSError, UnicodeError):
            addresses = []
        if not addresses:
            raise BadRequest(f"webhook url host '{host}' does not resolve", code="webhook_url_unresolvable",
                             details={"host": host})
    for address in addresses:
        try:
            parsed = ipaddress.ip_address(address)
        except ValueError:
            raise forbidden("unparseable") from None
        reason = _forbidden_address(parsed, allow_loopback=allow_loopback)
        if reason:
            raise forbidden(reason)
    return CheckedUrl(url=url, scheme=scheme, host=host, port=port, addresses=tuple(addresses))


def _valid_hostname(host: str) -> bool:
    if len(host) > 253:
        return False
    labels = host.split(".")
    return all(0 < len(label) <= 63 and all(ch.isalnum() or ch in "-_" for ch in label)
               and not label.startswith("-") and not label.endswith("-") for label in labels)


# --------------------------------------------------------------------------------------------------------------------
# Signatures
# --------------------------------------------------------------------------------------------------------------------


def _as_text(body: bytes | str) -> bytes:
    return body if isinstance(body, bytes) else body.encode("utf-8")


def sign(secret: str, body: bytes | str, timestamp: int) -> str:
    """The X-Openpeek-Signature value: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, f"{t}.{body}")>."""
    digest = hmac.new(secret.encode("utf-8"), f"{timestamp}.".encode("ascii") + _as_text(body), hashlib.sha256)
    return f"t={timestamp},v1={digest.hexdigest()}"


def verify_signature(secret: str, header: str | None, body: bytes | str, tolerance_s: int = 300,
                     *, now: float | None = None) -> bool:
    """For receivers: True when `header` (X-Openpeek-Signature) signs exactly `body` (the raw request bytes) with
    `secret` and its timestamp is within `tolerance_s` of now (replay protection). Constant-time comparison; several
    v1 values (a rotation) are accepted if any matches."""
    if not header or not secret:
        return False
    timestamp: int | None = None
    candidates: list[str] = []
    for part in header.split(","):
        key, _, value = part.strip().partition("=")
        if key == "t":
            try:
                timestamp = int(value)
            except ValueError:
                return False
        elif key == "v1" and value:
            candidates.append(value)
    if timestamp is None or not candidates:
        return False
    current = time.time() if now is None else now
    if tolerance_s is not None and abs(current - timestamp) > tolerance_s:
        return False
    expected = sign(secret, body, timestamp).split("v1=", 1)[1]
    return any(hmac.compare_digest(expected, candidate) for candidate in candidates)


# --------------------------------------------------------------------------------------------------------------------
# Which webhooks get an event
# --------------------------------------------------------------------------------------------------------------------


def resource_type_of(event_type: str, data: dict[str, Any]) -> str:
    """resource.executed / resource.execution_failed carry it in the payload; other types name it first."""
    if event_type.startswith("resource.") and isinstance(data.get("resource_type"), str):
        return data["resource_type"]
    return event_type.split(".", 1)[0]


def subscribed(webhook: Webhook, event_type: str, namespace_id: str | None, data: dict[str, Any]) -> bool:
    if not webhook.is_active or event_type not in webhook.event_types:
        return False
    if webhook.namespace_id is not None and webhook.namespace_id != namespace_id:
        return False
    if webhook.resource_types and resource_type_of(event_type, data) not in webhook.resource_types:
        return False
    return True


def subscribers(webhooks: Iterable[Webhook], event_type: str, namespace_id: str | None,
                data: dict[str, Any]) -> list[Webhook]:
    return [webhook for webhook in webhooks if subscribed(webhook, event_type, namespace_id, data)]
