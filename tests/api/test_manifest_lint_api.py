"""POST /v1/manifest/lint: validation's errors and best-practice findings for a manifest, nothing applied; the
answer parses as the SDK's LintResponse, and the SDK's multipart form (skip_rules, parameters) is understood."""

from __future__ import annotations

import copy

import yaml
from mixpeek.models import LintResponse

from tests.api.test_manifests_api import RETRIEVER, manifest, standalone
from tests.api.test_namespaces_api import assert_error


def lint(client, headers, document, *, skip=(), parameters=None):
    form = {"manifest_file": yaml.safe_dump(document)}
    if parameters is not None:
        form["parameters"] = parameters
    response = client.post("/v1/manifest/lint", headers=headers, params=[("skip_rules", s) for s in skip],
                           files={name: (None, value) for name, value in form.items()})
    assert response.status_code == 200, response.text
    LintResponse.from_dict(response.json())
    return response.json()


def codes(body):
    return sorted({(r["code"], r["location"]) for r in body["results"]})


def test_a_valid_manifest_gets_its_best_practice_findings_and_nothing_changes(client, tenant):
    headers = standalone(client, tenant, "shop")
    document = manifest()
    expensive = {"stage_name": "judge", "stage_type": "filter", "config": {"stage_id": "llm_filter", "parameters": {
        "provider": "openai", "model_name": "gpt-4o-mini", "criteria": "about {{INPUT.topic}}"}}}
    late_filter = {"stage_name": "keep", "stage_type": "filter", "config": {"stage_id": "attribute_filter",
                                                                            "parameters": {"field": "brand",
                                                                                           "operator": "eq",
                                                                                           "value": "acme"}}}
    second = copy.deepcopy(RETRIEVER)
    second.update(retriever_name="judged", description=None, stages=[RETRIEVER["stages"][0],
                                                                     copy.deepcopy(RETRIEVER["stages"][0]),
                                                                     expensive, late_filter])
    second["stages"][1]["stage_name"] = "again"
    document["retrievers"].append({k: v for k, v in second.items() if v is not None})

    body = lint(client, headers, document)
    found = codes(body)
    assert ("MISSING_INPUT_SCHEMA", "retrievers[1].input_schema") in found  # {{INPUT.topic}} is not declared
    assert ("SUBOPTIMAL_STAGE_ORDER", "retrievers[1].stages[3]") in found
    assert ("DUPLICATE_FEATURE_URI", "retrievers[1].stages[1]") in found
    assert ("MISSING_DESCRIPTION", "retrievers[1]") in found and ("MISSING_DESCRIPTION", "clusters[0]") in found
    assert not any(code == "MISSING_INPUT_SCHEMA" and place.startswith("retrievers[0]") for code, place in found)
    assert body["summary"] == {"error": sum(r["severity"] == "error" for r in body["results"]),
                               "warning": sum(r["severity"] == "warning" for r in body["results"]),
                               "info": sum(r["severity"] == "info" for r in body["results"])}
    assert body["valid"] == (body["summary"]["error"] == 0)
    assert all(r["suggestion"] for r in body["results"])

    skipped = lint(client, headers, document, skip=("MISSING_DESCRIPTION", "DUPLICATE_FEATURE_URI"))
    assert not {code for code, _ in codes(skipped)} & {"MISSING_DESCRIPTION", "DUPLICATE_FEATURE_URI"}
    # linting applied nothing
    assert client.get("/v1/retrievers", headers=headers).json()["results"] == []


def test_validation_errors_are_findings_with_their_place_and_make_it_invalid(client, tenant):
    headers = standalone(client, tenant, "shop")
    document = manifest()
    broken = copy.deepcopy(RETRIEVER)
    broken["retriever_name"] = "broken"
    broken["stages"][0]["config"]["parameters"]["searches"][0]["feature_uri"] = "no_such_index"
    document["retrievers"].append(broken)
    body = lint(client, headers, document)
    assert body["valid"] is False
    errors = [r for r in body["results"] if r["severity"] == "error"]
    assert [(r["code"], r["location"]) for r in errors] == [("VALIDATION_ERROR", "retrievers[1]")]
    assert "no_such_index" in errors[0]["message"]

    wrong_shape = {"version": 1, "retrievers": [{"retriever_name": 7, "stages": []}]}
    shaped = lint(client, headers, wrong_shape)
    assert shaped["valid"] is False and {r["code"] for r in shaped["results"]} == {"VALIDATION_ERROR"}
    assert {r["location"] for r in shaped["results"]} >= {"retrievers[0].retriever_name"}


def test_a_manifest_for_a_namespace_not_made_yet_is_linted_against_the_one_apply_would_make(client, tenant):
    document = {"version": 1, "namespace": {"namespace_name": "future", "vector_configs": [
        {"name": "emb", "dimension": 3}]}, "retrievers": [RETRIEVER]}
    body = lint(client, tenant.headers, document)
    assert body["valid"] is True, body
    assert ("MISSING_DESCRIPTION", "namespace") in codes(body)
    assert client.get("/v1/namespaces/future", headers=tenant.headers).status_code == 404


def test_bad_input_is_refused(client, tenant, other_tenant):
    headers = standalone(client, tenant, "shop")
    form = {"manifest_file": (None, yaml.safe_dump(manifest()))}
    response = client.post("/v1/manifest/lint?skip_rules=NOT_A_RULE", headers=headers, files=form)
    assert_error(response, 400, "invalid_skip_rules")
    assert_error(client.post("/v1/manifest/lint", headers=headers, files={
        **form, "parameters": (None, '{"camera_url": "rtsp://x"}')}), 400, "invalid_parameters")
    assert_error(client.post("/v1/manifest/lint", headers=headers, files={**form, "parameters": (None, "[1")}),
                 400, "invalid_parameters")
    assert lint(client, headers, manifest(), parameters="{}")["valid"] is True
    assert_error(client.post("/v1/manifest/lint", headers=headers, content=b"- just\n- a list\n"), 400,
                 "invalid_manifest")
    assert_error(client.post("/v1/manifest/lint", headers={**other_tenant.headers, "X-Namespace": "shop"},
                             files=form), 404)
    assert client.post("/v1/manifest/lint", files=form).status_code == 401
