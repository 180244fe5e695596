"""Cluster triggers: a cluster's execution started automatically, on a schedule (cron, interval) or when enough new
documents arrived (event). Pure rules: which schedule configurations are valid, when a trigger is next due, what one
firing changes on the trigger. The service does the reading, the starting and the writing.

Conditional triggers (Mixpeek's drift metrics) need metrics this deployment does not compute; they are refused at
creation, as is any event type other than `documents_added`."""

from __future__ import annotations

from dataclasses import dataclass, field, fields, replace
from datetime import datetime, timedelta, timezone
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from openpeek.domain.clock import isoformat, parse
from openpeek.domain.errors import BadRequest

CRON, INTERVAL, EVENT, CONDITIONAL = "cron", "interval", "event", "conditional"
SUPPORTED_TYPES = (CRON, INTERVAL, EVENT)
ACTIVE, PAUSED, DISABLED, FAILED = "active", "paused", "disabled", "failed"
SETTABLE_STATUSES = (ACTIVE, PAUSED, DISABLED)
DOCUMENTS_ADDED = "documents_added"
MIN_INTERVAL_S = 60  # the deployed check runs once a minute: a shorter period could not be honoured
MAX_INTERVAL_S = 366 * 24 * 3600
EVENT_CHECK_EVERY_S = 60  # how often an event trigger's document count is read
MAX_COOLDOWN_S = 30 * 24 * 3600

# history outcomes
STARTED, SKIPPED, FAILED_TO_START = "started", "skipped", "failed"


def _bad(message: str, code: str, **details: Any) -> BadRequest:
    return BadRequest(message, code=code, details=details or None)


# -- schedule configurations -----------------------------------------------------------------------------------------


def _allowed_keys(config: dict[str, Any], trigger_type: str, allowed: set[str]) -> None:
    unknown = sorted(set(config) - allowed)
    if unknown:
        raise _bad(f"schedule_config of a {trigger_type} trigger does not take {', '.join(unknown)}; it takes "
                   f"{', '.join(sorted(allowed))}", "invalid_schedule_config", unknown=unknown,
                   accepted=sorted(allowed))


def _integer(config: dict[str, Any], name: str, *, default: int | None, low: int, high: int) -> int:
    value = config.get(name, default)
    if value is None:
        raise _bad(f"schedule_config.{name} is required", "invalid_schedule_config", field=name)
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise _bad(f"schedule_config.{name} must be an integer from {low} to {high}", "invalid_schedule_config",
                   field=name, value=value)
    return value


