"""Where a clustering job's heavy steps run: on a CUDA device with RAPIDS cuML when one is there, else on the CPU with
scikit-learn and umap-learn. Chosen per job by its `compute_device` setting:

- `auto` (default): the GPU when a CUDA device is visible and cuML imports, otherwise the CPU (the reason is reported);
- `cpu`: always the CPU;
- `gpu`: the GPU or a refusal naming what is missing (no cuML installed, no CUDA device), never a silent CPU run.

Both paths take the same arrays and give labels and coordinates of the same shapes (see engine/cuml_algorithms.py);
the job's result says which one ran it (`device`).
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any

PREFERENCES = ("auto", "cpu", "gpu")
CUML_PACKAGE = "cuml-cu12"  # RAPIDS cuML for CUDA 12 (PyPI); brings cupy and the CUDA runtime libraries with it


class DeviceUnavailable(ValueError):
    """The job asked for a device this machine cannot give it: refused like any other input error (exit status 2)."""


@dataclass(frozen=True)
class ComputeDevice:
    kind: str
    """"cpu" or "gpu"."""
    library: str
    """What runs the algorithms: "scikit-learn" or "cuml <version>"."""
    reason: str
    """Why this device: what the job asked for and what the machine has."""
    algorithms: Any = field(default=None, compare=False)
    """The GPU path's implementations (engine.cuml_algorithms.CumlAlgorithms); None on the CPU."""

    @property
    def gpu(self) -> bool:
        return self.kind == "gpu"

    def report(self) -> dict[str, str]:
        """What the job's result records about the device that ran it."""
        return {"device": self.kind, "library": self.library, "reason": self.reason}


CPU = ComputeDevice("cpu", "scikit-learn", "the job asked for the CPU")


def cuml_installed() -> bool:
    """Whether cuML can be imported, without importing it (seconds, and a CUDA context, on a GPU machine)."""
    if "cuml" in sys.modules:
        return sys.modules["cuml"] is not None
    try:
        return importlib.util.find_spec("cuml") is not None
    except (ImportError, ValueError):
        return False


def cuda_devices() -> tuple[int, str]:
    """The number of CUDA devices the CUDA runtime sees (through cupy, which cuML depends on), and, when none, why."""
    try:
        cupy = importlib.import_module("cupy")
    except ImportError:
        return 0, f"cupy (the CUDA runtime bindings that {CUML_PACKAGE} installs) is not importable"
    try:
        count = int(cupy.cuda.runtime.getDeviceCount())
    except Exception as error:  # noqa: BLE001 - no driver, no device, CUDA_VISIBLE_DEVICES empty: all mean "none"
        return 0, f"the CUDA runtime found no device ({type(error).__name__}: {error})"
    return count, "" if count else "the CUDA runtime reports 0 devices"


def select_device(preference: Any = "auto") -> ComputeDevice:
    """The device a job runs on (see the module's docstring); DeviceUnavailable for `gpu` without one."""
    preference = "auto" if preference is None else preference
    if preference not in PREFERENCES:
        raise DeviceUnavailable(f"compute_device must be one of {', '.join(PREFERENCES)}, got {preference!r}")
    if preference == "cpu":
        return CPU
    missing = ""
    if not cuml_installed():
        missing = f"RAPIDS cuML is not installed (pip install {CUML_PACKAGE})"
    else:
        count, missing = cuda_devices()
    module: ModuleType | None = None
    if not missing:
        try:
            module = importlib.import_module("cuml")
        except Exception as error:  # noqa: BLE001 - a broken install (CUDA libraries missing) reads as "no GPU"
            missing = f"RAPIDS cuML failed to import ({type(error).__name__}: {error})"
    if module is None:
        if preference == "gpu":
            raise DeviceUnavailable(f"compute_device 'gpu' was asked for, but {missing}; run the job with "
                                    "compute_device 'cpu' or 'auto', or on a GPU instance type")
        return ComputeDevice("cpu", "scikit-learn", f"auto: {missing}")
    from openpeek.engine.cuml_algorithms import CumlAlgorithms

    version = getattr(module, "__version__", "unknown")
    return ComputeDevice("gpu", f"cuml {version}", f"{preference}: {count} CUDA device(s) visible",
                         CumlAlgorithms(module))
