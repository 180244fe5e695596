"""The clustering image's base: the official SageMaker image the SDK's image-URI lookup gives for the instance type
(CPU: scikit-learn's container; GPU: PyTorch's CUDA one), pinned per region in containers/clustering/base_images.json
and passed to the image build by the stack; the committed table is what the pinned SDK returns."""

from __future__ import annotations

import json

import pytest

from infra_support import ROOT  # noqa: F401  (puts the repository root on sys.path)
from openpeek.adapters.aws import sagemaker_images
from stacks.config import CLUSTERING_BASE_REGION, clustering_base_image, load_config

INSTANCE_TYPES = ["ml.g4dn.xlarge", "ml.g5.2xlarge", "ml.p4d.24xlarge", "ml.m5.2xlarge", "ml.c5.4xlarge"]


def test_the_committed_table_covers_every_region_the_sdk_publishes_both_images_in():
    table = sagemaker_images.read_table(ROOT)

    assert sorted(table["regions"]) == sagemaker_images.regions()
    assert "sagemaker-core 2.27.0" in table["generated_by"]
    assert {key: table["gpu"][key] for key in sagemaker_images.GPU_BASE} == sagemaker_images.GPU_BASE
    assert {key: table["cpu"][key] for key in sagemaker_images.CPU_BASE} == sagemaker_images.CPU_BASE


@pytest.mark.parametrize("region", ["eu-west-1", "cn-north-1"])
@pytest.mark.parametrize("instance_type", INSTANCE_TYPES)
def test_the_stacks_choice_is_the_sdks_lookup(region, instance_type):
    from sagemaker.core import image_uris

    family = instance_type.split(".")[1]
    expected = image_uris.retrieve(region=region, instance_type=instance_type,
                                   **(sagemaker_images.GPU_BASE if family[0] in "gp" else sagemaker_images.CPU_BASE))

    assert clustering_base_image(region, instance_type) == expected
    assert sagemaker_images.pinned_base(sagemaker_images.read_table(ROOT), region, instance_type) == expected


def test_gpu_types_get_the_cuda_image_and_cpu_types_the_scikit_learn_one():
    gpu = clustering_base_image("eu-west-1", "ml.g4dn.xlarge")
    cpu = clustering_base_image("eu-west-1", "ml.m5.2xlarge")

    assert "/pytorch-training:" in gpu and "-gpu-py312" in gpu and ".eu-west-1." in gpu
    assert "/sagemaker-scikit-learn:" in cpu and "-cpu-" in cpu
    assert clustering_base_image(None, "ml.g4dn.xlarge") == clustering_base_image(CLUSTERING_BASE_REGION,
                                                                                  "ml.g4dn.xlarge")
    with pytest.raises(ValueError, match="not a SageMaker instance type"):
        sagemaker_images.accelerator("g4dn.xlarge")
    with pytest.raises(ValueError, match="no official"):
        clustering_base_image("xx-nowhere-1", "ml.g4dn.xlarge")


def _image_build_args(tmp_path, config, region=None) -> dict:
    import aws_cdk as cdk

    from app import cdk_json_context
    from stacks.environment import build_environment

    app = cdk.App(outdir=str(tmp_path), context={**cdk_json_context(), "aws:cdk:bundling-stacks": []})
    env = cdk.Environment(account="123456789012", region=region) if region else None
    build_environment(app, config, ROOT, env=env)
    app.synth()
    (manifest,) = [json.loads(path.read_text()) for path in tmp_path.glob("*clustering.assets.json")]
    (image,) = manifest["dockerImages"].values()
    return image["source"].get("dockerBuildArgs", {})


def test_the_stack_builds_the_image_on_the_regions_pinned_base(tmp_path):
    config = load_config("dev", clustering_instance_type="ml.m5.2xlarge")

    args = _image_build_args(tmp_path, config, region="eu-west-1")

    assert args == {"BASE_IMAGE": clustering_base_image("eu-west-1", "ml.m5.2xlarge")}
    assert "sagemaker-scikit-learn" in args["BASE_IMAGE"]
    # A base given in the context (`-c clustering_base_image=...`) wins over the table.
    assert load_config("dev", clustering_base_image="python:3.12-slim").clustering_base_image == "python:3.12-slim"


def test_an_image_pushed_by_the_cli_is_used_as_it_is(tmp_path):
    import aws_cdk as cdk

    from app import cdk_json_context
    from stacks.environment import build_environment

    uri = "123456789012.dkr.ecr.eu-west-1.amazonaws.com/openpeek-clustering:gpu-0123456789abcdef"
    app = cdk.App(outdir=str(tmp_path), context={**cdk_json_context(), "aws:cdk:bundling-stacks": []})
    build_environment(app, load_config("dev", clustering_image_uri=uri), ROOT)
    app.synth()

    (manifest,) = [json.loads(path.read_text()) for path in tmp_path.glob("*clustering.assets.json")]
    assert manifest.get("dockerImages", {}) == {}  # nothing to build
    (template,) = [json.loads(path.read_text()) for path in tmp_path.glob("*clustering.template.json")]
    text = json.dumps(template)
    assert uri in text
    assert "repository/openpeek-clustering" in text and "ecr:BatchGetImage" in text


def test_a_gpu_instance_type_gets_the_cuda_variant_with_cuml(tmp_path):
    config = load_config("dev", clustering_instance_type="ml.g5.2xlarge")

    args = _image_build_args(tmp_path, config, region="eu-west-1")

    assert args == {"BASE_IMAGE": clustering_base_image("eu-west-1", "ml.g5.2xlarge"),
                    "ENGINE_EXTRAS": "cluster,cluster-gpu"}
    assert "/pytorch-training:" in args["BASE_IMAGE"] and "-gpu-py312" in args["BASE_IMAGE"]


def test_the_cuda_variant_installs_cuml_and_the_cpu_image_does_not():
    import tomllib

    dockerfile = (ROOT / "containers" / "clustering" / "Dockerfile").read_text()
    extras = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"]

    assert "ARG ENGINE_EXTRAS=cluster\n" in dockerfile and 'pip install ".[${ENGINE_EXTRAS}]"' in dockerfile
    assert any(requirement.startswith("cuml-cu12") for requirement in extras["cluster-gpu"])
    assert "openpeek[cluster]" in extras["cluster-gpu"]
    assert not any("cuml" in requirement for requirement in extras["cluster"])
