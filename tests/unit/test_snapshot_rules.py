"""The snapshot artifacts' rules: points read back exactly as written (dense floats bit for bit, sparse vectors,
nested payloads), damaged parts are named, and verification's verdicts."""

from __future__ import annotations

import gzip

import numpy as np
import pytest

from openpeek.domain.snapshots import (UnreadablePart, Verification, check_artifact, decode_points, digest,
                                       encode_points)
from openpeek.domain.vectors import SparseVector, VectorPoint


def test_points_read_back_exactly_as_written():
    rng = np.random.default_rng(7)
    dense = rng.standard_normal(384).astype(np.float32)
    points = [
        VectorPoint("a", {"emb": [float(v) for v in dense]}, {"title": "é ☕", "n": 3, "deep": {"x": [1, None, True]}}),
        VectorPoint("b", {"emb": dense, "sparse": SparseVector((1, 40), (0.5, -2.25))}, {}),
        VectorPoint("c", {}, {"only": "payload"}),
    ]

    back = decode_points(encode_points(points))

    assert [p.id for p in back] == ["a", "b", "c"]
    assert back[0].vectors["emb"] == [float(v) for v in dense] and back[0].payload == points[0].payload
    assert np.array_equal(np.asarray(back[1].vectors["emb"], dtype=np.float32), dense)
    assert back[1].vectors["sparse"] == SparseVector((1, 40), (0.5, -2.25))
    assert back[2].vectors == {} and back[2].payload == {"only": "payload"}


def test_a_vector_float32_cannot_hold_is_kept_exactly_too():
    doubles = [0.1, 1 / 3, -2.5e-300]
    assert decode_points(encode_points([VectorPoint("x", {"emb": doubles})]))[0].vectors["emb"] == doubles


def test_the_same_points_encode_to_the_same_bytes():
    points = [VectorPoint("a", {"emb": [0.1, 0.2]}, {"n": 1})]
    assert digest(encode_points(points)) == digest(encode_points(points))


@pytest.mark.parametrize("damaged", [b"", b"not gzip", gzip.compress(b"{not json}\n"),
                                     gzip.compress(b'{"id": "a"}\n'),
                                     gzip.compress(b'{"id": "a", "vectors": {"e": {"f32": "!!"}}, "payload": {}}\n'),
                                     encode_points([VectorPoint("a")])[:-4]])
def test_a_damaged_part_is_unreadable(damaged):
    with pytest.raises(UnreadablePart):
        decode_points(damaged)


def test_verification_names_each_kind_of_damage():
    data = b"artifact bytes"
    recorded = digest(data)
    verification = Verification()

    assert check_artifact(verification, "ok.json", data, recorded)
    assert not check_artifact(verification, "gone.json", None, recorded)
    assert not check_artifact(verification, "short.json", data[:-1], recorded)
    assert not check_artifact(verification, "changed.json", data.upper(), recorded)

    assert verification.digests_verified == 1 and not verification.restorable
    assert [issue["code"] for issue in verification.issues] == ["missing_artifact", "size_mismatch",
                                                                "digest_mismatch"]


def test_vector_capture_is_measured_only_when_every_part_was_decoded():
    assert Verification(points_read=10).vector_capture == "could_not_measure"
    assert Verification(points_read=10, measured=True).vector_capture == "measured_ok"
    assert Verification(points_read=10, points_without_vectors=5, measured=True).vector_capture == \
        "measured_degraded"
    warned = Verification()
    warned.warning("missing_manifest", "manifest.json is missing")
    assert warned.restorable
