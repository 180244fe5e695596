"""The rules of a published retriever: public names, rate-limit windows, and what the public sees of a document."""

from __future__ import annotations

import pytest

from openpeek.domain.publications import (
    InvalidPublicName,
    check_public_name,
    exposed_view,
    resolved_rate_limits,
    slug_of,
    window_limits,
    window_start,
)


@pytest.mark.parametrize("display_name, slug", [
    ("Peptide Evidence Search", "peptide-evidence-search"), ("  Hello, World!  ", "hello-world"),
    ("Über Café", "uber-cafe"), ("x" * 80, "x" * 50), ("!!", "")])
def test_a_display_name_gives_a_url_safe_slug(display_name, slug):
    assert slug_of(display_name) == slug


@pytest.mark.parametrize("name", ["ab", "-abc", "abc-", "Abc", "a_b_c", "a" * 51, ""])
def test_bad_public_names_are_refused(name):
    with pytest.raises(InvalidPublicName):
        check_public_name(name)


def test_tiers_give_the_windows_and_custom_limits_override_them():
    assert window_limits(resolved_rate_limits(None)) == {"minute": 60, "hour": 1_000, "day": 10_000}
    assert window_limits(resolved_rate_limits({"tier": "elevated", "requests_per_hour": 7})) == {
        "minute": 300, "hour": 7, "day": 100_000}
    assert window_limits(resolved_rate_limits({"tier": "unlimited", "requests_per_day": 5})) == {"day": 5}
    assert window_limits(resolved_rate_limits({"enabled": False, "requests_per_minute": 1})) == {}
    assert window_limits(resolved_rate_limits({"enable_ip_limits": True, "max_requests_per_ip_hour": 3}))[
        "ip_hour"] == 3
    assert window_start(3_725, 3_600) == 3_600 and window_start(59.9, 60) == 0


def test_only_exposed_fields_reach_the_public():
    document = {"document_id": "d1", "score": 0.5, "title": "T", "price": 3, "namespace_id": "ns_x",
                "metadata": {"author": "A", "supplier": "S"}, "vectors": {"emb": [1.0]}}
    assert exposed_view(document, ["title", "metadata.author", "missing", "title.deeper"]) == {
        "document_id": "d1", "score": 0.5, "title": "T", "metadata": {"author": "A"}}
