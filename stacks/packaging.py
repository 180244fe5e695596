"""Lambda code without Docker: the openpeek package and its dependencies as manylinux wheels for the Lambda's Python and
architecture, installed by pip on the deploying machine (CDK local bundling).

pip's `--platform/--python-version/--only-binary=:all:` picks the wheels Lambda can load whatever machine runs it, so a
laptop on macOS or arm64 still produces an x86_64 Python 3.12 bundle. Only the core dependencies go in: the clustering
and model extras (scikit-learn, umap, torch) stay out of the API's bundle, as DESIGN.md requires.

Tests synthesise with the context `aws:cdk:bundling-stacks` set to [] so that no pip runs and no network is needed.
"""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Sequence

import jsii
from aws_cdk import AssetHashType, BundlingOptions, ILocalBundling
from aws_cdk import aws_lambda as lambda_

from stacks.config import EnvironmentConfig

LAMBDA_PYTHON = "3.12"
PACKAGE_FILES = ("pyproject.toml", "README.md")  # with functions/, all that building the openpeek wheel reads
# Any fixed time: with SOURCE_DATE_EPOCH set, Python writes hash-checked .pyc files, so the same sources give the same
# bundle hash on every machine (and an unchanged function is not redeployed).
_REPRODUCIBLE_EPOCH = "315532800"


@jsii.implements(ILocalBundling)
class PipLocalBundling:
    """Builds the project's wheel, then installs it with its dependencies for the target platform into the asset."""

    def __init__(self, project_root: Path, platform: str, extras: Sequence[str] = ()) -> None:
        self._project_root = project_root
        self._platform = platform
        self._extras = tuple(extras)

    def try_bundle(self, output_dir: str, options: BundlingOptions) -> bool:
        environment = {**os.environ, "SOURCE_DATE_EPOCH": _REPRODUCIBLE_EPOCH, "PIP_DISABLE_PIP_VERSION_CHECK": "1"}
        with tempfile.TemporaryDirectory(prefix="openpeek-wheel-") as work:
            # Built from a clean copy: setuptools reuses ./build, where a file deleted from the source would linger.
            source, wheel_dir = os.path.join(work, "source"), os.path.join(work, "wheels")
            ignore = shutil.ignore_patterns("__pycache__", "*.egg-info", "*.pyc")
            shutil.copytree(self._project_root / "functions", os.path.join(source, "functions"), ignore=ignore)
            for name in PACKAGE_FILES:
                shutil.copy2(self._project_root / name, os.path.join(source, name))
            _pip(["wheel", "--no-deps", "--wheel-dir", wheel_dir, source], environment)
            (wheel,) = glob.glob(os.path.join(wheel_dir, "openpeek-*.whl"))
            requirement = f"{wheel}[{','.join(self._extras)}]" if self._extras else wheel
            _pip(
                [
                    "install",
                    "--target",
                    output_dir,
                    "--platform",
                    self._platform,
                    "--implementation",
                    "cp",
                    "--python-version",
                    LAMBDA_PYTHON,
                    "--only-binary=:all:",
                    "--upgrade",
                    requirement,
                ],
                environment,
            )
        _make_reproducible(Path(output_dir))
        return True


def _pip(arguments: list[str], environment: dict[str, str]) -> None:
    command = [sys.executable, "-m", "pip", "--quiet", *arguments]
    completed = subprocess.run(command, env=environment, capture_output=True, text=True)
    if completed.returncode != 0:
        # Returning False would make CDK fall back to Docker bundling, which this project promises not to need.
        raise RuntimeError(f"Lambda bundling failed: {' '.join(command)}\n{completed.stdout}\n{completed.stderr}")


def _make_reproducible(output: Path) -> None:
    """pip records where a local wheel came from (a temporary path): drop it, and the bundle depends only on content."""
    for record in output.glob("*.dist-info/direct_url.json"):
        record.unlink()
    for cache in output.glob("bin"):
        shutil.rmtree(cache)  # console scripts with this machine's interpreter path; Lambda never runs them


def lambda_code(project_root: Path, config: EnvironmentConfig, extras: Sequence[str] = ()) -> lambda_.Code:
    """The functions' code asset. Every function that passes the same arguments shares one bundle (CDK caches it by
    its properties, so pip runs once per synthesis however many stacks use it)."""
    return lambda_.Code.from_asset(
        str(project_root),
        asset_hash_type=AssetHashType.OUTPUT,
        bundling=BundlingOptions(
            # Used only if local bundling declined, which it never does (it raises instead).
            image=lambda_.Runtime.PYTHON_3_12.bundling_image,
            local=PipLocalBundling(project_root, config.lambda_platform, extras),
        ),
    )
