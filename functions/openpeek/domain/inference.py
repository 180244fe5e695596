"""Inference services by name: what each embeds (dimension, modality, provider) and whether this deployment can call
it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Modality = Literal["text", "image", "multimodal"]


@dataclass(frozen=True)
class InferenceService:
    """A registered embedding service. `usable` says whether this deployment can call it (weights installed,
    credentials configured); `how_to_enable` tells an operator what is missing when it is not."""

    name: str
    dimension: int
    modality: Modality
    provider: str  # "local", "bedrock", "openai"
    description: str = ""
    usable: bool = True
    how_to_enable: str | None = None


class InferenceUnavailable(Exception):
    """The service is unknown or cannot be used here. `how_to_enable` is shown to the caller (400)."""

    def __init__(self, name: str, how_to_enable: str) -> None:
        super().__init__(f"inference service '{name}' is not available: {how_to_enable}")
        self.name = name
        self.how_to_enable = how_to_enable
