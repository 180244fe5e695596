"""The studio and the API reference through the API Lambda (API Gateway HTTP API event → mangum → the same app):
pages as text, binary files base64-encoded as API Gateway expects, and the OpenAPI document with its bearer scheme."""

from __future__ import annotations

import base64
import copy
import json

from openpeek.studio import STATIC_ROOT
from tests.aws.test_api_handler import EVENTS, aws_handler  # noqa: F401  (the moto-backed handler fixture)


def _get(handler, path: str) -> dict:
    event = copy.deepcopy(json.loads((EVENTS / "api_get_namespace.json").read_text()))
    event["rawPath"] = event["requestContext"]["http"]["path"] = path
    event["headers"].pop("authorization")
    event["headers"]["accept"] = "*/*"
    return handler.handler(event, None)


def test_studio_pages_and_assets_through_the_lambda(aws_handler):  # noqa: F811
    index = _get(aws_handler, "/studio/")
    assert index["statusCode"] == 200 and not index["isBase64Encoded"]
    assert '<script type="module" src="./app.js">' in index["body"]
    script = _get(aws_handler, "/studio/vendor/preact/preact.module.js")
    assert script["statusCode"] == 200 and script["headers"]["content-type"].startswith("text/javascript")
    icon = _get(aws_handler, "/studio/favicon.svg")
    assert icon["isBase64Encoded"] is True
    assert base64.b64decode(icon["body"]) == (STATIC_ROOT / "favicon.svg").read_bytes()
    docs = _get(aws_handler, "/docs")
    assert docs["statusCode"] == 200 and "/studio/vendor/swagger-ui/swagger-ui-bundle.js" in docs["body"]
    schema = json.loads(_get(aws_handler, "/openapi.json")["body"])
    assert schema["components"]["securitySchemes"]["bearerAuth"]["scheme"] == "bearer"
