"""Constants and helpers shared by tests/infra (a module of its own: conftest.py files are not importable by name)."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))  # app.py and stacks/ live at the repository root

os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "18,19,20,21")
os.environ.setdefault("JSII_SILENCE_WARNING_DEPRECATED_NODE_VERSION", "18,19,20,21")

ENVIRONMENTS = ("dev", "staging", "prod")
CONCERNS = ("data", "vectors", "automation", "clustering", "api", "ingestion")


def definition_of(state_machine: dict) -> dict:
    """A state machine's DefinitionString with its CloudFormation tokens replaced by placeholders, as JSON."""
    definition = state_machine["Properties"]["DefinitionString"]
    if isinstance(definition, dict):
        parts = definition["Fn::Join"][1]
        definition = "".join(part if isinstance(part, str) else "TOKEN" for part in parts)
    return json.loads(definition)
