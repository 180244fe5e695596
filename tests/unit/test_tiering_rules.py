"""The lifecycle's rules, pure: which moves are allowed, how policies inherit, what the sweeper decides."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from openpeek.domain import tiering as rules
from openpeek.domain.clock import isoformat, parse
from openpeek.domain.errors import BadRequest, Conflict
from openpeek.domain.tiering import IdleDays, TieringPolicy, TierState, Transition

NOW = datetime(2026, 6, 1, tzinfo=timezone.utc)


@pytest.mark.parametrize("current, target", [("active", "cold"), ("cold", "active"), ("active", "archived"),
                                             ("cold", "archived"), ("active", "frozen"), ("frozen", "active")])
def test_the_allowed_moves(current, target):
    rules.check_move("c", current, target)


@pytest.mark.parametrize("current, target, allowed", [
    ("frozen", "cold", "frozen→active"), ("cold", "frozen", "cold→active, cold→archived"),
    ("archived", "active", "none (archived is terminal)"), ("active", "active", None)])
def test_other_moves_are_refused_naming_the_allowed_ones(current, target, allowed):
    with pytest.raises(BadRequest) as refused:
        rules.check_move("books", current, target)
    assert refused.value.code == "invalid_lifecycle_transition" and "books" in refused.value.message
    if allowed:
        assert allowed in refused.value.message


def test_a_collection_policy_overrides_its_namespace_part_by_part():
    namespace = TieringPolicy(enabled=True, idle_days=IdleDays(cold=30, frozen=90))
    collection = TieringPolicy(idle_days=IdleDays(cold=7))
    merged = collection.over(namespace).effective()
    assert (merged.enabled, merged.idle_days.cold, merged.idle_days.frozen, merged.exempt) == (True, 7, 90, None)
    assert TieringPolicy().effective().idle_days.cold == rules.DEFAULT_IDLE_DAYS_COLD


def decide(state, policy, tier=None, created=NOW - timedelta(days=100)):
    return rules.sweep_decision("col_1", state, policy.effective(), tier, isoformat(created), NOW, parse)


def test_the_sweeper_demotes_after_idle_days_and_not_before():
    policy = TieringPolicy(idle_days=IdleDays(cold=10))
    queried = lambda days: TierState("col_1", last_queried_at=isoformat(NOW - timedelta(days=days)))
    assert decide("active", policy, queried(11)).target == "cold"
    assert decide("active", policy, queried(9)) is None
    assert decide("active", policy, created=NOW - timedelta(days=3)) is None  # never queried, created 3 days ago


def test_exempt_disabled_moving_and_recently_moved_collections_stay():
    policy = TieringPolicy(idle_days=IdleDays(cold=1))
    idle = TierState("col_1", last_queried_at=isoformat(NOW - timedelta(days=40)))
    assert decide("active", TieringPolicy(idle_days=IdleDays(cold=1), exempt="legal hold"), idle) is None
    assert decide("active", TieringPolicy(enabled=False, idle_days=IdleDays(cold=1)), idle) is None
    moving = TierState("col_1", transition=Transition("active", "cold"))
    assert decide("active", policy, moving) is None
    just_moved = TierState("col_1", last_transitioned_at=isoformat(NOW - timedelta(hours=3)))
    assert decide("active", policy, just_moved) is None  # hysteresis: a day in a tier first


def test_freezing_comes_first_when_its_window_is_shorter():
    policy = TieringPolicy(idle_days=IdleDays(cold=30, frozen=5))
    idle = TierState("col_1", last_queried_at=isoformat(NOW - timedelta(days=6)))
    assert decide("active", policy, idle).target == "frozen"


def test_a_busy_cold_collection_is_promoted():
    busy = TierState("col_1", recent_queries=rules.PROMOTE_AFTER_QUERIES,
                     last_transitioned_at=isoformat(NOW - timedelta(hours=2)),
                     last_queried_at=isoformat(NOW))
    assert decide("cold", TieringPolicy(), busy).target == "active"
    quiet = TierState("col_1", recent_queries=3, last_queried_at=isoformat(NOW))
    assert decide("cold", TieringPolicy(), quiet) is None


def test_writes_are_refused_where_they_must_be():
    for state, code in (("frozen", "collection_frozen"), ("cold", "collection_cold"),
                        ("archived", "collection_archived")):
        with pytest.raises(Conflict) as refused:
            rules.refuse_write("books", state, None)
        assert refused.value.code == code
    with pytest.raises(Conflict) as moving:
        rules.refuse_write("books", "active", Transition("active", "cold"))
    assert moving.value.code == "collection_in_transition"


def test_tier_state_round_trips_through_its_record():
    state = TierState("col_1", Transition("active", "cold", step="drop", part=3, cursor="c", copied=3000,
                                          task_id="task_1"), TieringPolicy(idle_days=IdleDays(cold=2)),
                      last_queried_at="2026-01-01T00:00:00Z", recent_queries=4, cold_vector_count=3000)
    back = TierState.from_record(state.to_record(), 1)
    assert back.transition == state.transition and back.policy == state.policy
    assert (back.recent_queries, back.cold_vector_count) == (4, 3000)


def test_the_namespace_rung_is_the_hottest_of_its_collections():
    from openpeek.domain.tiering import namespace_rung

    assert namespace_rung([]) == "hot"
    assert namespace_rung(["cold", "active", "frozen"]) == "hot"
    assert namespace_rung(["frozen", "cold"]) == "warm"
    assert namespace_rung(["archived", "frozen"]) == "cold"
    assert namespace_rung(["frozen"]) == "frozen"


def test_the_effective_policy_names_where_each_part_comes_from():
    from openpeek.domain.tiering import IdleDays, TieringPolicy, explain_policy

    namespace = TieringPolicy(enabled=False, idle_days=IdleDays(cold=7))
    collection = TieringPolicy(idle_days=IdleDays(frozen=60))
    shown = explain_policy(collection, namespace)
    assert shown["enabled"] is False and shown["idle_days"] == {"cold": 7, "frozen": 60} and shown["exempt"] is None
    assert shown["inherited_from"] == {"enabled": "namespace", "idle_days.cold": "namespace",
                                       "idle_days.frozen": "collection", "exempt": "default"}
    assert explain_policy(None, None)["idle_days"]["cold"] == 30