def validate_schedule(trigger_type: str, config: dict[str, Any]) -> dict[str, Any]:
    """The schedule configuration stored for this trigger type, defaults filled in; BadRequest when it is not one."""
    if trigger_type not in SUPPORTED_TYPES:
        raise _bad(f"trigger_type '{trigger_type}' is not supported by this deployment (conditional triggers need "
                   "drift metrics it does not compute); use cron, interval or event", "unsupported_trigger_type",
                   trigger_type=trigger_type, supported=list(SUPPORTED_TYPES))
    if not isinstance(config, dict):
        raise _bad("schedule_config must be an object", "invalid_schedule_config")
    if trigger_type == INTERVAL:
        _allowed_keys(config, trigger_type, {"interval_seconds", "start_immediately"})
        start = config.get("start_immediately", False)
        if not isinstance(start, bool):
            raise _bad("schedule_config.start_immediately must be true or false", "invalid_schedule_config",
                       field="start_immediately")
        return {"interval_seconds": _integer(config, "interval_seconds", default=None, low=MIN_INTERVAL_S,
                                             high=MAX_INTERVAL_S), "start_immediately": start}
    if trigger_type == CRON:
        _allowed_keys(config, trigger_type, {"cron_expression", "timezone"})
        expression = config.get("cron_expression")
        if not isinstance(expression, str):
            raise _bad("schedule_config.cron_expression is required: five fields, minute hour day-of-month month "
                       "day-of-week", "invalid_schedule_config", field="cron_expression")
        zone = config.get("timezone", "UTC")
        # Any date serves: a satisfiable expression matches within five years of every one.
        if CronSchedule.parse(expression).next_after(datetime(2000, 1, 1, tzinfo=timezone.utc), _zone(zone)) is None:
            raise _bad(f"cron_expression '{expression}' never matches (e.g. 31 February)", "invalid_cron_expression",
                       cron_expression=expression)
        return {"cron_expression": " ".join(expression.split()), "timezone": zone}
    _allowed_keys(config, trigger_type, {"event_type", "event_threshold", "collection_id", "cooldown_seconds"})
    event_type = config.get("event_type", DOCUMENTS_ADDED)
    if event_type != DOCUMENTS_ADDED:
        raise _bad(f"event_type '{event_type}' is not supported; event triggers here count '{DOCUMENTS_ADDED}'",
                   "unsupported_event_type", event_type=event_type, supported=[DOCUMENTS_ADDED])
    collection_id = config.get("collection_id")
    if collection_id is not None and (not isinstance(collection_id, str) or not collection_id):
        raise _bad("schedule_config.collection_id must be a collection id", "invalid_schedule_config",
                   field="collection_id")
    return {"event_type": event_type,
            "event_threshold": _integer(config, "event_threshold", default=None, low=1, high=100_000_000),
            **({"collection_id": collection_id} if collection_id else {}),
            "cooldown_seconds": _integer(config, "cooldown_seconds", default=0, low=0, high=MAX_COOLDOWN_S)}


def _zone(name: Any) -> ZoneInfo:
    if not isinstance(name, str) or not name or len(name) > 64:
        raise _bad("schedule_config.timezone must be an IANA time zone name such as UTC or Europe/Paris",
                   "invalid_schedule_config", field="timezone")
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):  # OSError: a name that is a folder of zones ("Europe")
        raise _bad(f"schedule_config.timezone '{name}' is not a known IANA time zone", "invalid_schedule_config",
                   field="timezone", value=name) from None


# -- cron ------------------------------------------------------------------------------------------------------------

_FIELDS = (("minute", 0, 59), ("hour", 0, 23), ("day of month", 1, 31), ("month", 1, 12), ("day of week", 0, 7))
_NAMES = {3: ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"],
          4: ["sun", "mon", "tue", "wed", "thu", "fri", "sat"]}
CRON_HORIZON_DAYS = 5 * 366  # far enough for any satisfiable expression (29 February included)


@dataclass(frozen=True)
class CronSchedule:
    """A standard five-field cron expression: numbers, names of months and weekdays, `*`, lists, ranges and steps.
    As in cron, when both day fields are restricted a day matching either one matches."""

    minutes: frozenset[int]
    hours: frozenset[int]
    days: frozenset[int]
    months: frozenset[int]
    weekdays: frozenset[int]  # 0 = Sunday
    any_day: bool
    any_weekday: bool

    @classmethod
    def parse(cls, expression: str) -> "CronSchedule":
        parts = expression.split()
        if len(parts) != 5:
            raise _bad(f"cron_expression '{expression}' must have five fields (minute hour day-of-month month "
                       "day-of-week)", "invalid_cron_expression", cron_expression=expression)
        sets = [_cron_field(part, position, expression) for position, part in enumerate(parts)]
        weekdays = frozenset(day % 7 for day in sets[4])
        return cls(frozenset(sets[0]), frozenset(sets[1]), frozenset(sets[2]), frozenset(sets[3]), weekdays,
                   any_day=parts[2] == "*", any_weekday=parts[4] == "*")

    def _day_matches(self, day: datetime) -> bool:
        if day.month not in self.months:
            return False
        in_days = day.day in self.days
        in_weekdays = (day.weekday() + 1) % 7 in self.weekdays
        if self.any_day or self.any_weekday:
            return in_days and in_weekdays
        return in_days or in_weekdays

    def next_after(self, moment: datetime, zone: ZoneInfo) -> datetime | None:
        """The first matching minute strictly after `moment`, in UTC; None when none comes within five years."""
        local = moment.astimezone(zone).replace(second=0, microsecond=0, tzinfo=None) + timedelta(minutes=1)
        day = local.replace(hour=0, minute=0)
        for _ in range(CRON_HORIZON_DAYS):
            if self._day_matches(day):
                for hour in sorted(self.hours):
                    for minute in sorted(self.minutes):
                        candidate = day.replace(hour=hour, minute=minute)
                        if candidate >= local:
                            # A wall time skipped by a DST change resolves forward, as zoneinfo's fold=0 does.
                            return candidate.replace(tzinfo=zone).astimezone(timezone.utc)
            day += timedelta(days=1)
        return None


