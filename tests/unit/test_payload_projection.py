"""What a retriever's stages read of the payload (domain/stages/projection.py): the keys a search fetches for its
candidates, and the whole payload the returned page gets back."""

from openpeek.domain.stages import projection


def test_field_paths_become_the_top_level_keys_that_hold_them() -> None:
    assert projection.top_level_keys(["price", "metadata.color", "tags[0].name", "score", "document_id"]) == {
        "price", "_internal", "tags"}


def test_a_path_that_is_not_a_plain_field_means_the_whole_payload() -> None:
    assert projection.top_level_keys(["{{INPUT.field}}"]) is None
    assert projection.top_level_keys(['"odd.key".x']) is None


def test_one_stage_reading_everything_makes_the_union_everything() -> None:
    assert projection.union([frozenset({"a"}), frozenset({"b"})]) == {"a", "b"}
    assert projection.union([frozenset({"a"}), None, frozenset()]) is None
    assert projection.union([]) == frozenset()


def test_completed_payload_keeps_every_stored_field_under_what_stages_wrote() -> None:
    stored = {"document_id": "d1", "price": 5, "title": "t", "scores": {"rerank": 0.4}, "_internal": {"a": 1}}
    partial = {"document_id": "d1", "price": 5, "scores": {"mmr": 0.9}}

    whole = projection.completed(stored, partial)

    assert whole == {"document_id": "d1", "price": 5, "title": "t", "scores": {"rerank": 0.4, "mmr": 0.9},
                     "_internal": {"a": 1}}
    assert stored["scores"] == {"rerank": 0.4}  # the stored payload is not changed
