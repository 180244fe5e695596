"""The CDK app: one openpeek stack set per environment.

    cdk synth -c env=dev|staging|prod        (the CLI passes cdk.json's context and bundles the Lambda code)
    python app.py                           (the same; OPENPEEK_ENV picks the environment, CDK_OUTDIR the folder)

Any field of stacks/config.py's EnvironmentConfig can be overridden from the context, e.g.
`-c clustering_instance_type=ml.m5.2xlarge` for a CPU clustering job.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

# jsii prints a page-wide banner on Node.js versions past their end of life (the value lists the majors to silence);
# synthesis does not depend on them.
os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "18,19,20,21")
os.environ.setdefault("JSII_SILENCE_WARNING_DEPRECATED_NODE_VERSION", "18,19,20,21")

import aws_cdk as cdk  # noqa: E402

from stacks.config import EnvironmentConfig, load_config  # noqa: E402
from stacks.environment import build_environment  # noqa: E402

PROJECT_ROOT = Path(__file__).resolve().parent


def cdk_json_context() -> dict:
    """cdk.json's context: the CLI passes it, `python app.py` reads it here, so both synthesise the same templates."""
    return json.loads((PROJECT_ROOT / "cdk.json").read_text())["context"]


def config_from(app: cdk.App) -> EnvironmentConfig:
    name = app.node.try_get_context("env") or os.environ.get("OPENPEEK_ENV") or "dev"
    overrides = {
        field: app.node.try_get_context(field)
        for field in EnvironmentConfig.__dataclass_fields__
        if field != "name" and app.node.try_get_context(field) is not None
    }
    return load_config(name, **overrides)


def main() -> None:
    app = cdk.App(context=cdk_json_context())
    config = config_from(app)
    # Account and region from the CLI's credentials (`cdk deploy`); unset, the templates stay environment-agnostic.
    account, region = os.environ.get("CDK_DEFAULT_ACCOUNT"), os.environ.get("CDK_DEFAULT_REGION")
    env = cdk.Environment(account=account, region=region) if account and region else None
    build_environment(app, config, PROJECT_ROOT, env=env)
    app.synth()


if __name__ == "__main__":
    main()
