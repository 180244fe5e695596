"""Manifests through the official SDK's ManifestApi (multipart upload of the manifest text) against `openpeek serve`."""

from __future__ import annotations

import json

import mixpeek
import pytest
import yaml
from mixpeek.models import ApplyResult, DiffResult, ValidateResult

from tests.api.test_manifests_api import manifest

pytestmark = pytest.mark.slow


def test_validate_diff_apply_and_export_with_the_sdk(server):
    base, key, _ = server
    config = mixpeek.Configuration(host=base, access_token=key)
    client = mixpeek.ApiClient(config)
    api = mixpeek.ManifestApi(client)
    # no X-Namespace on these routes: the manifest names its namespace, and apply creates it
    text = yaml.safe_dump(manifest(namespace_name="sdk-manifest", vector_configs=[{"name": "emb", "dimension": 3}]))

    validated = api.validate_manifest(text)
    assert isinstance(validated, ValidateResult) and validated.valid is True
    diff = api.diff_manifest(text)
    assert isinstance(diff, DiffResult) and len(diff.to_create) == 3  # the namespace, a retriever, a cluster
    applied = api.apply_manifest(text)
    assert isinstance(applied, ApplyResult) and applied.success and applied.created_count == 3
    assert api.diff_manifest(text).to_create == [] and api.apply_manifest(text).created_count == 0
    exported = api.export_manifest_get(_headers={"X-Namespace": "sdk-manifest"})
    exported = json.loads(exported) if isinstance(exported, (str, bytes)) else exported
    assert [r["retriever_name"] for r in exported["retrievers"]] == ["nearest"]
