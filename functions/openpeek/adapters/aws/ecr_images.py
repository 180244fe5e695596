"""Building the clustering image and pushing it to the user's ECR: boto3 for the repository and the registry login,
the docker CLI for the build and the push (`openpeek image build-push`, image_cli.py)."""

from __future__ import annotations

import base64
import hashlib
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Sequence

DOCKERFILE = "containers/clustering/Dockerfile"
# What the image is built from: the same files the CDK stack sends as its build context (stacks/clustering.py).
CONTEXT_PATHS = ("pyproject.toml", "README.md", "functions", "containers/clustering")
SKIPPED = shutil.ignore_patterns("__pycache__", "*.egg-info", "*.pyc")


class ImageBuildFailed(Exception):
    pass


def aws_session(region: str | None) -> Any:
    """A boto3 session on the default credential chain (and region, unless given)."""
    import boto3

    return boto3.Session(region_name=region) if region else boto3.Session()


@dataclass(frozen=True)
class RegistryLogin:
    username: str
    password: str
    endpoint: str  # https://<account>.dkr.ecr.<region>.amazonaws.com


class EcrRepositories:
    def __init__(self, client: Any) -> None:
        self._ecr = client

    def ensure(self, name: str) -> str:
        """The repository's URI, creating it (scan on push) when it does not exist."""
        try:
            found = self._ecr.describe_repositories(repositoryNames=[name])["repositories"][0]
        except self._ecr.exceptions.RepositoryNotFoundException:
            found = self._ecr.create_repository(repositoryName=name,
                                                imageScanningConfiguration={"scanOnPush": True})["repository"]
        return found["repositoryUri"]

    def login(self) -> RegistryLogin:
        """A 12-hour token valid for every ECR registry of this region the caller may pull from (its own, and AWS's
        image registries)."""
        data = self._ecr.get_authorization_token()["authorizationData"][0]
        username, password = base64.b64decode(data["authorizationToken"]).decode().split(":", 1)
        return RegistryLogin(username, password, data["proxyEndpoint"])


def context_digest(root: Path, base_image: str) -> str:
    """A tag that changes when anything the image is built from changes (the base included), so a pushed tag is
    never moved under a job that uses it."""
    digest = hashlib.sha256(base_image.encode())
    for name in CONTEXT_PATHS:
        path = root / name
        files = [path] if path.is_file() else sorted(p for p in path.rglob("*") if p.is_file()
                                                     and "__pycache__" not in p.parts
                                                     and not any(part.endswith(".egg-info") for part in p.parts))
        for file in files:
            digest.update(file.relative_to(root).as_posix().encode() + b"\0" + file.read_bytes())
    return digest.hexdigest()[:16]


def build_context(root: Path, into: Path) -> Path:
    """The build context as a folder of its own (the repository root also holds virtualenvs and data)."""
    for name in CONTEXT_PATHS:
        source, target = root / name, into / name
        if source.is_file():
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target)
        else:
            shutil.copytree(source, target, ignore=SKIPPED)
    return into


class DockerCli:
    """The docker CLI (or a compatible one: `docker` may be Finch or Podman's shim)."""

    def __init__(self, executable: str = "docker",
                 run: Callable[..., subprocess.CompletedProcess] = subprocess.run) -> None:
        self._executable = executable
        self._run = run

    def _call(self, arguments: Sequence[str], *, stdin: str | None = None) -> None:
        if shutil.which(self._executable) is None:
            raise ImageBuildFailed(f"`{self._executable}` is not on PATH: install Docker (or Finch) to build images")
        done = self._run([self._executable, *arguments], input=stdin, text=True)
        if done.returncode != 0:
            raise ImageBuildFailed(f"`{self._executable} {arguments[0]}` failed (exit status {done.returncode})")

    def login(self, login: RegistryLogin, registry: str) -> None:
        self._call(["login", "--username", login.username, "--password-stdin", registry], stdin=login.password)

    def build(self, context: Path, tag: str, base_image: str, engine_extras: str | None = None) -> None:
        """`engine_extras`: the Dockerfile's ENGINE_EXTRAS (the CUDA variant's "cluster,cluster-gpu"); None: its own."""
        extras = ["--build-arg", f"ENGINE_EXTRAS={engine_extras}"] if engine_extras else []
        self._call(["build", "--platform", "linux/amd64", "--file", str(context / DOCKERFILE),
                    "--build-arg", f"BASE_IMAGE={base_image}", *extras, "--tag", tag, str(context)])

    def push(self, tag: str) -> None:
        self._call(["push", tag])
