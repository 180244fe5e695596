"""`openpeek image ...`: the clustering image for SageMaker Processing jobs.

    openpeek image build-push [--region R] [--instance-type T]   build it on the official base, push it to your ECR,
                                                                  print its URI (stdout: the URI alone)
    openpeek image base [--region R] [--instance-type T]          the pinned official base for that region and type
    openpeek image pin-bases                                      rewrite containers/clustering/base_images.json from
                                                                  the installed SageMaker SDK

The printed URI is what OPENPEEK_SAGEMAKER_IMAGE_URI (a laptop's SageMaker runs) and `cdk deploy -c
clustering_image_uri=...` (the deployed stack) take.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path
from typing import Any, Callable

from openpeek.adapters.aws import ecr_images, sagemaker_images
from openpeek.settings import Settings

DEFAULT_REPOSITORY = "openpeek-clustering"


def repository_root(start: Path | None = None) -> Path:
    """The openpeek checkout the image is built from: the nearest folder up from here holding the Dockerfile."""
    here = (start or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        if (folder / ecr_images.DOCKERFILE).is_file():
            return folder
    raise SystemExit("openpeek image: run this inside an openpeek checkout (no containers/clustering/Dockerfile "
                     f"above {here}), or pass --context")


def _region(args: argparse.Namespace, boto_session: Any) -> str:
    region = args.region or boto_session.region_name
    if not region:
        raise SystemExit("openpeek image: no AWS region; pass --region or set AWS_REGION")
    return region


def _base(args: argparse.Namespace, root: Path, region: str) -> str:
    if args.base:
        return args.base
    try:
        return sagemaker_images.pinned_base(sagemaker_images.read_table(root), region, args.instance_type)
    except ValueError as error:
        raise SystemExit(f"openpeek image: {error}") from None


def build_push(args: argparse.Namespace, *, boto_session: Callable[[str | None], Any] = ecr_images.aws_session,
               docker: ecr_images.DockerCli | None = None) -> int:
    root = Path(args.context).resolve() if args.context else repository_root()
    session = boto_session(args.region)
    region = _region(args, session)
    base = _base(args, root, region)
    if session.get_credentials() is None:
        raise SystemExit("openpeek image: no AWS credentials (aws configure, AWS_PROFILE or AWS_ACCESS_KEY_ID)")
    docker = docker or ecr_images.DockerCli()
    repositories = ecr_images.EcrRepositories(session.client("ecr", region_name=region))
    repository = repositories.ensure(args.repository)
    version = args.tag or f"{sagemaker_images.accelerator(args.instance_type)}-{ecr_images.context_digest(root, base)}"
    tag = f"{repository}:{version}"
    login = repositories.login()
    registries = {sagemaker_images.registry(repository)}
    if ".dkr.ecr." in base:
        registries.add(sagemaker_images.registry(base))  # the official base lives in AWS's registry
    try:
        for registry in sorted(registries):
            docker.login(login, registry)
        print(f"openpeek image: building {tag} on {base}", file=sys.stderr)
        with tempfile.TemporaryDirectory(prefix="openpeek-image-") as work:
            # GPU types get the CUDA variant (RAPIDS cuML), as the stack builds it.
            docker.build(ecr_images.build_context(root, Path(work)), tag, base,
                         "cluster,cluster-gpu" if sagemaker_images.accelerator(args.instance_type) == "gpu" else None)
        docker.push(tag)
    except ecr_images.ImageBuildFailed as error:
        raise SystemExit(f"openpeek image: {error}") from None
    print(f"openpeek image: pushed. Use it with OPENPEEK_SAGEMAKER_IMAGE_URI={tag} (embedded runtime) or "
          f"`cdk deploy -c clustering_image_uri={tag}` (the stack)", file=sys.stderr)
    print(tag)
    return 0


def show_base(args: argparse.Namespace) -> int:
    root = Path(args.context).resolve() if args.context else repository_root()
    region = args.region or ecr_images.aws_session(None).region_name or "us-east-1"
    print(_base(args, root, region))
    return 0


def pin_bases(args: argparse.Namespace) -> int:
    root = Path(args.context).resolve() if args.context else repository_root()
    path = sagemaker_images.write_table(root)
    print(f"openpeek image: {path} rewritten from the installed SageMaker SDK", file=sys.stderr)
    return 0


def add_image_commands(commands: Any) -> None:
    image = commands.add_parser("image", help="the clustering image for SageMaker Processing jobs")
    actions = image.add_subparsers(dest="image_command", required=True)
    default_type = Settings.model_fields["sagemaker_instance_type"].default
    for name, run, help_text in (
        ("build-push", build_push, "build the clustering image and push it to your ECR; prints its URI"),
        ("base", show_base, "print the pinned official base image for a region and instance type"),
        ("pin-bases", pin_bases, "rewrite the pinned base table from the installed SageMaker SDK"),
    ):
        action = actions.add_parser(name, help=help_text)
        action.add_argument("--context", default=None, help="the openpeek checkout (default: found from here)")
        if name != "pin-bases":
            action.add_argument("--region", default=None, help="AWS region (default: the AWS SDK's)")
            action.add_argument("--instance-type", default=default_type,
                                help=f"the instance type the jobs run on: picks the CPU or GPU base ({default_type})")
            action.add_argument("--base", default=None, help="build on this base image instead of the pinned one")
        if name == "build-push":
            action.add_argument("--repository", default=DEFAULT_REPOSITORY, help="ECR repository (created if absent)")
            action.add_argument("--tag", default=None, help="image tag (default: <cpu|gpu>-<digest of its sources>)")
        action.set_defaults(run=run)
