"""`openpeek serve` warms the bundled model up in the background, so the first text query does not pay its load."""

from __future__ import annotations

import threading
from types import SimpleNamespace
from typing import Sequence

from openpeek.adapters.inference.registry import StaticInferenceRegistry
from openpeek.cli import warm_up_local_model
from openpeek.domain.failures import DependencyUnavailable
from openpeek.domain.inference import InferenceService
from openpeek.services.inference import InferenceGateway


class RecordingEmbedder:
    def __init__(self, name: str = "all_minilm_l6_v2", usable: bool = True, fails: bool = False) -> None:
        self.service = InferenceService(name, 384, "text", "local", usable=usable,
                                        how_to_enable=None if usable else "pip install 'openpeek[embed]'")
        self.fails = fails
        self.calls: list[tuple[list[str], str]] = []

    def embed_texts(self, texts: Sequence[str]) -> list[list[float]]:
        self.calls.append((list(texts), threading.current_thread().name))
        if self.fails:
            raise DependencyUnavailable("weights are corrupt")
        return [[0.0] * 384 for _ in texts]


def services_with(*embedders) -> SimpleNamespace:
    return SimpleNamespace(inference_gateway=InferenceGateway(StaticInferenceRegistry(embedders)))


def test_the_local_model_embeds_once_off_the_main_thread() -> None:
    local, other = RecordingEmbedder(), RecordingEmbedder("other_text")
    thread = warm_up_local_model(services_with(local, other))
    assert thread is not None and thread.daemon
    thread.join(timeout=10)
    assert local.calls == [(["warm up"], "openpeek-warm-up")] and other.calls == []


def test_nothing_runs_when_the_local_model_is_not_usable_here() -> None:
    local = RecordingEmbedder(usable=False)
    assert warm_up_local_model(services_with(local)) is None
    assert warm_up_local_model(services_with(RecordingEmbedder("other_text"))) is None
    assert local.calls == []


def test_a_failed_warm_up_is_reported_and_does_not_escape(capsys) -> None:
    thread = warm_up_local_model(services_with(RecordingEmbedder(fails=True)))
    thread.join(timeout=10)
    assert not thread.is_alive()
    assert "warming up all_minilm_l6_v2 failed (weights are corrupt)" in capsys.readouterr().out