def _cron_field(text: str, position: int, expression: str) -> set[int]:
    name, low, high = _FIELDS[position]
    values: set[int] = set()

    def number(token: str) -> int:
        names = _NAMES.get(position)
        if names and token.lower() in names:
            return names.index(token.lower()) + (1 if position == 3 else 0)
        if not token.isdigit():
            raise ValueError(token)
        return int(token)

    try:
        for item in text.split(","):
            base, _, step_text = item.partition("/")
            step = int(step_text) if step_text else 1
            if step < 1 or (step_text and not step_text.isdigit()):
                raise ValueError(item)
            if base == "*":
                start, end = low, high if position != 4 else 6
            elif "-" in base:
                first, _, last = base.partition("-")
                start, end = number(first), number(last)
            else:
                start = number(base)
                end = high if step_text else start
            if not low <= start <= end <= high:
                raise ValueError(item)
            values.update(range(start, end + 1, step))
    except ValueError:
        raise _bad(f"cron_expression '{expression}': the {name} field '{text}' is not valid (values {low}-{high}, "
                   "*, lists, ranges, steps)", "invalid_cron_expression", cron_expression=expression,
                   field=name) from None
    return values


# -- the trigger -----------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ClusterTrigger:
    trigger_id: str
    org_id: str
    namespace_id: str
    cluster_id: str
    trigger_type: str
    schedule_config: dict[str, Any]
    execution_config: dict[str, Any]
    status: str
    created_at: str
    updated_at: str
    version: int = 1
    description: str | None = None
    created_by: str | None = None
    next_scheduled_at: str | None = None
    """When the trigger is next looked at: its next firing (cron, interval) or its next document count (event)."""
    last_triggered_at: str | None = None
    last_execution_job_id: str | None = None
    last_execution_status: str | None = None
    last_execution_error: str | None = None
    execution_count: int = 0
    consecutive_failures: int = 0
    event_counter: int = 0
    event_baseline: int | None = None
    """event triggers: the document count at creation or at the last firing; new documents are counted from it."""
    last_cooldown_at: str | None = None

    @property
    def active(self) -> bool:
        return self.status == ACTIVE

    def to_record(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in fields(self) if f.name != "version"}

    @classmethod
    def from_record(cls, record: dict[str, Any], version: int) -> "ClusterTrigger":
        known = {f.name for f in fields(cls)} - {"version"}
        return cls(**{key: value for key, value in record.items() if key in known}, version=version)

    def with_changes(self, changes: dict[str, Any]) -> "ClusterTrigger":
        return replace(self, **changes)


def first_due(trigger_type: str, schedule: dict[str, Any], now: datetime, *, resumed: bool = False) -> str | None:
    """When a trigger that becomes active at `now` is first looked at. `start_immediately` applies to a new schedule;
    a resumed interval trigger counts one interval from its resumption."""
    if trigger_type == INTERVAL:
        immediately = schedule.get("start_immediately") and not resumed
        start = now if immediately else now + timedelta(seconds=schedule["interval_seconds"])
        return isoformat(start)
    if trigger_type == CRON:
        return _next_cron(schedule, now)
    return isoformat(now)  # event: count at once, then every EVENT_CHECK_EVERY_S


