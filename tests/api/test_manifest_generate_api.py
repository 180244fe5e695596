"""POST /v1/manifest/generate: a manifest written by the deployment's language model from a description, checked as
/v1/manifest/validate checks one and repaired by the model when that finds errors; nothing applied. The model is a
loopback server speaking OpenAI's chat-completions protocol, answering by rules on the prompt it receives."""

from __future__ import annotations

import copy
import json
from http.server import BaseHTTPRequestHandler

import pytest
import yaml
from fastapi.testclient import TestClient

from openpeek.api.app import create_app
from openpeek.runtime import build_services
from openpeek.settings import Settings
from tests.api.test_manifests_api import RETRIEVER
from tests.api.test_namespaces_api import assert_error
from tests.conftest import make_tenant
from tests.loopback_http import answer_json, loopback_server

KEY = "sk-loopbackTESTkey0123456789"
GOOD = {"version": 1, "namespace": {"description": "legal rulings", "vector_configs": [
    {"name": "emb", "dimension": 3}]}, "retrievers": [RETRIEVER]}
BROKEN = copy.deepcopy(GOOD)
BROKEN["retrievers"][0]["stages"][0]["config"]["parameters"]["searches"][0]["feature_uri"] = "no_such_index"


class Model(BaseHTTPRequestHandler):
    prompts: list[str] = []
    fail = False
    stubborn = False  # never repairs its answer

    def log_message(self, *args) -> None:
        pass

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        assert self.path.endswith("/chat/completions") and self.headers["Authorization"] == f"Bearer {KEY}"
        prompt = body["messages"][0]["content"]
        Model.prompts.append(prompt)
        if Model.fail:
            answer_json(self, {"error": {"message": "the model is overloaded"}}, status=500)
            return
        repairing = "Validation found these errors" in prompt and not Model.stubborn
        answer = {"manifest": GOOD if repairing else BROKEN}
        answer_json(self, {"choices": [{"index": 0, "finish_reason": "stop", "message": {
            "role": "assistant", "content": json.dumps(answer), "refusal": None}}]})


@pytest.fixture(scope="module")
def model_url():
    with loopback_server(Model) as base:
        yield f"{base}/v1"


@pytest.fixture(autouse=True)
def fresh_model():
    Model.prompts, Model.fail, Model.stubborn = [], False, False


@pytest.fixture(scope="module")
def api(model_url, tmp_path_factory):
    services = build_services(Settings(runtime="embedded", data_dir=tmp_path_factory.mktemp("gen") / "data",
                                       openai_api_key=KEY, openai_base_url=model_url))
    yield TestClient(create_app(services), raise_server_exceptions=False), make_tenant(services, "acme")
    services.close()


def generate(client, headers, **query):
    return client.post("/v1/manifest/generate", headers=headers, params=query)


def test_the_models_manifest_is_validated_and_repaired_then_returned_unapplied(api):
    client, tenant = api
    response = generate(client, tenant.headers, description="search legal rulings by vector",
                        manifest_name="rulings")
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["format"] == "yaml" and body["manifest_name"] == "rulings" and body["repair_rounds"] == 1
    assert body["validation"] == {"valid": True, "errors": [], "warnings": []}
    manifest = yaml.safe_load(body["manifest"])
    assert manifest["namespace"]["namespace_name"] == "rulings" and manifest["retrievers"][0]["retriever_name"]
    first, repair = Model.prompts
    assert "search legal rulings by vector" in first and "feature_search" in first and "parameter_schema" in first
    assert "no_such_index" in repair and "Validation found these errors" in repair
    assert client.get("/v1/namespaces/rulings", headers=tenant.headers).status_code == 404  # nothing applied
    applied = client.post("/v1/manifest/apply", headers=tenant.headers, content=body["manifest"].encode())
    assert applied.status_code == 200, applied.text  # and what it wrote applies as it is


def test_errors_left_after_the_repair_rounds_are_listed(api):
    client, tenant = api
    Model.stubborn = True
    body = generate(client, tenant.headers, description="anything").json()
    assert body["repair_rounds"] == 2 and len(Model.prompts) == 3
    assert body["validation"]["valid"] is False and "no_such_index" in " ".join(body["validation"]["errors"])
    assert body["manifest_name"] == "generated"


def test_a_failing_model_is_a_503_and_bad_input_is_refused(api):
    client, tenant = api
    Model.fail = True
    assert_error(generate(client, tenant.headers, description="anything"), 503)
    Model.fail = False
    asked = len(Model.prompts)
    assert generate(client, tenant.headers).status_code == 422
    assert generate(client, tenant.headers, description="").status_code == 422
    assert generate(client, tenant.headers, description="x" * 4001).status_code == 422
    assert generate(client, {}, description="anything").status_code == 401
    assert len(Model.prompts) == asked  # refused before the model is asked


def test_without_a_model_key_generate_says_what_enables_it(client, tenant):
    response = generate(client, tenant.headers, description="anything")
    assert_error(response, 400, "llm_not_configured")
    assert "OPENPEEK_OPENAI_API_KEY" in response.json()["error"]["message"]
