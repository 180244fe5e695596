"""The pure rules of interactions (times, deduplication, which types name a document, listing filters) and of a
published retriever's public template (what it withholds)."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from openpeek.domain import interactions as rules
from openpeek.domain.publications import WITHHELD, template_stages

NOW = datetime(2026, 5, 6, 7, 8, 9, tzinfo=timezone.utc)


def test_occurred_at_is_now_by_default_utc_when_naive_and_never_in_the_future():
    assert rules.occurred_at(None, NOW) == "2026-05-06T07:08:09.000Z"
    assert rules.occurred_at(datetime(2026, 1, 2, 3, 4, 5), NOW) == "2026-01-02T03:04:05.000Z"
    paris = timezone(timedelta(hours=2))
    assert rules.occurred_at(datetime(2026, 1, 2, 5, 4, 5, tzinfo=paris), NOW) == "2026-01-02T03:04:05.000Z"
    assert rules.occurred_at(NOW + timedelta(days=1), NOW) == "2026-05-06T07:08:09.000Z"


def test_the_deduplication_key_ignores_the_order_and_repeats_of_types():
    key = rules.dedup_key("exec_1", "doc_1", ["click", "view"])
    assert key == rules.dedup_key("exec_1", "doc_1", ["view", "click", "view"])
    assert key != rules.dedup_key("exec_1", "doc_1", ["click"])
    assert key != rules.dedup_key("exec_1", "doc_2", ["click", "view"])
    assert rules.dedup_key("a#b", "c", ["view"]) != rules.dedup_key("a", "b#c", ["view"])


def test_only_query_level_interactions_name_no_document():
    assert not rules.names_a_document(["zero_results"])
    assert not rules.names_a_document(["query_refinement", "filter_toggle"])
    assert rules.names_a_document(["zero_results", "click"])


def test_listing_filters_search_and_sort():
    records = [{"interaction_id": "a", "interaction_type": ["view", "click"], "position": 2, "metadata": {"n": "Gift"}},
               {"interaction_id": "b", "interaction_type": ["view"], "position": 0},
               {"interaction_id": "c", "interaction_type": ["purchase"]}]
    assert [r["interaction_id"] for r in records if rules.matches_simple(r, {"interaction_type": "CLICK"})] == ["a"]
    assert [r["interaction_id"] for r in records if rules.mentions(r, "gift")] == ["a"]
    assert [r["interaction_id"] for r in rules.sorted_records(records, "position", False)] == ["b", "a", "c"]
    assert [r["interaction_id"] for r in rules.sorted_records(records, "position", True)] == ["a", "b", "c"]


def test_a_template_withholds_credentials_and_endpoints_at_any_depth():
    stages = [
        {"stage_name": "call", "config": {"stage_id": "api_call", "parameters": {
            "url": "https://api.example.com/x?key=abc", "method": "POST", "headers": {"Authorization": "Bearer t"},
            "auth": {"type": "bearer", "secret_ref": "partner"}, "body": {"q": "{{DOC.title}}"}, "timeout": 5}}},
        {"stage_name": "search", "config": {"stage_id": "feature_search", "parameters": {"searches": [
            {"feature_uri": "emb", "top_k": 5, "nested": {"api_key": "sk-live"}}]}}},
        {"stage_name": "lookup", "config": {"stage_id": "sql_lookup", "parameters": {"connection_id": "crm"}}},
    ]
    shown = template_stages(stages)
    call = shown[0]["config"]["parameters"]
    assert {call[key] for key in ("url", "headers", "auth", "body")} == {WITHHELD}
    assert (call["method"], call["timeout"]) == ("POST", 5)
    search = shown[1]["config"]["parameters"]["searches"][0]
    assert (search["feature_uri"], search["top_k"], search["nested"]) == ("emb", 5, {"api_key": WITHHELD})
    assert shown[2]["config"]["parameters"]["connection_id"] == WITHHELD
    assert "sk-live" not in str(shown) and "Bearer t" not in str(shown) and "partner" not in str(shown)
    assert stages[0]["config"]["parameters"]["headers"] == {"Authorization": "Bearer t"}  # the retriever is untouched