def due_after_firing(trigger: ClusterTrigger, fired_at: datetime) -> str | None:
    """The next time after a firing (or a skipped one): an interval counts from the firing, so a checker that was down
    for hours fires once, not once per missed period."""
    if trigger.trigger_type == INTERVAL:
        return isoformat(fired_at + timedelta(seconds=trigger.schedule_config["interval_seconds"]))
    if trigger.trigger_type == CRON:
        return _next_cron(trigger.schedule_config, fired_at)
    cooldown = trigger.schedule_config.get("cooldown_seconds", 0)
    return isoformat(fired_at + timedelta(seconds=max(cooldown, EVENT_CHECK_EVERY_S)))


def _next_cron(schedule: dict[str, Any], after: datetime) -> str | None:
    moment = CronSchedule.parse(schedule["cron_expression"]).next_after(after, _zone(schedule.get("timezone", "UTC")))
    return isoformat(moment) if moment else None


def is_due(trigger: ClusterTrigger, now: datetime) -> bool:
    return trigger.active and trigger.next_scheduled_at is not None and parse(trigger.next_scheduled_at) <= now


@dataclass(frozen=True)
class EventCheck:
    """An event trigger's count read at `now`: whether it fires, and its counter either way."""

    fires: bool
    counter: int
    next_check_at: str


def check_documents_added(trigger: ClusterTrigger, document_count: int, now: datetime) -> EventCheck:
    baseline = trigger.event_baseline if trigger.event_baseline is not None else document_count
    counter = max(0, document_count - baseline)
    threshold = trigger.schedule_config["event_threshold"]
    cooldown_ends = (parse(trigger.last_triggered_at) + timedelta(seconds=trigger.schedule_config["cooldown_seconds"])
                     if trigger.last_triggered_at else None)
    if counter >= threshold and cooldown_ends is not None and now < cooldown_ends:
        return EventCheck(False, counter, isoformat(cooldown_ends))
    return EventCheck(counter >= threshold, counter, isoformat(now + timedelta(seconds=EVENT_CHECK_EVERY_S)))


@dataclass(frozen=True)
class Firing:
    """One history entry: a run started, or why none was."""

    trigger_id: str
    triggered_at: str
    outcome: str  # started | skipped | failed
    run_id: str | None = None
    error: str | None = None
    details: dict[str, Any] = field(default_factory=dict)

    def to_record(self) -> dict[str, Any]:
        return {"trigger_id": self.trigger_id, "triggered_at": self.triggered_at, "outcome": self.outcome,
                "run_id": self.run_id, "error": self.error, "details": self.details}

    @classmethod
    def from_record(cls, record: dict[str, Any]) -> "Firing":
        return cls(record["trigger_id"], record["triggered_at"], record["outcome"], record.get("run_id"),
                   record.get("error"), record.get("details") or {})


def after_firing(trigger: ClusterTrigger, firing: Firing, now: datetime, *, document_count: int | None = None
                 ) -> dict[str, Any]:
    """The trigger's changes once `firing` is recorded."""
    changes: dict[str, Any] = {"last_triggered_at": firing.triggered_at, "last_execution_status": firing.outcome,
                               "last_execution_error": firing.error, "updated_at": isoformat(now),
                               "next_scheduled_at": due_after_firing(trigger, now)}
    if firing.outcome == STARTED:
        changes.update(last_execution_job_id=firing.run_id, execution_count=trigger.execution_count + 1,
                       consecutive_failures=0)
        if trigger.trigger_type == EVENT:
            changes.update(event_baseline=document_count, event_counter=0, last_cooldown_at=firing.triggered_at)
    elif firing.outcome == FAILED_TO_START:
        changes["consecutive_failures"] = trigger.consecutive_failures + 1
    return changes
