"""A published retriever: the public face of one retriever (a globally unique public name, what the public may see,
how often it may call, and what it must present), and the rules that hold whatever stores it.

Pure: no I/O. The repository stores it, services/publications.py runs it."""

from __future__ import annotations

import re
import unicodedata
from dataclasses import asdict, dataclass, replace
from typing import Any

MAX_PUBLISHED_PER_NAMESPACE = 10
"""The SDK's limit ("Maximum 10 published retrievers", counted per namespace by its stats route)."""

PUBLIC_NAME_PATTERN = re.compile(r"^[a-z0-9][a-z0-9-]*[a-z0-9]$")
PUBLIC_NAME_MIN, PUBLIC_NAME_MAX = 3, 50

# The SDK's RateLimitTier presets (RateLimitConfig's description): per minute, hour, day; UNLIMITED has none.
TIER_LIMITS: dict[str, tuple[int | None, int | None, int | None]] = {
    "standard": (60, 1_000, 10_000),
    "elevated": (300, 10_000, 100_000),
    "enterprise": (1_000, 50_000, 500_000),
    "unlimited": (None, None, None),
}

# A window's name and its length in seconds, shortest first.
WINDOWS: tuple[tuple[str, int], ...] = (("minute", 60), ("hour", 3_600), ("day", 86_400))
IP_WINDOW = ("ip_hour", 3_600)


class InvalidPublicName(ValueError):
    pass


def slug_of(display_name: str) -> str:
    """The URL-safe public name a display name gives: accents dropped (é → e), lower case, runs of anything else as
    one hyphen, trimmed to the longest allowed name."""
    plain = unicodedata.normalize("NFKD", display_name).encode("ascii", "ignore").decode("ascii")
    return re.sub(r"[^a-z0-9]+", "-", plain.lower()).strip("-")[:PUBLIC_NAME_MAX].strip("-")


def check_public_name(name: str) -> str:
    if not (PUBLIC_NAME_MIN <= len(name) <= PUBLIC_NAME_MAX) or not PUBLIC_NAME_PATTERN.match(name):
        raise InvalidPublicName(
            f"a public name is {PUBLIC_NAME_MIN}-{PUBLIC_NAME_MAX} lower-case letters, digits and hyphens, starting "
            f"and ending with a letter or digit; not '{name}'")
    return name


def resolved_rate_limits(config: dict[str, Any] | None) -> dict[str, Any]:
    """The stored rate limit config: the SDK's defaults filled in (tier STANDARD, enabled, 100 results per query)."""
    config = {key: value for key, value in (config or {}).items() if value is not None}
    return {"enabled": True, "tier": "standard", "max_results_per_query": 100, "enable_ip_limits": False, **config}


def window_limits(config: dict[str, Any]) -> dict[str, int]:
    """Window name → the most admitted requests in one such window; an absent window is not limited. Custom limits
    override the tier's."""
    if not config.get("enabled", True):
        return {}
    tier = TIER_LIMITS.get(str(config.get("tier") or "standard").lower(), TIER_LIMITS["standard"])
    limits: dict[str, int] = {}
    for (name, _), preset in zip(WINDOWS, tier):
        value = config.get(f"requests_per_{name}") or preset
        if value:
            limits[name] = int(value)
    if config.get("enable_ip_limits") and config.get("max_requests_per_ip_hour"):
        limits[IP_WINDOW[0]] = int(config["max_requests_per_ip_hour"])
    return limits


def window_start(now: float, length: int) -> int:
    return int(now) // length * length


def exposed_view(document: dict[str, Any], exposed_fields: list[str]) -> dict[str, Any]:
    """What the public sees of one result: its id and score, and only the exposed fields (a dotted name reaches into
    a nested object: `metadata.title` keeps that one key of `metadata`)."""
    view: dict[str, Any] = {"document_id": document.get("document_id"), "score": document.get("score")}
    for name in exposed_fields:
        parts = name.split(".")
        found: Any = document
        for part in parts:
            if not isinstance(found, dict) or part not in found:
                break
            found = found[part]
        else:
            target = view
            for part in parts[:-1]:
                target = target.setdefault(part, {})
                if not isinstance(target, dict):
                    break
            else:
                target[parts[-1]] = found
    return view


WITHHELD = "<withheld>"
TEMPLATE_WITHHELD_PARAMETERS = frozenset({
    "auth", "headers", "secret_ref", "api_key", "password", "token", "connection_id", "url", "body",
})
"""Stage parameters a public template never shows, at any depth: credentials, or what may carry them (an api_call's
URL, headers and body templates, a SQL lookup's connection). The template keeps the key, so the reader sees what
to fill in."""


def withheld(value: Any) -> Any:
    """`value` with every withheld parameter, at any depth, replaced by WITHHELD."""
    if isinstance(value, dict):
        return {key: WITHHELD if key in TEMPLATE_WITHHELD_PARAMETERS else withheld(item) for key, item in value.items()}
    if isinstance(value, list):
        return [withheld(item) for item in value]
    return value


def template_stages(stages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """A retriever's stages as a public template shows them: every withheld parameter replaced by WITHHELD."""
    return [{**stage, "config": {**stage["config"], "parameters": withheld(stage["config"].get("parameters") or {})}}
            for stage in stages]


@dataclass(frozen=True)
class Publication:
    public_id: str
    retriever_id: str
    org_id: str
    namespace_id: str
    public_name: str
    display_config: dict[str, Any]
    rate_limit_config: dict[str, Any]
    api_key_hash: str
    created_at: str
    updated_at: str
    display_name: str | None = None
    description: str | None = None
    icon_base64: str | None = None
    password_secret_name: str | None = None
    include_metadata: bool = True
    retriever_metadata: dict[str, Any] | None = None
    tags: tuple[str, ...] = ()
    category: str | None = None
    is_active: bool = True
    version: int = 1

    @property
    def password_protected(self) -> bool:
        return bool(self.password_secret_name)

    @property
    def exposed_fields(self) -> list[str]:
        return list(self.display_config.get("exposed_fields") or [])

    def to_record(self) -> dict[str, Any]:
        record = asdict(self)
        record.pop("version")
        record["tags"] = list(self.tags)
        return record

    @classmethod
    def from_record(cls, record: dict[str, Any], version: int) -> "Publication":
        known = {name for name in cls.__dataclass_fields__ if name != "version"}
        values = {key: value for key, value in record.items() if key in known}
        values["tags"] = tuple(values.get("tags") or ())
        return cls(**values, version=version)

    def with_changes(self, changes: dict[str, Any]) -> "Publication":
        return replace(self, **changes)
