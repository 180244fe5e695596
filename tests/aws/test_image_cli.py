"""`openpeek image build-push` against moto's ECR, with a stand-in `docker` executable that records what it is asked:
the repository created, the registries logged into (the user's and the official base's), the build on the pinned base
for the instance type from the stack's build context, the push, and the URI printed."""

from __future__ import annotations

import stat
from pathlib import Path

import boto3
import pytest
from moto import mock_aws

from openpeek.adapters.aws import sagemaker_images
from openpeek.adapters.aws.ecr_images import DockerCli
from openpeek.cli import parser
from openpeek.image_cli import build_push

ROOT = Path(__file__).resolve().parents[2]
REGION = "eu-west-1"

STAND_IN = """#!/bin/sh
echo "$*" >> "{log}"
if [ "$1" = login ]; then cat >> "{log}"; echo >> "{log}"; fi
if [ "$1" = build ]; then
  for context; do :; done
  (cd "$context" && find . -maxdepth 3 -not -path '*/functions/openpeek/*' | sort | sed 's/^/context: /') >> "{log}"
fi
"""


@pytest.fixture
def docker(tmp_path):
    log = tmp_path / "docker.log"
    executable = tmp_path / "docker"
    executable.write_text(STAND_IN.format(log=log))
    executable.chmod(executable.stat().st_mode | stat.S_IEXEC)
    return DockerCli(str(executable)), log


@pytest.fixture
def aws(aws_credentials, monkeypatch):
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    with mock_aws():
        yield


def run(argv: list[str], docker: DockerCli, capsys) -> tuple[int, str, str]:
    args = parser().parse_args(["image", "build-push", "--context", str(ROOT), *argv])
    code = build_push(args, docker=docker)
    out, err = capsys.readouterr()
    return code, out, err


def test_build_push_builds_on_the_pinned_gpu_base_pushes_to_ecr_and_prints_the_uri(aws, docker, capsys):
    cli, log = docker
    base = sagemaker_images.pinned_base(sagemaker_images.read_table(ROOT), REGION, "ml.g4dn.xlarge")

    code, out, err = run(["--region", REGION, "--instance-type", "ml.g4dn.xlarge"], cli, capsys)

    assert code == 0
    (repository,) = boto3.client("ecr").describe_repositories()["repositories"]
    assert repository["repositoryName"] == "openpeek-clustering"
    uri = out.strip()
    assert uri.startswith(repository["repositoryUri"] + ":gpu-") and len(uri.rsplit("-", 1)[1]) == 16
    assert f"OPENPEEK_SAGEMAKER_IMAGE_URI={uri}" in err
    calls = log.read_text().splitlines()
    logins = [line.split()[-1] for line in calls if line.startswith("login")]
    assert sorted(logins) == sorted({repository["repositoryUri"].split("/")[0], base.split("/")[0]})
    (build,) = [line for line in calls if line.startswith("build")]
    assert f"--build-arg BASE_IMAGE={base}" in build and "--platform linux/amd64" in build
    assert "--build-arg ENGINE_EXTRAS=cluster,cluster-gpu" in build  # the CUDA variant, with RAPIDS cuML
    assert f"--tag {uri}" in build and build.split()[4].endswith("containers/clustering/Dockerfile")
    context = {line.removeprefix("context: ") for line in calls if line.startswith("context: ")}
    assert {"./pyproject.toml", "./README.md", "./functions/openpeek", "./containers/clustering/Dockerfile",
            "./containers/clustering/entrypoint.py"} <= context
    assert not any(".venv" in path or path.startswith("./tests") for path in context)
    assert calls[-1] == f"push {uri}"


def test_a_cpu_instance_type_builds_on_the_scikit_learn_base_and_unchanged_sources_keep_their_tag(aws, docker,
                                                                                                   capsys):
    cli, log = docker

    first = run(["--region", REGION, "--instance-type", "ml.m5.2xlarge"], cli, capsys)[1].strip()
    again = run(["--region", REGION, "--instance-type", "ml.m5.2xlarge"], cli, capsys)[1].strip()

    assert first == again and ":cpu-" in first
    assert "sagemaker-scikit-learn:1.9-0-cpu-py3" in [line for line in log.read_text().splitlines()
                                                       if line.startswith("build")][0]
    assert "ENGINE_EXTRAS" not in log.read_text()  # the CPU image stays as it was


def test_without_credentials_nothing_is_built(docker, capsys, monkeypatch, tmp_path):
    cli, log = docker
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")

    with pytest.raises(SystemExit, match="no AWS credentials"):
        run(["--region", REGION], cli, capsys)
    assert not log.exists()
