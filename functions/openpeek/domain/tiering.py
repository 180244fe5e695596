"""Storage tiers of a collection (the SDK's CollectionLifecycleApi): where its vectors live, which moves between
states are allowed, the tiering policy that moves collections by themselves, and the state of a transition in
progress (so a crashed transition resumes where it stopped instead of starting again).

    active    vectors in the vector store (hot), searchable at memory speed
    cold      vectors only in the cold store (S3 Vectors, or parquet files scanned exactly); still searchable
    archived  metadata and lineage only, vectors dropped everywhere; terminal
    frozen    like active, but every document write is refused (a training run can pin it); moves no data
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any, Mapping

from openpeek.domain.conditions import Filter, MatchText
from openpeek.domain.errors import BadRequest, Conflict
from openpeek.domain.vectors import VectorIndexSpec

ACTIVE, COLD, ARCHIVED, FROZEN = "active", "cold", "archived", "frozen"
STATES = (ACTIVE, COLD, ARCHIVED, FROZEN)
MOVES: Mapping[str, tuple[str, ...]] = {
    ACTIVE: (COLD, ARCHIVED, FROZEN),
    COLD: (ACTIVE, ARCHIVED),
    FROZEN: (ACTIVE,),
    ARCHIVED: (),
}
# The tier a query finds a collection's documents in, as `_source_tier` names it.
HOT_TIER, COLD_TIER = "hot", "cold"
SEARCHABLE_IN = {ACTIVE: HOT_TIER, FROZEN: HOT_TIER, COLD: COLD_TIER}

# Transition steps, in order. Each is idempotent, so resuming repeats at most the step that was running.
COPY, VERIFY, FLIP, DROP = "copy", "verify", "flip", "drop"

DEFAULT_IDLE_DAYS_COLD = 30
DEFAULT_IDLE_DAYS_FROZEN = None  # freezing by idleness only when a policy asks for it
MIN_DAYS_IN_TIER = 1.0  # hysteresis: a collection stays at least this long in a tier before the sweeper moves it
PROMOTE_AFTER_QUERIES = 20  # a cold collection queried this often within PROMOTE_WINDOW goes back to active
PROMOTE_WINDOW = timedelta(hours=1)
LAST_QUERY_WRITE_EVERY = timedelta(minutes=5)  # the last-query time is written at most this often per collection


def check_move(collection_name: str, current: str, target: str) -> None:
    """A 400 naming the allowed moves for anything else."""
    if target not in STATES:
        raise BadRequest(f"lifecycle_state must be one of {', '.join(STATES)}; got {target!r}",
                         code="invalid_lifecycle_state", details={"allowed": list(STATES)})
    allowed = MOVES[current]
    if target == current:
        raise BadRequest(f"collection '{collection_name}' is already {current}", code="invalid_lifecycle_transition",
                         details={"current": current, "requested": target, "allowed": list(allowed)})
    if target not in allowed:
        moves = ", ".join(f"{current}→{state}" for state in allowed) or "none (archived is terminal)"
        raise BadRequest(
            f"collection '{collection_name}' cannot move from {current} to {target}; allowed moves: {moves}",
            code="invalid_lifecycle_transition",
            details={"current": current, "requested": target, "allowed": list(allowed)})


@dataclass(frozen=True)
class IdleDays:
    cold: int | None = None
    frozen: int | None = None


@dataclass(frozen=True)
class TieringPolicy:
    """`tiering {enabled, idle_days {cold, frozen}, exempt}`; None parts inherit from the level above."""

    enabled: bool | None = None
    idle_days: IdleDays = field(default_factory=IdleDays)
    exempt: str | None = None

    @classmethod
    def parse(cls, spec: Any, where: str = "tiering") -> "TieringPolicy | None":
        if spec is None:
            return None
        if not isinstance(spec, Mapping):
            raise BadRequest(f"{where} must be an object {{enabled, idle_days {{cold, frozen}}, exempt}}",
                             code="invalid_tiering")
        unknown = sorted(set(spec) - {"enabled", "idle_days", "exempt"})
        if unknown:
            raise BadRequest(f"{where} takes enabled, idle_days and exempt; not {', '.join(unknown)}",
                             code="invalid_tiering", details={"unknown": unknown})
        enabled = spec.get("enabled")
        if enabled is not None and not isinstance(enabled, bool):
            raise BadRequest(f"{where}.enabled must be true or false", code="invalid_tiering")
        exempt = spec.get("exempt")
        if exempt is not None and (not isinstance(exempt, str) or not exempt.strip()):
            raise BadRequest(f"{where}.exempt is the reason for the exemption (a non-empty string)",
                             code="invalid_tiering")
        idle = spec.get("idle_days") or {}
        if not isinstance(idle, Mapping) or set(idle) - {"cold", "frozen"}:
            raise BadRequest(f"{where}.idle_days takes cold and frozen (days)", code="invalid_tiering")
        days = {}
        for key in ("cold", "frozen"):
            value = idle.get(key)
            if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
                raise BadRequest(f"{where}.idle_days.{key} must be a whole number of days, 1 or more",
                                 code="invalid_tiering", details={"idle_days": {key: value}})
            days[key] = value
        return cls(enabled, IdleDays(**days), exempt)

    def over(self, parent: "TieringPolicy | None") -> "TieringPolicy":
        """This policy with its unset parts taken from `parent` (the collection over its namespace)."""
        if parent is None:
            return self
        return TieringPolicy(
            enabled=self.enabled if self.enabled is not None else parent.enabled,
            idle_days=IdleDays(
                cold=self.idle_days.cold if self.idle_days.cold is not None else parent.idle_days.cold,
                frozen=self.idle_days.frozen if self.idle_days.frozen is not None else parent.idle_days.frozen),
            exempt=self.exempt if self.exempt is not None else parent.exempt)

    def effective(self) -> "TieringPolicy":
        """Defaults for what nothing set: enabled, 30 idle days to cold, no freezing by idleness."""
        return TieringPolicy(
            enabled=True if self.enabled is None else self.enabled,
            idle_days=IdleDays(self.idle_days.cold if self.idle_days.cold is not None else DEFAULT_IDLE_DAYS_COLD,
                               self.idle_days.frozen),
            exempt=self.exempt)

    def public(self) -> dict[str, Any]:
        return {"enabled": self.enabled, "idle_days": {"cold": self.idle_days.cold, "frozen": self.idle_days.frozen},
                "exempt": self.exempt}


@dataclass(frozen=True)
class Transition:
    """A transition in progress: where it goes, the step it is at, and how far the copy got (`part`: the next part
    to write; `cursor`: the source's offset of that part; `copied`: vectors written so far)."""

    source: str
    target: str
    step: str = COPY
    part: int = 0
    cursor: str | None = None
    copied: int = 0
    task_id: str | None = None
    started_at: str | None = None
    # Who runs it and until when (ISO time): where several processes may run transitions (the tiering Lambda and
    # the hourly sweeper deployed), only the holder of an unexpired lease moves data.
    lease_owner: str | None = None
    lease_until: str | None = None

    def to_record(self) -> dict[str, Any]:
        return {"source": self.source, "target": self.target, "step": self.step, "part": self.part,
                "cursor": self.cursor, "copied": self.copied, "task_id": self.task_id, "started_at": self.started_at,
                "lease_owner": self.lease_owner, "lease_until": self.lease_until}

    @classmethod
    def from_record(cls, record: Mapping[str, Any] | None) -> "Transition | None":
        if not record:
            return None
        return cls(**{key: record.get(key) for key in ("source", "target", "step", "part", "cursor", "copied",
                                                        "task_id", "started_at", "lease_owner", "lease_until")})

    def leased_to_another(self, owner: str, now: str) -> bool:
        """Whether a runner other than `owner` holds an unexpired lease on this transition."""
        return self.lease_owner not in (None, owner) and self.lease_until is not None and self.lease_until > now

    def advanced(self, **changes: Any) -> "Transition":
        return replace(self, **changes)


@dataclass(frozen=True)
class TierState:
    """What the table keeps about a collection's tier beside the collection item: the transition in progress, the
    policy set on the collection, when it last moved and when it was last queried (and how often lately)."""

    collection_id: str
    transition: Transition | None = None
    policy: TieringPolicy | None = None
    last_transitioned_at: str | None = None
    last_queried_at: str | None = None
    recent_queries: int = 0  # queries counted since `window_started_at` (promotion of cold collections)
    window_started_at: str | None = None
    cold_vector_count: int | None = None
    version: int = 0

    def to_record(self) -> dict[str, Any]:
        return {"collection_id": self.collection_id,
                "transition": self.transition.to_record() if self.transition else None,
                "policy": self.policy.public() if self.policy else None,
                "last_transitioned_at": self.last_transitioned_at, "last_queried_at": self.last_queried_at,
                "recent_queries": self.recent_queries, "window_started_at": self.window_started_at,
                "cold_vector_count": self.cold_vector_count}

    @classmethod
    def from_record(cls, record: Mapping[str, Any], version: int) -> "TierState":
        return cls(collection_id=record["collection_id"], transition=Transition.from_record(record.get("transition")),
                   policy=TieringPolicy.parse(record.get("policy")),
                   last_transitioned_at=record.get("last_transitioned_at"),
                   last_queried_at=record.get("last_queried_at"), recent_queries=record.get("recent_queries") or 0,
                   window_started_at=record.get("window_started_at"),
                   cold_vector_count=record.get("cold_vector_count"), version=version)


def refuse_write(collection_name: str, state: str, transition: Transition | None) -> None:
    """Document writes go to active collections only, and not while vectors are moving."""
    if state == FROZEN:
        raise Conflict(f"collection '{collection_name}' is frozen: document writes are refused until it is made "
                       "active again (PATCH …/lifecycle {\"lifecycle_state\": \"active\"})", code="collection_frozen",
                       details={"lifecycle_state": state})
    if state in (COLD, ARCHIVED):
        raise Conflict(f"collection '{collection_name}' is {state}: documents are written to active collections only"
                       + ("; rehydrate it first" if state == COLD else ""), code=f"collection_{state}",
                       details={"lifecycle_state": state})
    if transition is not None:
        raise Conflict(f"collection '{collection_name}' is moving to {transition.target}; write again when the "
                       "transition has finished", code="collection_in_transition",
                       details={"lifecycle_state": state, "target": transition.target})


@dataclass(frozen=True)
class SweepDecision:
    collection_id: str
    target: str
    reason: str


def sweep_decision(collection_id: str, state: str, policy: TieringPolicy, tier: TierState | None,
                   created_at: str, now: datetime, parse_time: Any,
                   day: timedelta = timedelta(days=1)) -> SweepDecision | None:
    """What the sweeper does with one collection: demote after `idle_days.cold` unqueried, freeze after
    `idle_days.frozen`, promote a cold one queried PROMOTE_AFTER_QUERIES times within the window; never an exempt
    or disabled one, never one that moved less than MIN_DAYS_IN_TIER ago or is moving now. `day` is how long a day
    of the policy lasts (a day; a deployment's tests shorten it)."""
    if tier is not None and tier.transition is not None:
        return None
    if policy.enabled is False or policy.exempt:
        return None
    last_moved = parse_time(tier.last_transitioned_at) if tier and tier.last_transitioned_at else None
    if last_moved is not None and now - last_moved < MIN_DAYS_IN_TIER * day and state != COLD:
        return None
    reference = parse_time(tier.last_queried_at) if tier and tier.last_queried_at else (
        last_moved or parse_time(created_at))
    idle = now - reference
    if state == ACTIVE:
        if policy.idle_days.frozen is not None and idle >= policy.idle_days.frozen * day and (
                policy.idle_days.cold is None or policy.idle_days.frozen < policy.idle_days.cold):
            return SweepDecision(collection_id, FROZEN, f"unqueried for {idle / day:.1f} days")
        if policy.idle_days.cold is not None and idle >= policy.idle_days.cold * day:
            return SweepDecision(collection_id, COLD, f"unqueried for {idle / day:.1f} days")
    if state == COLD and tier is not None and tier.recent_queries >= PROMOTE_AFTER_QUERIES:
        if last_moved is None or now - last_moved >= day / 24:
            return SweepDecision(collection_id, ACTIVE, f"{tier.recent_queries} queries within the hour")
    return None


@dataclass(frozen=True)
class ColdCollection:
    """Where one collection's vectors sit in the cold store: its namespace, its id, and the named vectors it has
    (the cold store keeps one index per named vector, with the vector index's metric)."""

    namespace_id: str
    collection_id: str
    vectors: tuple[VectorIndexSpec, ...]


# The namespace's storage rung (the SDK's NamespaceStorageTier), from where its collections' vectors are. Each state
# sits on the rung of seed 003's ladder it is served from: active in the vector store (hot), cold in the cold vector
# store (warm: S3 Vectors), archived as raw metadata in object storage (cold), frozen kept as it is and refusing writes
# (frozen). The namespace is on the hottest rung any collection is on; with no collection it is hot (nothing moved).
RUNGS = ("hot", "warm", "cold", "frozen")
RUNG_OF_STATE = {ACTIVE: "hot", COLD: "warm", ARCHIVED: "cold", FROZEN: "frozen"}


def namespace_rung(states: list[str]) -> str:
    rungs = [RUNG_OF_STATE.get(state, "hot") for state in states]
    return min(rungs, key=RUNGS.index) if rungs else "hot"


def explain_policy(own: TieringPolicy | None, parent: TieringPolicy | None) -> dict[str, Any]:
    """The effective policy of a collection with its own override `own` under its namespace's `parent`, as the SDK's
    TieringOverride, plus `inherited_from`: for each part, "collection", "namespace" or "default"."""
    effective = (own.over(parent) if own else (parent or TieringPolicy())).effective()

    def source(pick: Any) -> str:
        if own is not None and pick(own) is not None:
            return "collection"
        if parent is not None and pick(parent) is not None:
            return "namespace"
        return "default"

    return {**effective.public(), "inherited_from": {
        "enabled": source(lambda p: p.enabled), "idle_days.cold": source(lambda p: p.idle_days.cold),
        "idle_days.frozen": source(lambda p: p.idle_days.frozen), "exempt": source(lambda p: p.exempt)}}


def has_text_match(condition: Any) -> bool:
    """Whether a filter holds a full-text match, which only the vector store's text index answers: the cold tier
    (and an archived collection's metadata) filter by exact values and ranges."""
    if isinstance(condition, MatchText):
        return True
    if isinstance(condition, Filter):
        return any(has_text_match(item) for item in (*condition.must, *condition.should, *condition.must_not))
    return False


def refuse_text_filter(tiered: list[tuple[str, str, str]], condition: Any) -> None:
    """A listing over cold or archived collections ((name, id, state) each) whose filter they cannot evaluate: a 400
    naming them."""
    if not tiered or condition is None or not has_text_match(condition):
        return
    named = ", ".join(f"'{name}' ({state})" for name, _, state in tiered)
    raise BadRequest(f"collection{'s' if len(tiered) > 1 else ''} {named} not in the vector store: their documents "
                     "are filtered by exact values and ranges, not full-text matches; drop the text match, leave "
                     "them out with collection_ids, or rehydrate them", code="cold_tier_unsupported",
                     details={"collection_ids": [identifier for _, identifier, _ in tiered]})
