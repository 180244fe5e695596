"""Cluster trigger rules: the cron expressions a trigger accepts and the next minute they match (time zones and
daylight saving included), schedule configurations per trigger type, and the documents-added count."""

from __future__ import annotations

from datetime import datetime, timezone
from zoneinfo import ZoneInfo

import pytest

from openpeek.domain import cluster_triggers as rules
from openpeek.domain.cluster_triggers import ClusterTrigger, CronSchedule
from openpeek.domain.errors import BadRequest

UTC = ZoneInfo("UTC")


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=timezone.utc)


@pytest.mark.parametrize("expression, after, expected", [
    ("0 2 * * *", "2026-11-30T01:59:00", "2026-11-30T02:00:00"),
    ("0 2 * * *", "2026-11-30T02:00:00", "2026-12-01T02:00:00"),  # strictly after
    ("*/15 * * * *", "2026-11-30T10:07:31", "2026-11-30T10:15:00"),
    ("30 9 * * mon-fri", "2026-12-04T10:00:00", "2026-12-07T09:30:00"),  # Friday after 09:30 → Monday
    ("0 0 1 jan *", "2026-11-30T00:00:00", "2027-01-01T00:00:00"),
    ("0 12 29 2 *", "2026-03-01T00:00:00", "2028-02-29T12:00:00"),
    ("0 0 13 * 5", "2026-11-30T00:00:00", "2026-12-04T00:00:00"),  # both day fields: the 13th or a Friday
    ("5,10 8-9 * * 7", "2026-11-30T00:00:00", "2026-12-06T08:05:00"),  # 7 is Sunday too
])
def test_next_matching_minute(expression, after, expected):
    assert CronSchedule.parse(expression).next_after(at(after), UTC) == at(expected)


def test_a_time_zone_shifts_the_match_and_follows_daylight_saving():
    paris = ZoneInfo("Europe/Paris")
    schedule = CronSchedule.parse("0 2 * * *")
    assert schedule.next_after(at("2026-11-30T12:00:00"), paris) == at("2026-12-01T01:00:00")  # UTC+1
    assert schedule.next_after(at("2026-07-01T12:00:00"), paris) == at("2026-07-02T00:00:00")  # UTC+2
    # 02:30 does not exist on 29 March 2026 in Paris: it runs at the wall time's forward resolution that day.
    skipped = CronSchedule.parse("30 2 * * *").next_after(at("2026-03-28T12:00:00"), paris)
    assert skipped.date().isoformat() == "2026-03-29"


@pytest.mark.parametrize("expression", ["", "* * * *", "60 * * * *", "* 24 * * *", "* * 0 * *", "* * * 13 *",
                                        "* * * * 8", "*/0 * * * *", "5-1 * * * *", "a * * * *", "* * * * * *",
                                        "1,,2 * * * *", "*/-1 * * * *"])
def test_invalid_cron_expressions_are_refused(expression):
    with pytest.raises(BadRequest) as refused:
        rules.validate_schedule("cron", {"cron_expression": expression})
    assert refused.value.code == "invalid_cron_expression"


def test_an_expression_that_never_matches_has_no_next_time_and_is_refused():
    assert CronSchedule.parse("0 0 31 2 *").next_after(at("2026-01-01T00:00:00"), UTC) is None
    with pytest.raises(BadRequest) as refused:
        rules.validate_schedule("cron", {"cron_expression": "0 0 31 2 *"})
    assert "never matches" in refused.value.message


def test_schedules_get_their_defaults_and_unsupported_types_are_named():
    assert rules.validate_schedule("interval", {"interval_seconds": 60}) == {"interval_seconds": 60,
                                                                             "start_immediately": False}
    assert rules.validate_schedule("cron", {"cron_expression": "0 2 * * *"})["timezone"] == "UTC"
    assert rules.validate_schedule("event", {"event_threshold": 10}) == {
        "event_type": "documents_added", "event_threshold": 10, "cooldown_seconds": 0}
    with pytest.raises(BadRequest) as refused:
        rules.validate_schedule("conditional", {"condition_type": "drift"})
    assert refused.value.code == "unsupported_trigger_type"
    assert refused.value.details["supported"] == ["cron", "interval", "event"]
    with pytest.raises(BadRequest):
        rules.validate_schedule("interval", {"interval_seconds": True})


def _event_trigger(**changes) -> ClusterTrigger:
    base = ClusterTrigger(trigger_id="trg_1", org_id="org", namespace_id="ns", cluster_id="clust_1",
                          trigger_type="event", schedule_config={"event_type": "documents_added",
                                                                 "event_threshold": 10, "cooldown_seconds": 600},
                          execution_config={}, status="active", created_at="2026-11-30T09:00:00.000Z",
                          updated_at="2026-11-30T09:00:00.000Z", event_baseline=100)
    return base.with_changes(changes)


def test_documents_added_count_from_the_baseline_and_respect_the_cooldown():
    now = at("2026-11-30T10:00:00")
    assert rules.check_documents_added(_event_trigger(), 105, now).fires is False
    assert rules.check_documents_added(_event_trigger(), 105, now).counter == 5
    assert rules.check_documents_added(_event_trigger(), 90, now).counter == 0  # deletions never count below 0
    assert rules.check_documents_added(_event_trigger(), 110, now).fires is True
    cooling = rules.check_documents_added(_event_trigger(last_triggered_at="2026-11-30T09:55:00.000Z"), 120, now)
    assert cooling.fires is False and cooling.next_check_at == "2026-11-30T10:05:00.000Z"


@pytest.mark.parametrize("zone", ["Mars/Olympus", "Europe", "a" * 5000, "x\x00y", "/etc/passwd", "UTC/../UTC", "", 3])
def test_time_zones_that_are_not_iana_names_are_refused(zone):
    with pytest.raises(BadRequest) as refused:
        rules.validate_schedule("cron", {"cron_expression": "0 2 * * *", "timezone": zone})
    assert refused.value.code == "invalid_schedule_config"
