"""api_call: call an HTTP API per document and store its answer on the document.

Outbound calls go only to hosts the stage's `allowed_domains` names (checked when the retriever is created, and again
on every rendered URL), through the webhook SSRF rules (https only, and no private, loopback, link-local or metadata
address when deployed), to the checked address. Credentials come from the secret store by name (`auth.secret_ref`:
a secret of the namespace's own organisation — one set through /v1/organizations/secrets, else one its operator put
at openpeek/<env>/<org>/secrets/<name> deployed or OPENPEEK_SECRET_<NAME> embedded; never a Secrets Manager id as
given) and never appear in responses, warnings or errors."""

from __future__ import annotations

import fnmatch
import json
import re
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Literal, Optional
from urllib.parse import urlsplit

from pydantic import Field

from openpeek.domain import filters as filter_rules
from openpeek.domain import webhooks as target_rules
from openpeek.domain.errors import BadRequest
from openpeek.domain.stages import context as text
from openpeek.domain.stages.candidates import Candidate
from openpeek.domain.failures import DependencyUnavailable
from openpeek.services.stages import outcomes as outcomes_rules
from openpeek.services.stages.base import RunContext, Stage, StageParameters, invalid
from openpeek.services.stages.llm_filter import renderer
from openpeek.services.stages.rag_prepare import view_of

CONCURRENT_CALLS = 5
PATH_PART = re.compile(r"\.([A-Za-z_][A-Za-z0-9_]*)|\[(\d+)\]")


class AuthConfig(StageParameters):
    type: Literal["none", "api_key", "bearer", "basic", "custom_header"] = "none"
    secret_ref: Optional[str] = None
    location: Literal["header", "query"] = "header"
    key: Optional[str] = None


class RateLimit(StageParameters):
    requests_per_second: Optional[float] = None
    burst: Optional[int] = None


class ApiCallParameters(StageParameters):
    url: str = Field(min_length=1, max_length=2048)
    allowed_domains: list[str] = Field(min_length=1, max_length=32)
    method: Literal["GET", "POST", "PUT", "PATCH", "DELETE"] = "GET"
    auth: Optional[AuthConfig] = None
    headers: Optional[dict[str, str]] = None
    body: Optional[dict[str, Any]] = None
    output_field: str = Field(default="api_response", min_length=1)
    timeout: int = Field(default=10, ge=1, le=60)
    max_response_size: int = Field(default=10_485_760, ge=1024)
    rate_limit: Optional[RateLimit] = None
    response_path: Optional[str] = None
    when: Optional[dict[str, Any]] = None
    on_error: Literal["skip", "remove", "raise"] = "skip"


def check_allowed_domains(stage_name: str, stage_id: str, patterns: list[str]) -> None:
    """An outbound stage's allow-list names fixed hosts: no wildcard for everything, no template a caller's input could
    widen at run time."""
    if any(pattern.strip() in ("*", "*.*", "") for pattern in patterns):
        raise invalid(stage_name, stage_id, "allowed_domains", "must name hosts, not '*'")
    if any("{{" in pattern for pattern in patterns):
        raise invalid(stage_name, stage_id, "allowed_domains", "must be fixed host names, not templates")


def allowed_host(host: str, patterns: list[str]) -> bool:
    return any(fnmatch.fnmatchcase(host, pattern.lower()) for pattern in patterns)


def _extract(value: Any, path: str | None) -> Any:
    if not path or path == "$":
        return value
    for name, index in PATH_PART.findall(path[1:] if path.startswith("$") else "." + path):
        if name:
            value = value.get(name) if isinstance(value, dict) else None
        else:
            value = value[int(index)] if isinstance(value, list) and int(index) < len(value) else None
    return value


