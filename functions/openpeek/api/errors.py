"""The ErrorResponse envelope of the seeds, and the mapping of every failure onto it.

Request-validation failures keep FastAPI's 422 `{"detail": [...]}`; everything else is
`{"success": false, "status": N, "error": {"message", "type", "code", "details"}}`."""

from __future__ import annotations

import json
import logging
from typing import Any

import orjson
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from openpeek.domain.errors import DomainError
from openpeek.domain.failures import ConditionFailed, DependencyUnavailable, EmbeddingInputRejected

logger = logging.getLogger("openpeek.api")


class SafeJSONResponse(JSONResponse):
    """JSON encoded by orjson (a batch execution's answer is hundreds of documents: the standard library spent a tenth
    of the request encoding it). What orjson refuses — a lone surrogate a client sent (valid JSON text, not encodable
    UTF-8), an integer past 64 bits — is encoded by the standard library with non-ASCII escaped instead of a 500."""

    def render(self, content: Any) -> bytes:
        try:
            return orjson.dumps(content, option=orjson.OPT_NON_STR_KEYS)
        except (orjson.JSONEncodeError, TypeError):
            return json.dumps(content, ensure_ascii=True, allow_nan=False, separators=(",", ":")).encode("ascii")

_HTTP_TYPES = {
    400: "BadRequestError",
    401: "UnauthorizedError",
    403: "ForbiddenError",
    404: "NotFoundError",
    405: "MethodNotAllowedError",
    409: "ConflictError",
    413: "PayloadTooLargeError",
    415: "UnsupportedMediaTypeError",
    429: "TooManyRequestsError",
    500: "InternalServerError",
    502: "BadGatewayError",
    503: "ServiceUnavailableError",
}


def envelope(status: int, message: str, *, type_: str | None = None, code: str | None = None,
             details: dict[str, Any] | None = None, headers: dict[str, str] | None = None) -> JSONResponse:
    body = {
        "success": False,
        "status": status,
        "error": {
            "message": message,
            "type": type_ or _HTTP_TYPES.get(status, "Error"),
            "code": code,
            "details": details,
        },
    }
    return SafeJSONResponse(body, status_code=status, headers=headers)


MAX_VALIDATION_ERRORS = 50
MAX_ECHOED_CHARS = 256
MAX_ECHOED_DEPTH = 4


def _validation_detail(exc: RequestValidationError) -> list[dict[str, Any]]:
    """FastAPI's own shape, with inputs and contexts made JSON-safe (an input can be bytes or a NaN) and short: a
    422 never echoes megabytes, nor a structure deeper than a few levels, back to the client."""
    detail = []
    for error in exc.errors()[:MAX_VALIDATION_ERRORS]:
        item = {"type": error.get("type"), "loc": [_json_safe(part) for part in list(error.get("loc", ()))[:32]],
                "msg": _json_safe(error.get("msg"))}
        if "input" in error:
            item["input"] = _json_safe(error["input"])
        if error.get("ctx"):
            item["ctx"] = {key: _json_safe(value) for key, value in error["ctx"].items()}
        detail.append(item)
    return detail


def _json_safe(value: Any, depth: int = 0) -> Any:
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, int):
        return value if abs(value) < 2 ** 63 else str(value)[:MAX_ECHOED_CHARS]
    if isinstance(value, str):
        return value[:MAX_ECHOED_CHARS]
    if isinstance(value, float):
        return value if value == value and value not in (float("inf"), float("-inf")) else str(value)
    if isinstance(value, (list, tuple, dict)) and depth >= MAX_ECHOED_DEPTH:
        return "…"
    if isinstance(value, (list, tuple)):
        return [_json_safe(item, depth + 1) for item in value[:50]]
    if isinstance(value, dict):
        return {str(key)[:MAX_ECHOED_CHARS]: _json_safe(item, depth + 1) for key, item in list(value.items())[:50]}
    if isinstance(value, bytes):
        return value[:MAX_ECHOED_CHARS].decode("utf-8", errors="replace")
    return str(value)[:MAX_ECHOED_CHARS]


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(DomainError)
    async def domain_error(_: Request, exc: DomainError) -> JSONResponse:
        return envelope(exc.status, exc.message, type_=exc.type, code=exc.code, details=exc.details)

    @app.exception_handler(DependencyUnavailable)
    async def dependency_unavailable(_: Request, exc: DependencyUnavailable) -> JSONResponse:
        logger.warning("dependency unavailable: %s", exc)
        return envelope(503, f"A backing service is unavailable: {exc}", code="dependency_unavailable",
                        headers={"Retry-After": "1"})

    @app.exception_handler(EmbeddingInputRejected)
    async def embedding_input_rejected(_: Request, exc: EmbeddingInputRejected) -> JSONResponse:
        # The model refused the caller's own input (too long, unreadable): sending it again cannot help.
        return envelope(400, f"The embedding model refused this input: {exc}", code="embedding_input_rejected")

    @app.exception_handler(ConditionFailed)
    async def condition_failed(_: Request, exc: ConditionFailed) -> JSONResponse:
        return envelope(409, "The resource changed while this request was applied; try again",
                        code="concurrent_modification")

    @app.exception_handler(RequestValidationError)
    async def validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
        detail = _validation_detail(exc)
        content_type = request.headers.get("content-type", "")
        if "json" not in content_type.lower():
            # A JSON body sent without its Content-Type reaches validation as a string: say what is missing.
            for item in detail:
                if item.get("loc") == ["body"] and isinstance(item.get("input"), (str, bytes)):
                    item["msg"] = (f"{item['msg']}; the body was not read as JSON because the request's Content-Type "
                                   f"is {content_type or 'missing'}: send 'Content-Type: application/json'")
        return SafeJSONResponse({"detail": detail}, status_code=422)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        message = exc.detail if isinstance(exc.detail, str) else _HTTP_TYPES.get(exc.status_code, "Error")
        code = "route_not_found" if exc.status_code == 404 else None
        return envelope(exc.status_code, message, code=code, headers=getattr(exc, "headers", None))

    @app.exception_handler(RecursionError)
    async def nested_too_deep(_: Request, exc: RecursionError) -> JSONResponse:
        # The door (api/limits.py) refuses deep JSON; this catches what it cannot see (YAML block nesting, forms).
        return envelope(400, "The request nests too deeply to be read", code="request_too_deep")

    @app.exception_handler(Exception)
    async def unexpected(_: Request, exc: Exception) -> JSONResponse:
        logger.exception("unhandled error")
        return envelope(500, "Internal server error", code="internal_error")
