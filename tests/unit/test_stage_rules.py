"""Pure stage logic (domain/stages) and the stage catalogue: MMR, sampling, grouping and aggregation, token budgets,
and the API path importing no clustering or templating library to list and check stages."""

from __future__ import annotations

import random
import subprocess
import sys

import numpy as np
import pytest

from openpeek.domain.stages import context, grouping, mmr, sampling
from openpeek.domain.stages.candidates import Candidate, value_at, with_value


def test_mmr_with_full_relevance_keeps_the_ranking_and_with_diversity_skips_near_duplicates():
    vectors = np.array([[1, 0], [0.99, 0.14], [0, 1]], dtype=np.float32)
    unit = mmr.unit_rows(vectors)
    relevance = mmr.normalised_relevance(np.array([0.9, 0.89, 0.5]))
    assert mmr.select(relevance, lambda i: unit @ unit[i], 1.0, 3)[0] == [0, 1, 2]
    assert mmr.select(relevance, lambda i: unit @ unit[i], 0.5, 2)[0] == [0, 2]


def test_attribute_codes_never_match_missing_values():
    codes = mmr.attribute_codes([("a",), ("a",), (None,), (None,)])
    assert (codes[0] == codes[1]).all() and not (codes[2] == codes[3]).any()


def test_sampling_is_repeatable_and_stratified_keeps_every_stratum():
    assert sampling.uniform(3, 10, random.Random(1)) == sampling.uniform(3, 10, random.Random(1))
    assert len(sampling.reservoir(4, 100, random.Random(2))) == 4
    kept = sampling.stratified(3, ["a"] * 8 + ["b"] * 2, 1, random.Random(3))
    assert len(kept) == 3 and any(i >= 8 for i in kept)


@pytest.mark.parametrize("function, expected", [
    ("count", 4), ("count_distinct", 3), ("sum", 6.0), ("avg", 2.0), ("min", 1.0), ("max", 3.0),
    ("percentile", 2.0), ("first", 1), ("last", 3), ("collect_distinct", [1, 2, 3]),
    ("frequency", [{"value": 1, "count": 1}, {"value": 2, "count": 1}, {"value": 3, "count": 1}]),
])
def test_aggregations_skip_missing_values(function, expected):
    assert grouping.aggregate(function, [1, None, 2, 3]) == expected


def test_correlation_and_groups_in_first_seen_order():
    assert grouping.aggregate("correlation", [1, 2, 3], [2, 4, 6]) == pytest.approx(1.0)
    assert list(grouping.group_indexes(["b", "a", "b", ["x"]])) == ["b", "a", ("x",)]


def test_budgets_cut_the_last_text_or_drop_it():
    texts = ["a" * 40, "b" * 40, "c" * 40]  # 10 estimated tokens each
    assert context.fit_budget(texts, 25, "priority_truncate") == (["a" * 40, "b" * 40, "c" * 20], 0)
    assert context.fit_budget(texts, 25, "drop_last") == (["a" * 40, "b" * 40], 1)
    rendered = context.render("[{{CONTEXT.INDEX}}] {{DOC.title}}", lambda scope, path: {"CONTEXT": 2, "DOC": "t"}[scope])
    assert rendered == "[2] t"


def test_field_paths_read_metadata_where_it_is_stored_and_writes_copy():
    candidate = Candidate("d", 0.5, {"_internal": {"metadata": {"x": 1}}, "a": {"b": 2}}, {})
    assert (value_at(candidate, "metadata.x"), value_at(candidate, "a.b"), value_at(candidate, "score")) == (1, 2, 0.5)
    changed = with_value(candidate, "scores.mmr", 0.1)
    assert changed.payload["scores"] == {"mmr": 0.1} and "scores" not in candidate.payload


def test_listing_and_checking_stages_imports_no_clustering_or_templating_library():
    code = ("import sys; from openpeek.services.stages.registry import StageRegistry, StageDependencies; "
            "import openpeek.handlers.api; StageRegistry(StageDependencies(None, None)).catalogue(); "
            "print(sorted(m for m in ('sklearn', 'umap', 'numba', 'torch', 'jinja2') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
