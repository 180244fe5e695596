"""The clustering image's base: an official SageMaker image, looked up with the SageMaker Python SDK's image-URI lookup
(`sagemaker.core.image_uris.retrieve`) and pinned per region in containers/clustering/base_images.json, which the CDK
stack and `openpeek image build-push` read (so synthesis and builds need neither the SDK nor the network).

- CPU instance types: SageMaker's scikit-learn container (the image the SDK's SKLearnProcessor runs), with Python and
  scikit-learn already in place;
- GPU instance types (the ml.g* and ml.p* families, the SDK's own rule): the PyTorch training container, CUDA 12 and
  Python 3.12, which RAPIDS' CUDA 12 wheels run on.

`openpeek image pin-bases` rewrites the table from the SDK installed here; a test keeps the committed table equal to
what the pinned SDK returns.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Literal

Accelerator = Literal["cpu", "gpu"]

BASE_IMAGES_FILE = Path("containers/clustering/base_images.json")
CPU_BASE: dict[str, str] = {"framework": "sklearn", "version": "1.9-0", "image_scope": "training"}
GPU_BASE: dict[str, str] = {"framework": "pytorch", "version": "2.8.0", "py_version": "py312",
                            "image_scope": "training"}
# Instance types the lookup is made for: the SDK picks the cpu or gpu variant from the instance family.
PROBES: dict[Accelerator, str] = {"cpu": "ml.m5.2xlarge", "gpu": "ml.g4dn.xlarge"}


def accelerator(instance_type: str) -> Accelerator:
    """The SDK's rule (image_uris._processor): the g and p families carry NVIDIA GPUs; everything else is CPU."""
    parts = instance_type.split(".")
    if len(parts) != 3 or parts[0] != "ml" or not parts[1]:
        raise ValueError(f"not a SageMaker instance type: {instance_type!r} (e.g. ml.g4dn.xlarge)")
    return "gpu" if parts[1][0] in ("g", "p") else "cpu"


def lookup(region: str, instance_type: str) -> str:
    """The official base for this instance type in this region, from the SDK (offline: its bundled config)."""
    from sagemaker.core import image_uris

    base = GPU_BASE if accelerator(instance_type) == "gpu" else CPU_BASE
    return image_uris.retrieve(region=region, instance_type=instance_type, **base)


def regions() -> list[str]:
    """The regions where both official images are published (from the SDK's bundled image configuration)."""
    from sagemaker.core import image_uris

    found: set[str] | None = None
    for base in (CPU_BASE, GPU_BASE):
        config = image_uris.config_for_framework(base["framework"])[base["image_scope"]]["versions"][base["version"]]
        published = set(config["registries"])
        found = published if found is None else found & published
    return sorted(found or ())


def pinned_table() -> dict[str, Any]:
    """The table containers/clustering/base_images.json holds."""
    from importlib.metadata import version

    table: dict[str, Any] = {
        "generated_by": f"openpeek image pin-bases (sagemaker-core {version('sagemaker-core')}, "
                        "sagemaker.core.image_uris.retrieve)",
        "cpu": {**CPU_BASE, "probe_instance_type": PROBES["cpu"]},
        "gpu": {**GPU_BASE, "probe_instance_type": PROBES["gpu"]},
        "regions": {},
    }
    for region in regions():
        try:
            table["regions"][region] = {kind: lookup(region, probe) for kind, probe in PROBES.items()}
        except ValueError:
            continue  # a partition the SDK knows but cannot form a URI for (e.g. a new region's missing domain)
    return table


def read_table(root: Path) -> dict[str, Any]:
    return json.loads((root / BASE_IMAGES_FILE).read_text())


def write_table(root: Path) -> Path:
    path = root / BASE_IMAGES_FILE
    path.write_text(json.dumps(pinned_table(), indent=2, sort_keys=True) + "\n")
    return path


def pinned_base(table: dict[str, Any], region: str, instance_type: str) -> str:
    """The pinned base image for a region and instance type."""
    images = table["regions"].get(region)
    if images is None:
        raise ValueError(f"no official SageMaker base image is pinned for region {region!r}; "
                         f"pinned: {', '.join(sorted(table['regions']))}")
    return images[accelerator(instance_type)]


def registry(image_uri: str) -> str:
    """The registry host of an image URI (what `docker login` needs)."""
    return image_uri.split("/", 1)[0]
