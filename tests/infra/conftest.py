"""Every environment synthesised once per test session, offline: no pip (Lambda bundling skipped through the
`aws:cdk:bundling-stacks` context), no Docker (image assets are only fingerprinted at synthesis), no AWS account."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from infra_support import ENVIRONMENTS, ROOT, CONCERNS  # noqa: E402  (puts the repository root on sys.path)


@dataclass
class Synthesised:
    config: Any
    templates: dict[str, Any]  # concern -> aws_cdk.assertions.Template
    raw: dict[str, dict]  # concern -> the template as a dict

    def resources(self, resource_type: str, concern: str | None = None) -> dict[str, dict]:
        found: dict[str, dict] = {}
        for name, template in self.raw.items():
            if concern in (None, name):
                found.update(
                    {key: value for key, value in template["Resources"].items() if value["Type"] == resource_type}
                )
        return found


@pytest.fixture(scope="session")
def synthesised(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Synthesised]:
    import aws_cdk as cdk
    from aws_cdk.assertions import Template

    from app import cdk_json_context
    from stacks.config import load_config
    from stacks.environment import build_environment

    result: dict[str, Synthesised] = {}
    for name in ENVIRONMENTS:
        app = cdk.App(
            outdir=str(tmp_path_factory.mktemp(f"cdk-{name}")),
            context={**cdk_json_context(), "aws:cdk:bundling-stacks": []},
        )
        config = load_config(name)
        stacks = build_environment(app, config, ROOT)
        assembly = app.synth()
        raw = {
            concern: assembly.get_stack_by_name(stack.stack_name).template
            for concern, stack in zip(CONCERNS, stacks.all())
        }
        result[name] = Synthesised(config, {c: Template.from_json(t) for c, t in raw.items()}, raw)
    return result