class ApiCall(Stage):
    stage_id = "api_call"
    category = "apply"
    icon = "globe"
    description = ("Calls an HTTP API for each document (url, headers and body may use {{DOC.x}} and {{INPUT.x}}) and "
                   "stores the JSON answer (or the part response_path selects) at output_field. Only hosts in "
                   "allowed_domains are called, through the webhook SSRF rules; credentials come from the secret store "
                   "by auth.secret_ref and are never shown. on_error: skip (keep the document), remove, or raise.")
    Parameters = ApiCallParameters
    cost_tier = "expensive"
    needs = "an outside HTTP API named in allowed_domains"

    def check_rules(self, stage_name: str, parameters: ApiCallParameters) -> None:
        check_allowed_domains(stage_name, self.stage_id, parameters.allowed_domains)
        if "{{" not in parameters.url.split("?")[0]:
            parts = urlsplit(parameters.url)
            if parts.scheme not in ("http", "https") or not parts.hostname:
                raise invalid(stage_name, self.stage_id, "url", "must be an absolute http(s) URL")
            if not allowed_host(parts.hostname.lower(), parameters.allowed_domains):
                raise invalid(stage_name, self.stage_id, "url", f"host '{parts.hostname}' is not in allowed_domains")
        auth = parameters.auth
        if auth and auth.type != "none" and not auth.secret_ref:
            raise invalid(stage_name, self.stage_id, "auth.secret_ref", f"auth type '{auth.type}' needs a secret_ref")
        if auth and auth.type in ("api_key", "custom_header") and not auth.key:
            raise invalid(stage_name, self.stage_id, "auth.key", f"auth type '{auth.type}' needs the header name")
        filter_rules.parse_filter(parameters.when)

    def run(self, context: RunContext, parameters: ApiCallParameters, candidates: list[Candidate]) -> list[Candidate]:
        condition = filter_rules.parse_filter(parameters.when)
        chosen = [i for i, c in enumerate(candidates)
                  if condition is None or filter_rules.matches(condition, c.payload, c.document_id)]
        secret = self._secret(context, parameters)
        calls = [self._prepare(context, parameters, candidates[i], secret) for i in chosen]
        with ThreadPoolExecutor(max_workers=max(1, min(CONCURRENT_CALLS, len(calls)))) as pool:
            outcomes = list(pool.map(lambda call: self._call(parameters, call, secret), calls))
        settled, failed = outcomes_rules.settle(context, "api_call", "calls", on_error=parameters.on_error,
                                                output_field=parameters.output_field, candidates=candidates,
                                                chosen=chosen, outcomes=outcomes)
        context.metadata.update({"calls": len(calls), "failed": failed})
        return settled

    def _secret(self, context: RunContext, parameters: ApiCallParameters) -> str | None:
        auth = parameters.auth
        if not auth or auth.type == "none":
            return None
        # A secret of the namespace's own organisation only (services/organization_secrets.py: TenantSecrets).
        reader = getattr(self.dependencies, "org_secrets", None)
        value = reader(context.namespace.org_id, auth.secret_ref) if reader else None
        if not value:
            raise invalid(context.stage_name, self.stage_id, "auth.secret_ref",
                          f"no secret named '{auth.secret_ref}' is stored", code="secret_not_found")
        return value

    def _prepare(self, context: RunContext, parameters: ApiCallParameters, candidate: Candidate,
                 secret: str | None) -> tuple[str, dict[str, str], Any]:
        lookup = renderer(context, view_of(candidate))
        url = text.render(parameters.url, lookup)
        headers = {name: text.render(value, lookup) for name, value in (parameters.headers or {}).items()}
        body = json.loads(text.render(json.dumps(parameters.body), lookup)) if parameters.body is not None else None
        auth = parameters.auth
        if auth and secret is not None:
            if auth.type == "bearer":
                headers["Authorization"] = f"Bearer {secret}"
            elif auth.type == "basic":
                import base64
                headers["Authorization"] = "Basic " + base64.b64encode(secret.encode()).decode()
            elif auth.location == "query" and auth.type == "api_key":
                url += ("&" if "?" in url else "?") + f"{auth.key}={secret}"
            else:
                headers[str(auth.key)] = secret
        return url, headers, body

    def _call(self, parameters: ApiCallParameters, call: tuple[str, dict[str, str], Any],
              secret: str | None) -> tuple[bool, Any]:
        url, headers, body = call
        try:
            host = (urlsplit(url).hostname or "").lower()
            if not allowed_host(host, parameters.allowed_domains):
                return False, f"host '{host}' is not in allowed_domains"
            checked = target_rules.check_url(url, deployed=self.dependencies.deployed,
                                             resolver=self.dependencies.resolver)
            status, content = self.dependencies.outbound.request(
                checked, parameters.method, headers, body if parameters.method != "GET" else None,
                timeout_s=parameters.timeout, max_bytes=parameters.max_response_size)
        except BadRequest as refused:
            return False, _scrub(refused.message, secret)
        except DependencyUnavailable as error:
            return False, _scrub(str(error), secret)
        if status >= 400:
            return False, f"{host} answered HTTP {status}"
        try:
            value: Any = json.loads(content)
        except ValueError:
            value = content.decode("utf-8", "replace")
        return True, _extract(value, parameters.response_path)


def _scrub(message: str, secret: str | None) -> str:
    return message.replace(secret, "[secret]") if secret else message


STAGE = ApiCall
