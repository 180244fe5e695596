"""Manifest routes (seed 003; the SDK's manifest API): export, validate, diff, apply, for the X-Namespace namespace.

Bodies: the manifest itself as JSON or YAML (`-d @manifest.json`, as the seed shows), or the SDK's multipart form with
the manifest text in `manifest_file`. Thin: parse, call ManifestService.
"""

from __future__ import annotations

import json
from typing import Any, Optional

from fastapi import APIRouter, Depends, Header, Query, Request
from fastapi.responses import Response

from openpeek.api.auth import current_namespace, principal, services
from openpeek.api.models.manifests import shape_errors
from openpeek.domain.errors import BadRequest
from openpeek.domain.namespace import Namespace
from openpeek.services.manifests import ManifestInvalid, parse, render
from openpeek.services.organizations import Principal

router = APIRouter(prefix="/v1/manifest", tags=["Manifest"])
_FORMS = ("multipart/form-data", "application/x-www-form-urlencoded")


async def read_document(request: Request) -> tuple[dict[str, Any], Optional[str]]:
    """(the manifest as sent, parsed but not yet checked; the form's `parameters` field, when sent)."""
    parameters = None
    if request.headers.get("content-type", "").split(";")[0].strip() in _FORMS:
        form = await request.form()
        document = form.get("manifest_file")
        if document is None:
            raise BadRequest("the form needs a manifest_file field", code="invalid_manifest")
        data = await document.read() if hasattr(document, "read") else str(document).encode()
        sent = form.get("parameters")
        parameters = sent if isinstance(sent, str) else None
    else:
        data = await request.body()
    manifest = parse(data)
    # {"manifest": {...}} is accepted too, so a client may wrap it.
    if set(manifest) == {"manifest"} and isinstance(manifest["manifest"], dict):
        manifest = manifest["manifest"]
    return manifest, parameters


async def read_manifest(request: Request) -> dict[str, Any]:
    manifest, _ = await read_document(request)
    errors = shape_errors(manifest)
    if errors:
        raise ManifestInvalid(errors)
    return manifest


def _export(request: Request, namespace: Namespace, fmt: str) -> Response:
    if fmt not in ("json", "yaml"):
        raise BadRequest("format is json or yaml", code="invalid_format")
    body, media_type = render(services(request).manifests.export(namespace), fmt)
    return Response(body, media_type=media_type)


@router.get("/export")
def export_manifest(request: Request, format: str = Query("json"),
                    namespace: Namespace = Depends(current_namespace)) -> Response:
    return _export(request, namespace, format)


@router.post("/export")
def export_manifest_post(request: Request, format: str = Query("json"),
                         namespace: Namespace = Depends(current_namespace)) -> Response:
    return _export(request, namespace, format)


# The SDK sends no X-Namespace on these routes: without it, the manifest's namespace section names the namespace,
# and apply creates it when it does not exist yet.
NamespaceHeader = Header(default=None, alias="X-Namespace")


@router.post("/validate")
async def validate_manifest(request: Request, caller: Principal = Depends(principal),
                            x_namespace: Optional[str] = NamespaceHeader) -> dict:
    manifest = await read_manifest(request)
    manifests = services(request).manifests
    return manifests.validate(caller, manifests.target(caller, x_namespace, manifest), manifest)


@router.post("/diff")
async def diff_manifest(request: Request, prune: bool = Query(False), caller: Principal = Depends(principal),
                        x_namespace: Optional[str] = NamespaceHeader) -> dict:
    manifest = await read_manifest(request)
    manifests = services(request).manifests
    return manifests.diff(caller, manifests.target(caller, x_namespace, manifest), manifest, prune=prune)


@router.post("/apply")
async def apply_manifest(request: Request, mode: Optional[str] = Query(None), dry_run: bool = Query(False),
                         prune: bool = Query(False), caller: Principal = Depends(principal),
                         x_namespace: Optional[str] = NamespaceHeader) -> dict:
    manifest = await read_manifest(request)
    manifests = services(request).manifests
    return manifests.apply(caller, manifests.target(caller, x_namespace, manifest), manifest,
                           mode=mode or "upsert", dry_run=dry_run, prune=prune)


@router.post("/lint")
async def lint_manifest(request: Request, skip_rules: list[str] = Query(default=[], max_length=32),
                        caller: Principal = Depends(principal),
                        x_namespace: Optional[str] = NamespaceHeader) -> dict:
    """LintResponse: validate a manifest without applying it, plus best-practice findings (domain/manifest_lint.py).
    A manifest whose shape is wrong is answered with those errors (valid false), not refused. openpeek manifests
    declare no parameters, so values for them are refused rather than ignored."""
    manifest, parameters = await read_document(request)
    _no_parameters(parameters)
    return services(request).manifests.lint(caller, x_namespace, manifest, shape_errors(manifest),
                                            skip_rules=skip_rules)


def _no_parameters(parameters: Optional[str]) -> None:
    if parameters is None or not parameters.strip():
        return
    try:
        values = json.loads(parameters)
    except ValueError:
        raise BadRequest("parameters must be a JSON object", code="invalid_parameters") from None
    if not isinstance(values, dict):
        raise BadRequest("parameters must be a JSON object", code="invalid_parameters")
    if values:
        raise BadRequest(f"this deployment's manifests declare no parameters; got {', '.join(sorted(values))[:200]}",
                         code="invalid_parameters", details={"parameters": sorted(values)[:50]})


@router.post("/generate")
def generate_manifest(request: Request, description: str = Query(min_length=1, max_length=4000),
                      manifest_name: Optional[str] = Query(None, min_length=1, max_length=128),
                      caller: Principal = Depends(principal)) -> dict:
    """A manifest written by a language model from `description` and checked as /validate checks one, repaired by
    the model up to twice (services/manifest_generation.py); nothing is applied. 400 without an LLM key."""
    return services(request).manifest_generator.generate(caller, description.strip(), manifest_name,
                                                         shape=shape_errors)
